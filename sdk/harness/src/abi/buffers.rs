//! `proxy_get_buffer_bytes`, `proxy_set_buffer_bytes` and `proxy_get_buffer_status`.

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::memory::{check_writable, read_bytes, return_bytes, status_code, write_u32, HostResult};
use crate::state::HostState;
use crate::types::{BufferType, Status};

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Caller<'_, HostState>,
         kind: i32,
         start: i32,
         max: i32,
         ptr_ptr: i32,
         size_ptr: i32| {
            status_code(get_bytes(&mut caller, kind, start, max, ptr_ptr, size_ptr))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_set_buffer_bytes",
        |mut caller: Caller<'_, HostState>,
         kind: i32,
         start: i32,
         size: i32,
         ptr: i32,
         len: i32| { status_code(set_bytes(&mut caller, kind, start, size, ptr, len)) },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_get_buffer_status",
        |mut caller: Caller<'_, HostState>, kind: i32, size_ptr: i32, flags_ptr: i32| {
            status_code(get_status(&mut caller, kind, size_ptr, flags_ptr))
        },
    )?;
    Ok(())
}

fn buffer_type(kind: i32) -> Result<BufferType, Status> {
    BufferType::from_code(kind as u32).ok_or(Status::BadArgument)
}

/// The buffer's current content, or `NOT_FOUND` when it is not available in this context.
pub(crate) fn buffer(state: &HostState, kind: BufferType) -> Result<Vec<u8>, Status> {
    let ctx = state.effective_context;
    let stream = || state.streams.get(&ctx).ok_or(Status::NotFound);
    let connection = || state.connections.get(&ctx).ok_or(Status::NotFound);
    match kind {
        BufferType::HttpRequestBody => Ok(stream()?.request_body_buffered.clone()),
        BufferType::HttpResponseBody => Ok(stream()?.response_body_buffered.clone()),
        BufferType::DownstreamData => Ok(connection()?.downstream_buffered.clone()),
        BufferType::UpstreamData => Ok(connection()?.upstream_buffered.clone()),
        BufferType::HttpCallResponseBody => state
            .scope
            .http_response
            .as_ref()
            .map(|r| r.body.clone())
            .ok_or(Status::NotFound),
        BufferType::GrpcCallMessage => state.scope.grpc_message.clone().ok_or(Status::NotFound),
        BufferType::VmConfiguration => Ok(state.config.vm_configuration.clone()),
        BufferType::PluginConfiguration => state
            .plugin_of(ctx)
            .map(|p| p.configuration.clone())
            .ok_or(Status::NotFound),
        BufferType::ForeignFunctionArguments => state
            .scope
            .foreign_arguments
            .clone()
            .ok_or(Status::NotFound),
    }
}

fn buffer_mut(state: &mut HostState, kind: BufferType) -> Result<&mut Vec<u8>, Status> {
    let ctx = state.effective_context;
    match kind {
        BufferType::HttpRequestBody | BufferType::HttpResponseBody => {
            let stream = state.streams.get_mut(&ctx).ok_or(Status::NotFound)?;
            Ok(if kind == BufferType::HttpRequestBody {
                &mut stream.request_body_buffered
            } else {
                &mut stream.response_body_buffered
            })
        }
        BufferType::DownstreamData | BufferType::UpstreamData => {
            let conn = state.connections.get_mut(&ctx).ok_or(Status::NotFound)?;
            Ok(if kind == BufferType::DownstreamData {
                &mut conn.downstream_buffered
            } else {
                &mut conn.upstream_buffered
            })
        }
        // Envoy only lets a filter change the data it is processing.
        _ => Err(Status::BadArgument),
    }
}

fn get_bytes(
    caller: &mut Caller<'_, HostState>,
    kind: i32,
    start: i32,
    max: i32,
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult {
    let kind = buffer_type(kind)?;
    let data = buffer(caller.data(), kind)?;
    let start = start as u32 as usize;
    let max = max as u32 as usize;
    if start > data.len() {
        return Err(Status::BadArgument.into());
    }
    let end = start.saturating_add(max).min(data.len());
    let part = data.get(start..end).ok_or(Status::BadArgument)?;
    return_bytes(caller, part, ptr_ptr, size_ptr)
}

/// Envoy's `Buffer::copyFrom`: `start == 0` drains `size` bytes then prepends; `start >= len` appends; an
/// edit in the middle is refused with `BAD_ARGUMENT`.
pub(crate) fn splice(
    buffer: &mut Vec<u8>,
    start: usize,
    size: usize,
    value: &[u8],
) -> Result<(), Status> {
    if start == 0 {
        let drain = size.min(buffer.len());
        buffer.splice(..drain, value.iter().copied());
        Ok(())
    } else if start >= buffer.len() {
        buffer.extend_from_slice(value);
        Ok(())
    } else {
        Err(Status::BadArgument)
    }
}

fn set_bytes(
    caller: &mut Caller<'_, HostState>,
    kind: i32,
    start: i32,
    size: i32,
    ptr: i32,
    len: i32,
) -> HostResult {
    let kind = buffer_type(kind)?;
    let value = read_bytes(caller, ptr, len)?;
    let buffer = buffer_mut(caller.data_mut(), kind)?;
    splice(buffer, start as u32 as usize, size as u32 as usize, &value)?;
    Ok(())
}

fn get_status(
    caller: &mut Caller<'_, HostState>,
    kind: i32,
    size_ptr: i32,
    flags_ptr: i32,
) -> HostResult {
    let kind = buffer_type(kind)?;
    let len = buffer(caller.data(), kind)?.len();
    check_writable(caller, size_ptr, 4)?;
    check_writable(caller, flags_ptr, 4)?;
    write_u32(caller, size_ptr, len as u32)?;
    write_u32(caller, flags_ptr, 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_like_envoy() {
        let mut b = b"hello".to_vec();
        splice(&mut b, 0, 0, b">").unwrap();
        assert_eq!(b, b">hello");
        splice(&mut b, 0, 6, b"bye").unwrap();
        assert_eq!(b, b"bye");
        splice(&mut b, usize::MAX, 0, b"!").unwrap();
        assert_eq!(b, b"bye!");
        splice(&mut b, 4, 0, b"?").unwrap();
        assert_eq!(b, b"bye!?");
        assert_eq!(splice(&mut b, 2, 1, b"x"), Err(Status::BadArgument));
        splice(&mut b, 0, 100, b"").unwrap();
        assert!(b.is_empty());
    }
}
