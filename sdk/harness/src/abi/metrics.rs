//! `proxy_define_metric`, `proxy_record_metric`, `proxy_increment_metric` and `proxy_get_metric`.

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::memory::{check_writable, read_string, status_code, write_u32, write_u64, HostResult};
use crate::state::HostState;
use crate::types::{MetricType, Status};

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_define_metric",
        |mut caller: Caller<'_, HostState>, kind: i32, np: i32, nl: i32, ret: i32| {
            status_code(define(&mut caller, kind, np, nl, ret))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_record_metric",
        |caller: Caller<'_, HostState>, id: i32, value: i64| {
            let result = caller
                .data()
                .process
                .lock()
                .metrics
                .record(id as u32, value as u64);
            status_code(result.map_err(Into::into))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_increment_metric",
        |caller: Caller<'_, HostState>, id: i32, delta: i64| {
            let result = caller
                .data()
                .process
                .lock()
                .metrics
                .increment(id as u32, delta);
            status_code(result.map_err(Into::into))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_get_metric",
        |mut caller: Caller<'_, HostState>, id: i32, ret: i32| {
            status_code(get(&mut caller, id as u32, ret))
        },
    )?;
    Ok(())
}

fn define(
    caller: &mut Caller<'_, HostState>,
    kind: i32,
    name_ptr: i32,
    name_len: i32,
    ret: i32,
) -> HostResult {
    let kind = MetricType::from_code(kind as u32).ok_or(Status::BadArgument)?;
    let name = read_string(caller, name_ptr, name_len)?;
    check_writable(caller, ret, 4)?;
    let id = caller.data().process.lock().metrics.define(kind, &name);
    write_u32(caller, ret, id)?;
    Ok(())
}

fn get(caller: &mut Caller<'_, HostState>, id: u32, ret: i32) -> HostResult {
    let value = caller.data().process.lock().metrics.get(id)?;
    write_u64(caller, ret, value)?;
    Ok(())
}
