//! The header-map host functions: size, pairs (get/set serialized), value get/add/replace/remove.

use wasmtime::{Caller, Linker};

use crate::gate::host_fn;
use crate::headers::HeaderMap;
use crate::memory::{read_bytes, read_string, return_bytes, status_code, write_u32, HostResult};
use crate::state::HostState;
use crate::types::{MapType, Status};

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host_fn(
        linker,
        "env",
        "proxy_get_header_map_size",
        |mut caller: Caller<'_, HostState>, kind: i32, ret: i32| {
            status_code(get_size(&mut caller, kind, ret))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Caller<'_, HostState>, kind: i32, ptr_ptr: i32, size_ptr: i32| {
            status_code(get_pairs(&mut caller, kind, ptr_ptr, size_ptr))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_set_header_map_pairs",
        |mut caller: Caller<'_, HostState>, kind: i32, ptr: i32, len: i32| {
            status_code(set_pairs(&mut caller, kind, ptr, len))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_get_header_map_value",
        |mut caller: Caller<'_, HostState>,
         kind: i32,
         key_ptr: i32,
         key_len: i32,
         ptr_ptr: i32,
         size_ptr: i32| {
            status_code(get_value(
                &mut caller,
                kind,
                key_ptr,
                key_len,
                ptr_ptr,
                size_ptr,
            ))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_add_header_map_value",
        |mut caller: Caller<'_, HostState>, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            status_code(edit(&mut caller, kind, kp, kl, Some((vp, vl)), Edit::Add))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_replace_header_map_value",
        |mut caller: Caller<'_, HostState>, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            status_code(edit(
                &mut caller,
                kind,
                kp,
                kl,
                Some((vp, vl)),
                Edit::Replace,
            ))
        },
    )?;
    host_fn(
        linker,
        "env",
        "proxy_remove_header_map_value",
        |mut caller: Caller<'_, HostState>, kind: i32, kp: i32, kl: i32| {
            status_code(edit(&mut caller, kind, kp, kl, None, Edit::Remove))
        },
    )?;
    Ok(())
}

fn map_type(kind: i32) -> Result<MapType, Status> {
    MapType::from_code(kind as u32).ok_or(Status::BadArgument)
}

/// True for the request headers once they went on: Envoy keeps no handle on them for the plugin (reading
/// the pairs gives an empty map, any other call `BAD_ARGUMENT`), until `proxy_on_log`, which gets
/// them again (with what the router added).
fn request_headers_gone(state: &HostState, kind: MapType) -> bool {
    kind == MapType::HttpRequestHeaders
        && state
            .streams
            .get(&state.effective_context)
            .is_some_and(|s| s.request_headers_sent && !s.access_log_phase)
}

/// The map, or `BAD_ARGUMENT` when it is not available in this context (as Envoy answers).
fn map(state: &HostState, kind: MapType) -> Result<&HeaderMap, Status> {
    let ctx = state.effective_context;
    let stream = || state.streams.get(&ctx).ok_or(Status::BadArgument);
    if request_headers_gone(state, kind) {
        return Err(Status::BadArgument);
    }
    match kind {
        MapType::HttpRequestHeaders => Ok(&stream()?.request_headers),
        MapType::HttpRequestTrailers => Ok(&stream()?.request_trailers),
        MapType::HttpResponseHeaders => Ok(&stream()?.response_headers),
        MapType::HttpResponseTrailers => Ok(&stream()?.response_trailers),
        MapType::GrpcCallInitialMetadata => state
            .scope
            .grpc_initial_metadata
            .as_ref()
            .ok_or(Status::BadArgument),
        MapType::GrpcCallTrailingMetadata => state
            .scope
            .grpc_trailing_metadata
            .as_ref()
            .ok_or(Status::BadArgument),
        MapType::HttpCallResponseHeaders => state
            .scope
            .http_response
            .as_ref()
            .map(|r| &r.headers)
            .ok_or(Status::BadArgument),
        // Envoy has no trailers map for a response that came without trailers (an HTTP/1 response,
        // a failed callout): reading it is `BAD_ARGUMENT`, not an empty map.
        MapType::HttpCallResponseTrailers => state
            .scope
            .http_response
            .as_ref()
            .map(|r| &r.trailers)
            .filter(|t| !t.is_empty())
            .ok_or(Status::BadArgument),
    }
}

fn map_mut(state: &mut HostState, kind: MapType) -> Result<&mut HeaderMap, Status> {
    if request_headers_gone(state, kind) {
        return Err(Status::BadArgument);
    }
    let ctx = state.effective_context;
    let stream = state.streams.get_mut(&ctx).ok_or(Status::BadArgument)?;
    match kind {
        MapType::HttpRequestHeaders => Ok(&mut stream.request_headers),
        MapType::HttpRequestTrailers => Ok(&mut stream.request_trailers),
        MapType::HttpResponseHeaders => Ok(&mut stream.response_headers),
        MapType::HttpResponseTrailers => Ok(&mut stream.response_trailers),
        // Responses to callouts and gRPC metadata are read-only.
        _ => Err(Status::BadArgument),
    }
}

fn get_size(caller: &mut Caller<'_, HostState>, kind: i32, ret: i32) -> HostResult {
    let kind = map_type(kind)?;
    let size = map(caller.data(), kind)?.serialize().len();
    write_u32(caller, ret, size as u32)?;
    Ok(())
}

fn get_pairs(
    caller: &mut Caller<'_, HostState>,
    kind: i32,
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult {
    let kind = map_type(kind)?;
    if request_headers_gone(caller.data(), kind) {
        return return_bytes(caller, &[], ptr_ptr, size_ptr);
    }
    let bytes = map(caller.data(), kind)?.serialize();
    return_bytes(caller, &bytes, ptr_ptr, size_ptr)
}

fn set_pairs(caller: &mut Caller<'_, HostState>, kind: i32, ptr: i32, len: i32) -> HostResult {
    let kind = map_type(kind)?;
    let bytes = read_bytes(caller, ptr, len)?;
    let new = HeaderMap::deserialize(&bytes).map_err(|_| Status::BadArgument)?;
    *map_mut(caller.data_mut(), kind)? = new;
    Ok(())
}

fn get_value(
    caller: &mut Caller<'_, HostState>,
    kind: i32,
    key_ptr: i32,
    key_len: i32,
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult {
    let kind = map_type(kind)?;
    let key = read_string(caller, key_ptr, key_len)?;
    if request_headers_gone(caller.data(), kind) {
        return Err(Status::BadArgument.into());
    }
    let value = map(caller.data(), kind)
        .map_err(|_| Status::NotFound)?
        .get(&key)
        .ok_or(Status::NotFound)?
        .to_string();
    return_bytes(caller, value.as_bytes(), ptr_ptr, size_ptr)
}

enum Edit {
    Add,
    Replace,
    Remove,
}

fn edit(
    caller: &mut Caller<'_, HostState>,
    kind: i32,
    key_ptr: i32,
    key_len: i32,
    value: Option<(i32, i32)>,
    edit: Edit,
) -> HostResult {
    let kind = map_type(kind)?;
    let key = read_string(caller, key_ptr, key_len)?;
    let value = match value {
        Some((ptr, len)) => read_string(caller, ptr, len)?,
        None => String::new(),
    };
    let map = map_mut(caller.data_mut(), kind)?;
    match edit {
        Edit::Add => map.add(&key, &value),
        Edit::Replace => map.replace(&key, &value),
        Edit::Remove => map.remove(&key),
    }
    Ok(())
}
