//! The part of Envoy 1.40's dynamic-module ABI (`v0.2.0`) the native backend uses: the types and
//! the callbacks Envoy exports (`envoy_dynamic_module_callback_*`). Nothing checks these
//! signatures at load time; `tests/envoy/native.rs` checks that every callback the module imports
//! is one the pinned Envoy binary exports, and the behaviour tests run each one against it.
#![allow(unsafe_code)] // the ABI is C: raw pointers and foreign functions

use std::ffi::c_void;

/// The ABI version the module was built for (`envoy_dynamic_module_on_program_init`).
pub(crate) const ABI_VERSION: &std::ffi::CStr = c"v0.2.0";

/// A buffer Envoy owns, valid for the duration of the hook or callback that handed it over.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EnvoyBuffer {
    pub(crate) ptr: *const u8,
    pub(crate) length: usize,
}

impl EnvoyBuffer {
    pub(crate) const EMPTY: Self = Self {
        ptr: std::ptr::null(),
        length: 0,
    };

    /// The bytes; empty for a null pointer.
    ///
    /// # Safety
    /// `ptr` must point to `length` readable bytes for the lifetime the caller picks.
    pub(crate) unsafe fn bytes<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.length == 0 {
            return &[];
        }
        // SAFETY: the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr, self.length) }
    }
}

/// A buffer the module owns; Envoy copies what it keeps.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ModuleBuffer {
    pub(crate) ptr: *const u8,
    pub(crate) length: usize,
}

impl ModuleBuffer {
    pub(crate) fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            length: bytes.len(),
        }
    }

    /// No buffer at all (`set_header` with it removes the header).
    pub(crate) const NULL: Self = Self {
        ptr: std::ptr::null(),
        length: 0,
    };
}

/// A header pair: Envoy's (`envoy_http_header`, from `get_headers`) or the module's
/// (`module_http_header`, to `send_response`); both have this layout.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Header {
    pub(crate) key_ptr: *const u8,
    pub(crate) key_length: usize,
    pub(crate) value_ptr: *const u8,
    pub(crate) value_length: usize,
}

/// `envoy_dynamic_module_type_http_header_type`.
pub(crate) const REQUEST_HEADERS: i32 = 0;
pub(crate) const RESPONSE_HEADERS: i32 = 2;

/// `envoy_dynamic_module_type_http_body_type`: the chunk this `request_body` hook got, and what
/// Envoy buffered before it.
pub(crate) const RECEIVED_REQUEST_BODY: i32 = 0;
pub(crate) const BUFFERED_REQUEST_BODY: i32 = 1;

/// `envoy_dynamic_module_type_http_callout_init_result_Success`.
pub(crate) const CALLOUT_STARTED: i32 = 0;

/// `envoy_dynamic_module_type_metrics_result_Success`.
pub(crate) const METRICS_SUCCESS: i32 = 0;

/// `envoy_dynamic_module_type_attribute_id`: `request.protocol`, `source.address`,
/// `destination.address`, and the URI SANs of our own and of the peer's certificate.
pub(crate) const ATTRIBUTE_REQUEST_PROTOCOL: i32 = 10;
pub(crate) const ATTRIBUTE_SOURCE_ADDRESS: i32 = 24;
pub(crate) const ATTRIBUTE_DESTINATION_ADDRESS: i32 = 26;
pub(crate) const ATTRIBUTE_URI_SAN_LOCAL_CERTIFICATE: i32 = 36;
pub(crate) const ATTRIBUTE_URI_SAN_PEER_CERTIFICATE: i32 = 37;

/// `envoy_dynamic_module_type_on_http_filter_request_headers_status` and the others: Envoy's
/// `Filter*Status` numbering.
pub(crate) const CONTINUE: i32 = 0;
pub(crate) const STOP_ITERATION: i32 = 1;
/// The body hooks' `StopIterationAndBuffer`: hold the request and buffer what arrives.
pub(crate) const STOP_ITERATION_AND_BUFFER: i32 = 1;

extern "C" {
    pub(crate) fn envoy_dynamic_module_callback_http_get_headers_size(
        filter: *mut c_void,
        header_type: i32,
    ) -> usize;
    pub(crate) fn envoy_dynamic_module_callback_http_get_headers(
        filter: *mut c_void,
        header_type: i32,
        out: *mut Header,
    ) -> bool;
    pub(crate) fn envoy_dynamic_module_callback_http_set_header(
        filter: *mut c_void,
        header_type: i32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    pub(crate) fn envoy_dynamic_module_callback_http_add_header(
        filter: *mut c_void,
        header_type: i32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    pub(crate) fn envoy_dynamic_module_callback_http_send_response(
        filter: *mut c_void,
        status: u32,
        headers: *const Header,
        headers_length: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );
    pub(crate) fn envoy_dynamic_module_callback_http_get_body_size(
        filter: *mut c_void,
        body_type: i32,
    ) -> usize;
    pub(crate) fn envoy_dynamic_module_callback_http_get_body_chunks_size(
        filter: *mut c_void,
        body_type: i32,
    ) -> usize;
    pub(crate) fn envoy_dynamic_module_callback_http_get_body_chunks(
        filter: *mut c_void,
        body_type: i32,
        out: *mut EnvoyBuffer,
    ) -> bool;
    pub(crate) fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
        filter: *mut c_void,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: *mut c_void,
        attribute: i32,
        result: *mut EnvoyBuffer,
    ) -> bool;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: *mut c_void,
        name: ModuleBuffer,
        label_names: *const ModuleBuffer,
        label_names_length: usize,
        id: *mut usize,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_define_gauge(
        config: *mut c_void,
        name: ModuleBuffer,
        label_names: *const ModuleBuffer,
        label_names_length: usize,
        id: *mut usize,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: *mut c_void,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_increment_gauge(
        filter: *mut c_void,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_decrement_gauge(
        filter: *mut c_void,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_increment_counter(
        config: *mut c_void,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_increment_gauge(
        config: *mut c_void,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
        config: *mut c_void,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> i32;
    /// Returns `envoy_dynamic_module_type_http_callout_init_result` ([`CALLOUT_STARTED`] when
    /// sent); the answer comes to `on_http_filter_config_http_callout_done` with `callout_id`.
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config: *mut c_void,
        callout_id: *mut u64,
        cluster: ModuleBuffer,
        headers: *const Header,
        headers_length: usize,
        body: ModuleBuffer,
        timeout_ms: u64,
    ) -> i32;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: *mut c_void,
    ) -> *mut c_void;
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: *mut c_void,
        event_id: u64,
    );
    pub(crate) fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(
        scheduler: *mut c_void,
    );
}
