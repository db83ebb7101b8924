//! `proxy_continue_stream`, `proxy_close_stream`, `proxy_send_local_response` and `proxy_get_status`.

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::headers::HeaderMap;
use crate::local_reply;
use crate::memory::{
    check_writable, read_bytes, read_string, return_bytes, status_code, write_u32, HostResult,
};
use crate::state::{Deferred, HostState};
use crate::types::{Status, StreamType};

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_continue_stream",
        |mut caller: Caller<'_, HostState>, kind: i32| {
            status_code(continue_stream(caller.data_mut(), kind))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_close_stream",
        |mut caller: Caller<'_, HostState>, kind: i32| {
            status_code(close_stream(caller.data_mut(), kind))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_send_local_response",
        |mut caller: Caller<'_, HostState>,
         status: i32,
         details_ptr: i32,
         details_len: i32,
         body_ptr: i32,
         body_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         grpc_status: i32| {
            status_code(send_local_response(
                &mut caller,
                status,
                (details_ptr, details_len),
                (body_ptr, body_len),
                (headers_ptr, headers_len),
                grpc_status,
            ))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_get_status",
        |mut caller: Caller<'_, HostState>, code_ptr: i32, msg_ptr: i32, msg_size: i32| {
            status_code(get_status(&mut caller, code_ptr, msg_ptr, msg_size))
        },
    )?;
    Ok(())
}

fn stream_type(kind: i32) -> Result<StreamType, Status> {
    StreamType::from_code(kind as u32).ok_or(Status::BadArgument)
}

/// Resumes a paused direction: what the host buffered meanwhile goes on.
fn continue_stream(state: &mut HostState, kind: i32) -> HostResult {
    let kind = stream_type(kind)?;
    match kind {
        StreamType::HttpRequest | StreamType::HttpResponse => {
            let stream = state.effective_stream().ok_or(Status::NotFound)?;
            if kind == StreamType::HttpRequest && stream.request_stopped_all {
                // The headers go on; what was held reaches the plugin after this callback.
                stream.request_stopped_all = false;
                stream.request_paused = false;
                stream.request_headers_sent = true;
                stream.request_resumed += 1;
                let context_id = stream.context_id;
                state
                    .deferred
                    .push(Deferred::DeliverHeldRequest { context_id });
            } else if kind == StreamType::HttpRequest {
                stream.request_paused = false;
                stream.request_headers_sent = true;
                stream.request_resumed += 1;
                let buffered = std::mem::take(&mut stream.request_body_buffered);
                stream.request_body.extend_from_slice(&buffered);
            } else {
                stream.response_paused = false;
                stream.response_resumed += 1;
                let buffered = std::mem::take(&mut stream.response_body_buffered);
                stream.response_body.extend_from_slice(&buffered);
            }
        }
        StreamType::Downstream | StreamType::Upstream => {
            let conn = state.effective_connection().ok_or(Status::NotFound)?;
            if kind == StreamType::Downstream {
                conn.downstream_paused = false;
                let buffered = std::mem::take(&mut conn.downstream_buffered);
                conn.downstream_forwarded.extend_from_slice(&buffered);
            } else {
                conn.upstream_paused = false;
                let buffered = std::mem::take(&mut conn.upstream_buffered);
                conn.upstream_forwarded.extend_from_slice(&buffered);
            }
        }
    }
    Ok(())
}

fn close_stream(state: &mut HostState, kind: i32) -> HostResult {
    let kind = stream_type(kind)?;
    match kind {
        StreamType::HttpRequest | StreamType::HttpResponse => {
            let stream = state.effective_stream().ok_or(Status::NotFound)?;
            stream.reset = true;
        }
        StreamType::Downstream => {
            state
                .effective_connection()
                .ok_or(Status::NotFound)?
                .downstream_closed_by_plugin = true;
        }
        StreamType::Upstream => {
            state
                .effective_connection()
                .ok_or(Status::NotFound)?
                .upstream_closed_by_plugin = true;
        }
    }
    Ok(())
}

fn send_local_response(
    caller: &mut Caller<'_, HostState>,
    status: i32,
    details: (i32, i32),
    body: (i32, i32),
    headers: (i32, i32),
    grpc_status: i32,
) -> HostResult {
    let details = read_string(caller, details.0, details.1)?;
    let body = read_bytes(caller, body.0, body.1)?;
    let headers = read_bytes(caller, headers.0, headers.1)?;
    let headers = HeaderMap::deserialize(&headers).map_err(|_| Status::BadArgument)?;
    let state = caller.data_mut();
    let context_id = state.effective_context;
    let stream = state.effective_stream().ok_or(Status::NotFound)?;
    // Envoy sends one local reply per stream; later calls change nothing.
    if stream.local_reply.is_none() {
        stream.local_reply = Some(local_reply::shape(
            stream.request_kind,
            status as u32,
            details,
            body,
            headers,
            u32::try_from(grpc_status).ok().filter(|s| *s <= 16),
        ));
        stream.request_paused = false;
        stream.response_paused = false;
        // Before the response started, Envoy sends the reply through the encoder filters, the sending
        // plugin included (after the current callback returns); afterwards it goes out directly.
        if stream.response_headers.is_empty() {
            state
                .deferred
                .push(Deferred::EncodeLocalReply { context_id });
        }
    }
    Ok(())
}

/// Envoy always answers: outside an HTTP or gRPC response the status is 0 with an empty message.
fn get_status(
    caller: &mut Caller<'_, HostState>,
    code_ptr: i32,
    msg_ptr: i32,
    msg_size: i32,
) -> HostResult {
    let (code, message) = caller.data().scope.status.clone().unwrap_or_default();
    check_writable(caller, code_ptr, 4)?;
    return_bytes(caller, &message, msg_ptr, msg_size)?;
    write_u32(caller, code_ptr, code)?;
    Ok(())
}
