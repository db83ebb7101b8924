//! The host functions of proxy-wasm ABI v0.2.1, one module per family, all linked under `env`.

use wasmtime::Linker;

use crate::state::HostState;

mod buffers;
mod context;
mod grpc;
mod http_call;
mod logging;
mod maps;
mod metrics;
mod properties;
mod shared;
mod streams;
mod time;

/// Adds every proxy-wasm host function to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    logging::add_to_linker(linker)?;
    time::add_to_linker(linker)?;
    buffers::add_to_linker(linker)?;
    maps::add_to_linker(linker)?;
    streams::add_to_linker(linker)?;
    http_call::add_to_linker(linker)?;
    grpc::add_to_linker(linker)?;
    shared::add_to_linker(linker)?;
    metrics::add_to_linker(linker)?;
    properties::add_to_linker(linker)?;
    context::add_to_linker(linker)?;
    Ok(())
}
