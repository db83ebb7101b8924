//! What the policy commands share: the output format flag, usage errors (exit code 2), and
//! getting the compiled filter ready with progress on stderr.

use std::path::Path;

use palisade_testkit::rego_filter::RegoFilter;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON document on stdout, for CI and scripts.
    Json,
}

/// The command was called wrongly (exit code 2, as for clap's own usage errors).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for a command's error: 2 for usage errors, 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        2
    } else {
        1
    }
}

/// The rego-authz module to decide with: `wasm` if given, else the one the command carries;
/// then compiled once for the harness. Progress goes to stderr.
pub fn ready_filter(wasm: Option<&Path>) -> anyhow::Result<RegoFilter> {
    let filter = match wasm {
        Some(path) => RegoFilter::from_file(path).map_err(|err| {
            anyhow::anyhow!(
                "{err}\n  (build it with `palisade build rego-authz`, or leave out --wasm)"
            )
        })?,
        None => crate::embedded::rego_filter(),
    };
    eprintln!(
        "==> compiling {} ({:.1} MB) for the harness (wasmtime)",
        filter.path().display(),
        filter.size() as f64 / 1e6
    );
    let took = filter.compile()?;
    eprintln!("    compiled in {:.1} s", took.as_secs_f64());
    Ok(filter)
}
