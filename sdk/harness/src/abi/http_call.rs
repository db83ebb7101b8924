//! `proxy_http_call`: records the callout; the test answers it (or lets it fail or time out).

use std::time::Duration;

use wasmtime::{Caller, Linker};

use crate::callout::{CalloutState, HttpCallout};
use crate::gate::host_fn;
use crate::headers::HeaderMap;
use crate::memory::{check_writable, read_bytes, read_string, status_code, write_u32, HostResult};
use crate::state::HostState;
use crate::types::Status;

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_http_call",
        |mut caller: Caller<'_, HostState>,
         up_ptr: i32,
         up_len: i32,
         h_ptr: i32,
         h_len: i32,
         b_ptr: i32,
         b_len: i32,
         t_ptr: i32,
         t_len: i32,
         timeout: i32,
         ret: i32| {
            status_code(http_call(
                &mut caller,
                [
                    (up_ptr, up_len),
                    (h_ptr, h_len),
                    (b_ptr, b_len),
                    (t_ptr, t_len),
                ],
                timeout,
                ret,
            ))
        },
    )?;
    Ok(())
}

fn http_call(
    caller: &mut Caller<'_, HostState>,
    [upstream, headers, body, trailers]: [(i32, i32); 4],
    timeout: i32,
    ret: i32,
) -> HostResult {
    let upstream = read_string(caller, upstream.0, upstream.1)?;
    let headers = read_bytes(caller, headers.0, headers.1)?;
    let body = read_bytes(caller, body.0, body.1)?;
    let trailers = read_bytes(caller, trailers.0, trailers.1)?;
    check_writable(caller, ret, 4)?;
    let headers = HeaderMap::deserialize(&headers).map_err(|_| Status::BadArgument)?;
    let trailers = HeaderMap::deserialize(&trailers).map_err(|_| Status::BadArgument)?;
    let state = caller.data_mut();
    if !state.config.knows_upstream(&upstream) {
        return Err(Status::BadArgument.into());
    }
    if state.config.unhealthy_upstreams.contains(&upstream) {
        return Err(Status::InternalFailure.into());
    }
    if [":method", ":path", ":authority"]
        .iter()
        .any(|name| headers.get(name).is_none())
    {
        return Err(Status::BadArgument.into());
    }
    let token = state.next_token();
    let callout = HttpCallout {
        token,
        context_id: state.effective_context,
        root_context_id: state
            .root_of(state.effective_context)
            .unwrap_or(state.effective_context),
        upstream,
        headers,
        body,
        trailers,
        timeout: Duration::from_millis(u64::from(timeout as u32)),
        dispatched_at: state.clock.elapsed(),
        state: CalloutState::Pending,
    };
    state.http_callouts.insert(token, callout);
    write_u32(caller, ret, token)?;
    Ok(())
}
