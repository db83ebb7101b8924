//! The proxy-wasm host functions the SDK calls, each wrapped once in a safe function.
//!
//! Statuses are read as plain integers (a code the SDK does not know is an error, never
//! undefined behaviour), and every non-OK status becomes a [`HostError`] for the caller to
//! handle: no host answer can panic the VM. Memory the host returns was allocated through the
//! module's `proxy_on_memory_allocate` (see `exports`), so it is adopted as a
//! `Vec<u8>` of that size.
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

use crate::host::HostError;

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

pub(crate) const MAP_HTTP_REQUEST_HEADERS: u32 = 0;
pub(crate) const MAP_HTTP_RESPONSE_HEADERS: u32 = 2;
pub(crate) const MAP_HTTP_CALL_RESPONSE_HEADERS: u32 = 6;
pub(crate) const STREAM_HTTP_REQUEST: u32 = 0;
pub(crate) const BUFFER_HTTP_REQUEST_BODY: u32 = 0;
pub(crate) const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
pub(crate) const METRIC_COUNTER: u32 = 0;
pub(crate) const METRIC_GAUGE: u32 = 1;

fn check(call: &'static str, status: u32) -> Result<(), HostError> {
    if status == OK {
        Ok(())
    } else {
        Err(HostError { call, status })
    }
}

/// Takes ownership of a host-allocated buffer.
///
/// # Safety
/// `data` must be null or point to `size` bytes the host allocated for this module through
/// `proxy_on_memory_allocate`, which allocates exactly `size` bytes with the global allocator.
unsafe fn adopt(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        None
    } else {
        // SAFETY: guaranteed by the caller, see above.
        Some(unsafe { Vec::from_raw_parts(data, size, size) })
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
}

pub(crate) fn log(level: u32, message: &str) -> Result<(), HostError> {
    // SAFETY: the pointer and length describe `message`, alive for the call.
    let status = unsafe { proxy_log(level, message.as_ptr(), message.len()) };
    check("proxy_log", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
}

pub(crate) fn get_log_level() -> Result<u32, HostError> {
    let mut level = 0u32;
    // SAFETY: the host writes one u32 into `level`.
    let status = unsafe { proxy_get_log_level(&mut level) };
    check("proxy_get_log_level", status).map(|()| level)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
}

pub(crate) fn get_current_time_nanos() -> Result<u64, HostError> {
    let mut nanos = 0u64;
    // SAFETY: the host writes one u64 into `nanos`.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    check("proxy_get_current_time_nanoseconds", status).map(|()| nanos)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
}

/// Reads a whole buffer; `None` when the host has none of that type.
pub(crate) fn get_buffer(buffer_type: u32, max_size: usize) -> Result<Option<Vec<u8>>, HostError> {
    let mut data = null_mut();
    let mut size = 0usize;
    // SAFETY: the host writes a pointer it allocated and its size into the two out-params.
    let status = unsafe { proxy_get_buffer_bytes(buffer_type, 0, max_size, &mut data, &mut size) };
    match status {
        // SAFETY: on OK the host allocated `size` bytes at `data` (or left it null).
        OK => Ok(unsafe { adopt(data, size) }),
        NOT_FOUND => Ok(None),
        status => Err(HostError {
            call: "proxy_get_buffer_bytes",
            status,
        }),
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
}

/// A whole header map in its serialised form.
pub(crate) fn get_header_map_pairs(map_type: u32) -> Result<Vec<u8>, HostError> {
    let mut data = null_mut();
    let mut size = 0usize;
    // SAFETY: the host writes a pointer it allocated and its size into the two out-params.
    let status = unsafe { proxy_get_header_map_pairs(map_type, &mut data, &mut size) };
    check("proxy_get_header_map_pairs", status)?;
    // SAFETY: on OK the host allocated `size` bytes at `data` (or left it null).
    Ok(unsafe { adopt(data, size) }.unwrap_or_default())
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
}

pub(crate) fn replace_header_map_value(
    map_type: u32,
    key: &str,
    value: &str,
) -> Result<(), HostError> {
    // SAFETY: both pointer/length pairs describe live borrowed strings.
    let status = unsafe {
        proxy_replace_header_map_value(
            map_type,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        )
    };
    check("proxy_replace_header_map_value", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
}

pub(crate) fn add_header_map_value(map_type: u32, key: &str, value: &str) -> Result<(), HostError> {
    // SAFETY: both pointer/length pairs describe live borrowed strings.
    let status = unsafe {
        proxy_add_header_map_value(
            map_type,
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        )
    };
    check("proxy_add_header_map_value", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
}

pub(crate) fn remove_header_map_value(map_type: u32, key: &str) -> Result<(), HostError> {
    // SAFETY: the pointer/length pair describes a live borrowed string.
    let status = unsafe { proxy_remove_header_map_value(map_type, key.as_ptr(), key.len()) };
    check("proxy_remove_header_map_value", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
}

/// A property value; `None` when the host has no such property.
pub(crate) fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
    // The ABI takes the path's segments joined by NUL bytes.
    let path = path.join("\0");
    let mut data = null_mut();
    let mut size = 0usize;
    // SAFETY: `path` is alive for the call; the host writes a pointer and size it allocated.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    match status {
        // SAFETY: on OK the host allocated `size` bytes at `data` (or left it null).
        OK => Ok(unsafe { adopt(data, size) }),
        NOT_FOUND => Ok(None),
        status => Err(HostError {
            call: "proxy_get_property",
            status,
        }),
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
}

pub(crate) fn set_property(path: &[&str], value: &[u8]) -> Result<(), HostError> {
    let path = path.join("\0");
    // SAFETY: both pointer/length pairs describe live borrowed buffers.
    let status =
        unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) };
    check("proxy_set_property", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_close_stream(stream_type: u32) -> u32;
}

pub(crate) fn close_stream(stream_type: u32) -> Result<(), HostError> {
    // SAFETY: no pointers are passed.
    let status = unsafe { proxy_close_stream(stream_type) };
    check("proxy_close_stream", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

pub(crate) fn send_local_response(
    status_code: u32,
    details: &str,
    body: &[u8],
    serialized_headers: &[u8],
) -> Result<(), HostError> {
    let body_ptr = if body.is_empty() {
        null()
    } else {
        body.as_ptr()
    };
    // SAFETY: every pointer/length pair describes a live borrowed buffer (or is null/0).
    let status = unsafe {
        proxy_send_local_response(
            status_code,
            details.as_ptr(),
            details.len(),
            body_ptr,
            body.len(),
            serialized_headers.as_ptr(),
            serialized_headers.len(),
            -1,
        )
    };
    check("proxy_send_local_response", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
}

pub(crate) fn define_metric(metric_type: u32, name: &str) -> Result<u32, HostError> {
    let mut id = 0u32;
    // SAFETY: `name` is alive for the call; the host writes one u32 into `id`.
    let status = unsafe { proxy_define_metric(metric_type, name.as_ptr(), name.len(), &mut id) };
    check("proxy_define_metric", status).map(|()| id)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_increment_metric(metric_id: u32, delta: i64) -> u32;
}

pub(crate) fn increment_metric(metric_id: u32, delta: i64) -> Result<(), HostError> {
    // SAFETY: plain integers only.
    let status = unsafe { proxy_increment_metric(metric_id, delta) };
    check("proxy_increment_metric", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
}

pub(crate) fn set_tick_period_milliseconds(period: u32) -> Result<(), HostError> {
    // SAFETY: plain integers only.
    let status = unsafe { proxy_set_tick_period_milliseconds(period) };
    check("proxy_set_tick_period_milliseconds", status)
}

#[link(wasm_import_module = "env")]
extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_milliseconds: u32,
        return_token: *mut u32,
    ) -> u32;
}

/// Sends an HTTP callout to the cluster `upstream`; returns its token. The answer arrives in
/// `proxy_on_http_call_response` of the context that sent it (the root context).
pub(crate) fn dispatch_http_call(
    upstream: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: std::time::Duration,
) -> Result<u32, HostError> {
    let headers = crate::wire::encode_map(headers);
    let trailers = crate::wire::encode_map::<&str, &str>(&[]);
    let timeout = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let mut token = 0u32;
    // SAFETY: every pointer and length describes a live local buffer; the host writes one u32
    // into `token`.
    let status = unsafe {
        proxy_http_call(
            upstream.as_ptr(),
            upstream.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout,
            &mut token,
        )
    };
    check("proxy_http_call", status).map(|()| token)
}
