//! Palisade: write Envoy/Istio policy filters in a few lines of Rust.
//!
//! A policy implements [`Policy`]: it is built once per VM from a typed plugin configuration
//! and then decides each request from a read-only [`Request`] view, returning a [`Decision`]
//! (allow, allow with header changes, or deny with a local reply). [`export_policy!`] turns it
//! into a proxy-wasm module for `wasm32-wasip1` that Envoy and Istio load; [`Policy`] has a
//! complete example.
//!
//! Every filter can report its decisions as CloudEvents to a sink (Knative Eventing, a broker,
//! any HTTP receiver): add an `events` section to its plugin configuration (see
//! [`events::EventsConfig`]); the events are queued without slowing the request and delivered
//! in batches from the root context.
//!
//! With the `testing` feature, [`testing`] runs a policy natively in `cargo test`, through the
//! same request path the proxy-wasm module takes.
//!
//! Layers (all private): `proxy` is the only module that touches the proxy-wasm ABI (and exists
//! only on wasm32); everything else runs on two small host traits, so it is unit-tested
//! natively.

// The proxy layer exists on wasm32 only: on the host, what only it calls looks unused. The
// wasm32 build (clippy for wasm32-wasip1 in scripts/test) is where dead code is caught.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod config;
mod decision;
pub mod events;
mod filter;
mod host;
mod ids;
mod metrics;
mod policy;
mod proto_struct;
mod request;
mod settings;
mod time;
mod wire;

#[cfg(target_arch = "wasm32")]
mod proxy;

#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
mod native;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::ConfigError;
pub use decision::{Allow, Decision, Deny, Report};
pub use policy::{FailureMode, Policy, PolicyError};
pub use request::{Request, RequestBody, SocketAddress};

/// Not part of the API: what [`export_policy!`], the `palisade-rego` crate and the fuzz targets
/// reach into. It changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::config::parse_config;
    pub use crate::decision::DEFAULT_DENY_STATUS;
    pub use crate::filter::FAIL_CLOSED_BODY;
    pub use crate::host::{Host, HostError, MetricId};
    pub use crate::ids::IdGenerator;
    pub use crate::proto_struct::struct_to_json;
    pub use crate::request::{parse_query, percent_decode, percent_encode};
    pub use crate::settings::{parse_plugin_config, SdkSettings};
    pub use crate::time::rfc3339;

    /// The proxy-wasm header-map wire format.
    pub mod wire {
        pub use crate::wire::{decode_map, decode_text_map, encode_map, lossy};
    }

    /// CloudEvents: the event, its builder and the HTTP encoders.
    pub mod cloudevents {
        pub use crate::events::encode::*;
        pub use crate::events::event::*;
    }

    #[cfg(target_arch = "wasm32")]
    pub use crate::proxy::initialize;

    /// The Envoy dynamic-module hooks [`export_policy!`] writes for a native build.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    pub mod native {
        pub use crate::native::*;
    }

    /// Carries a decision out on a host, as the filter does.
    pub fn apply(
        decision: &crate::Decision,
        host: &mut dyn Host,
        path: &str,
    ) -> Result<(), HostError> {
        decision.apply(host, path)
    }

    #[cfg(any(test, feature = "testing"))]
    pub use crate::testing::fake_host::FakeHost;
}

/// Exports a [`Policy`] as this crate's proxy-wasm module (root and HTTP contexts), or, built
/// for the host with the crate's `native` feature (which must enable `palisade/native`), as an
/// Envoy 1.40 dynamic module (`lib<crate>.so`, the `envoy_dynamic_module_on_*` hooks).
///
/// Use once, in a `cdylib` crate built for `wasm32-wasip1`. On other targets without `native`
/// it expands to nothing, so the crate still builds and its logic can be unit-tested natively.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        $crate::__export_native_hooks!($policy);
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)] // the module entry point `_initialize` is `#[no_mangle]`
        mod __palisade_entry {
            #[allow(unused_imports)]
            use super::*;
            /// The module's start (the WASI reactor's `_initialize`).
            #[no_mangle]
            pub extern "C" fn _initialize() {
                $crate::__private::initialize::<$policy>();
            }
        }
    };
}

/// The Envoy dynamic-module hooks of [`export_policy!`] (Envoy 1.40 requires every one of them;
/// those a policy filter has no use for go on).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_native_hooks {
    ($policy:ty) => {
        #[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
        #[allow(unsafe_code, clippy::missing_safety_doc)]
        mod __palisade_native_hooks {
            #[allow(unused_imports)]
            use super::*;
            use $crate::__private::native as hooks;
            use ::std::ffi::{c_char, c_void};

            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
                hooks::program_init()
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
                config_envoy: *mut c_void,
                name: hooks::EnvoyBuffer,
                config: hooks::EnvoyBuffer,
            ) -> *const c_void {
                // SAFETY: Envoy's arguments, as the hook's contract says.
                unsafe { hooks::config_new::<$policy>(config_envoy, name, config) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
                config_envoy: *mut c_void,
                config: *const c_void,
                _event_id: u64,
            ) {
                // SAFETY: Envoy's arguments: the pointer config_new returned, on the main thread.
                unsafe { hooks::config_scheduled(config_envoy, config) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
                config_envoy: *mut c_void,
                config: *const c_void,
                callout: u64,
                _result: i32,
                headers: *const c_void,
                headers_count: usize,
                _body_chunks: *const c_void,
                _body_chunks_count: usize,
            ) {
                // SAFETY: Envoy's arguments: the pointer config_new returned and the answer's
                // headers, live through the hook.
                unsafe {
                    hooks::config_http_callout_done(
                        config_envoy,
                        config,
                        callout,
                        headers,
                        headers_count,
                    )
                }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(
                config: *const c_void,
            ) {
                // SAFETY: the pointer config_new returned, given back once.
                unsafe { hooks::config_destroy(config) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_new(
                config: *const c_void,
                _filter_envoy: *mut c_void,
            ) -> *const c_void {
                // SAFETY: the pointer config_new returned, live while its streams are.
                unsafe { hooks::filter_new::<$policy>(config) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_destroy(
                stream: *const c_void,
            ) {
                // SAFETY: the pointer filter_new returned, given back once.
                unsafe { hooks::filter_destroy::<$policy>(stream) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
                filter_envoy: *mut c_void,
                stream: *const c_void,
                end_of_stream: bool,
            ) -> i32 {
                // SAFETY: Envoy's live stream and the state filter_new made for it.
                unsafe { hooks::request_headers::<$policy>(filter_envoy, stream, end_of_stream) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
                filter_envoy: *mut c_void,
                stream: *const c_void,
                _end_of_stream: bool,
            ) -> i32 {
                // SAFETY: Envoy's live stream and the state filter_new made for it.
                unsafe { hooks::response_headers::<$policy>(filter_envoy, stream) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
                filter_envoy: *mut c_void,
                stream: *const c_void,
                end_of_stream: bool,
            ) -> i32 {
                // SAFETY: Envoy's live stream and the state filter_new made for it.
                unsafe { hooks::request_body::<$policy>(filter_envoy, stream, end_of_stream) }
            }
            #[no_mangle]
            pub unsafe extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
                filter_envoy: *mut c_void,
                stream: *const c_void,
            ) -> i32 {
                // SAFETY: Envoy's live stream and the state filter_new made for it.
                unsafe { hooks::request_trailers::<$policy>(filter_envoy, stream) }
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
                _end_of_stream: bool,
            ) -> i32 {
                hooks::CONTINUE
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) -> i32 {
                hooks::CONTINUE
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
            #[no_mangle]
            pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
                _filter_envoy: *mut c_void,
                _stream: *const c_void,
            ) {
            }
        }
    };
}
