//! `proxy_log` and `proxy_get_log_level`.

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::memory::{read_string, status_code, write_u32, HostResult};
use crate::state::HostState;
use crate::types::{LogLevel, Status};

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_log",
        |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| {
            status_code(log(&mut caller, level, ptr, len))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_get_log_level",
        |mut caller: Caller<'_, HostState>, ret: i32| {
            let level = caller.data().config.log_level.code();
            status_code(write_u32(&mut caller, ret, level).map_err(Into::into))
        },
    )?;
    Ok(())
}

fn log(caller: &mut Caller<'_, HostState>, level: i32, ptr: i32, len: i32) -> HostResult {
    let level = LogLevel::from_code(level as u32).ok_or(Status::BadArgument)?;
    let message = read_string(caller, ptr, len)?;
    caller.data_mut().log(level, message);
    Ok(())
}
