//! Context and integration functions: `proxy_done`, `proxy_set_effective_context`,
//! `proxy_call_foreign_function`.

use wasmtime::{Caller, Linker};

use crate::envoy_functions;
use crate::gate::host_fn;
use crate::memory::{read_bytes, read_string, return_bytes, status_code, HostResult};
use crate::state::{Deferred, HostState};
use crate::types::Status;

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_done",
        |mut caller: Caller<'_, HostState>| status_code(done(caller.data_mut())),
    )?;
    host_fn(
        linker,
        "env",
        "proxy_set_effective_context",
        |mut caller: Caller<'_, HostState>, context_id: i32| {
            let state = caller.data_mut();
            let context_id = context_id as u32;
            if state.contexts.contains_key(&context_id) {
                state.effective_context = context_id;
                status_code(Ok(()))
            } else {
                status_code(Err(Status::BadArgument.into()))
            }
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_call_foreign_function",
        |mut caller: Caller<'_, HostState>,
         np: i32,
         nl: i32,
         ap: i32,
         al: i32,
         ptr_ptr: i32,
         size_ptr: i32| {
            status_code(call_foreign(
                &mut caller,
                (np, nl),
                (ap, al),
                ptr_ptr,
                size_ptr,
            ))
        },
    )?;
    Ok(())
}

/// The effective context finishes now if it was waiting for `proxy_done` (`proxy_on_done` returned false).
fn done(state: &mut HostState) -> HostResult {
    let ctx = state.effective_context;
    let pending = state.streams.get(&ctx).is_some_and(|s| s.done_pending)
        || state.connections.get(&ctx).is_some_and(|c| c.done_pending);
    if !pending {
        return Err(Status::NotFound.into());
    }
    state.deferred.push(Deferred::Done { context_id: ctx });
    Ok(())
}

fn call_foreign(
    caller: &mut Caller<'_, HostState>,
    name: (i32, i32),
    arguments: (i32, i32),
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult {
    let name = read_string(caller, name.0, name.1)?;
    let arguments = read_bytes(caller, arguments.0, arguments.1)?;
    let registered = caller.data().config.foreign_functions.get(&name).cloned();
    let result = match registered {
        Some(function) => function(&arguments)?,
        None => envoy_functions::call(caller.data_mut(), &name, &arguments)
            .ok_or(Status::NotFound)??,
    };
    return_bytes(caller, &result, ptr_ptr, size_ptr)
}
