//! gRPC host functions: `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`, `proxy_grpc_cancel`,
//! `proxy_grpc_close`.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use crate::callout::{CalloutState, GrpcCall, GrpcKind};
use crate::gate::host_fn;
use crate::headers::HeaderMap;
use crate::memory::{check_writable, read_bytes, read_string, status_code, write_u32, HostResult};
use crate::state::HostState;
use crate::types::Status;

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_grpc_call",
        |mut caller: Caller<'_, HostState>,
         up_ptr: i32,
         up_len: i32,
         svc_ptr: i32,
         svc_len: i32,
         m_ptr: i32,
         m_len: i32,
         md_ptr: i32,
         md_len: i32,
         msg_ptr: i32,
         msg_len: i32,
         timeout: i32,
         ret: i32| {
            let target = [
                (up_ptr, up_len),
                (svc_ptr, svc_len),
                (m_ptr, m_len),
                (md_ptr, md_len),
            ];
            status_code(open(
                &mut caller,
                target,
                Some((msg_ptr, msg_len, timeout)),
                ret,
            ))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_grpc_stream",
        |mut caller: Caller<'_, HostState>,
         up_ptr: i32,
         up_len: i32,
         svc_ptr: i32,
         svc_len: i32,
         m_ptr: i32,
         m_len: i32,
         md_ptr: i32,
         md_len: i32,
         ret: i32| {
            let target = [
                (up_ptr, up_len),
                (svc_ptr, svc_len),
                (m_ptr, m_len),
                (md_ptr, md_len),
            ];
            status_code(open(&mut caller, target, None, ret))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_grpc_send",
        |mut caller: Caller<'_, HostState>, token: i32, ptr: i32, len: i32, end: i32| {
            status_code(send(&mut caller, token as u32, ptr, len, end != 0))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_grpc_cancel",
        |mut caller: Caller<'_, HostState>, token: i32| {
            status_code(finish(caller.data_mut(), token as u32, true))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_grpc_close",
        |mut caller: Caller<'_, HostState>, token: i32| {
            status_code(finish(caller.data_mut(), token as u32, false))
        },
    )?;
    Ok(())
}

fn open(
    caller: &mut Caller<'_, HostState>,
    [upstream, service, method, metadata]: [(i32, i32); 4],
    call: Option<(i32, i32, i32)>,
    ret: i32,
) -> HostResult {
    let upstream = read_string(caller, upstream.0, upstream.1)?;
    let service = read_string(caller, service.0, service.1)?;
    let method = read_string(caller, method.0, method.1)?;
    let metadata = read_bytes(caller, metadata.0, metadata.1)?;
    let message = match call {
        Some((ptr, len, _)) => Some(read_bytes(caller, ptr, len)?),
        None => None,
    };
    check_writable(caller, ret, 4)?;
    let initial_metadata = HeaderMap::deserialize(&metadata).map_err(|_| Status::BadArgument)?;
    let state = caller.data_mut();
    if !state.config.knows_upstream(&upstream) {
        return Err(Status::ParseFailure.into());
    }
    let token = state.next_token();
    let (kind, messages, timeout) = match (message, call) {
        (Some(message), Some((_, _, timeout))) => (
            GrpcKind::Call,
            vec![message],
            Duration::from_millis(u64::from(timeout as u32)),
        ),
        _ => (GrpcKind::Stream, Vec::new(), Duration::ZERO),
    };
    let record = GrpcCall {
        token,
        kind,
        context_id: state.effective_context,
        root_context_id: state
            .root_of(state.effective_context)
            .unwrap_or(state.effective_context),
        upstream,
        service,
        method,
        initial_metadata,
        messages,
        local_closed: kind == GrpcKind::Call,
        timeout,
        dispatched_at: state.clock.elapsed(),
        state: CalloutState::Pending,
    };
    state.grpc_calls.insert(token, record);
    write_u32(caller, ret, token)?;
    Ok(())
}

fn send(
    caller: &mut Caller<'_, HostState>,
    token: u32,
    ptr: i32,
    len: i32,
    end: bool,
) -> HostResult {
    let message = read_bytes(caller, ptr, len)?;
    let call = caller
        .data_mut()
        .grpc_calls
        .get_mut(&token)
        .ok_or(Status::NotFound)?;
    if call.kind != GrpcKind::Stream || call.state != CalloutState::Pending || call.local_closed {
        return Err(Status::BadArgument.into());
    }
    call.messages.push(message);
    call.local_closed = end;
    Ok(())
}

/// `cancel`: no more callbacks for it. `close`: a call is cancelled, a stream is half-closed.
fn finish(state: &mut HostState, token: u32, cancel: bool) -> HostResult {
    let call = state.grpc_calls.get_mut(&token).ok_or(Status::NotFound)?;
    if call.state != CalloutState::Pending {
        return Err(Status::NotFound.into());
    }
    if cancel || call.kind == GrpcKind::Call {
        call.state = CalloutState::Cancelled;
    }
    call.local_closed = true;
    Ok(())
}
