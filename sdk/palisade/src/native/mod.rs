//! The Envoy dynamic-module backend: the same policy, request path and decisions as the
//! proxy-wasm module, built as a native shared library Envoy loads in-process (no sandbox,
//! built per Envoy version: this one speaks Envoy 1.40's ABI, `v0.2.0`).
//!
//! [`crate::export_policy!`] writes the `envoy_dynamic_module_on_*` hooks when the crate is built
//! for the host with its `native` feature; they call the functions here, generic over the policy.
//! The filter configuration (`config_new`, main thread) parses the plugin configuration, builds
//! the policy once to check it, and defines the counters; each worker thread builds its own
//! policy from the same configuration on its first request (a policy evaluates through `&mut`
//! state, as a Wasm VM per worker does), so the configuration stays immutable. A panic never
//! unwinds into Envoy: each hook catches it and answers per the failure mode (the module must be
//! built with `panic = "unwind"`).
//!
//! Not yet native: policies that read the request body, decision events, properties beyond the
//! source and destination addresses, metadata and filter state.
#![allow(unsafe_code)] // the hooks take and hand back raw pointers

mod abi;
mod host;

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use abi::EnvoyBuffer;
use host::{ConfigHost, StreamHost};

use crate::filter::{self, Arrived, Flow};
use crate::metrics::FilterMetrics;
use crate::policy::Policy;
use crate::settings::parse_plugin_config;

/// A filter configuration: what every worker builds its policy from.
struct NativeConfig {
    /// Tells this configuration's policies apart in each thread's cache.
    id: u64,
    /// The plugin configuration as Envoy gave it.
    raw: Vec<u8>,
    metrics: FilterMetrics,
}

/// One request's state.
struct NativeStream<P> {
    config: *const NativeConfig,
    policy: Rc<P>,
    /// Added to the response when it arrives (an allow decision's response headers).
    response_headers: Vec<(String, String)>,
}

static NEXT_CONFIG_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Each worker's policies, by configuration id.
    static POLICIES: RefCell<HashMap<u64, Rc<dyn Any>>> = RefCell::new(HashMap::new());
}

/// `envoy_dynamic_module_on_program_init`: the ABI version the module was built for.
pub fn program_init() -> *const c_char {
    abi::ABI_VERSION.as_ptr()
}

/// `envoy_dynamic_module_on_http_filter_config_new`: null refuses the configuration (the log
/// line names the field).
///
/// # Safety
/// `config` must be Envoy's buffer, live for the call, `config_envoy` its filter configuration
/// pointer.
pub unsafe fn config_new<P: Policy>(
    config_envoy: *mut c_void,
    config: EnvoyBuffer,
) -> *const c_void {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's promise.
        let raw = unsafe { config.bytes() };
        build_config::<P>(config_envoy, raw.to_vec())
    }));
    match outcome {
        Ok(Ok(config)) => Box::into_raw(Box::new(config)).cast_const().cast(),
        Ok(Err(message)) => {
            eprintln!("{}: {message}", P::NAME);
            std::ptr::null()
        }
        Err(_) => {
            eprintln!("{}: the configuration panicked", P::NAME);
            std::ptr::null()
        }
    }
}

fn build_config<P: Policy>(
    config_envoy: *mut c_void,
    raw: Vec<u8>,
) -> Result<NativeConfig, String> {
    let (config, sdk) = parse_plugin_config::<P::Config>(&raw).map_err(|e| e.to_string())?;
    let policy = P::from_config(config).map_err(|e| e.to_string())?;
    if sdk.events.is_some() {
        return Err(
            "events: decision events are not yet available in the native backend \
                    (build the Wasm filter for them)"
                .into(),
        );
    }
    if policy.body_limit().is_some() {
        return Err(
            "the policy reads request bodies, which the native backend does not yet \
                    do (build the Wasm filter for it)"
                .into(),
        );
    }
    let metrics = FilterMetrics::define(
        &mut ConfigHost {
            config: config_envoy,
        },
        P::NAME,
        P::ERROR_REASONS,
    )
    .map_err(|e| format!("defining metrics: {e}"))?;
    Ok(NativeConfig {
        id: NEXT_CONFIG_ID.fetch_add(1, Ordering::Relaxed),
        raw,
        metrics,
    })
}

/// `envoy_dynamic_module_on_http_filter_config_destroy`.
///
/// # Safety
/// `config` must come from [`config_new`] and not be used afterwards.
pub unsafe fn config_destroy(config: *const c_void) {
    if !config.is_null() {
        // SAFETY: the caller's promise: the box `config_new` leaked.
        drop(unsafe { Box::from_raw(config.cast_mut().cast::<NativeConfig>()) });
    }
}

/// `envoy_dynamic_module_on_http_filter_new`, on the worker: the stream's state, with this
/// worker's policy (built on its first request). Null when the policy cannot be built, which
/// Envoy answers with a 500.
///
/// # Safety
/// `config` must come from [`config_new`] and outlive the stream.
pub unsafe fn filter_new<P: Policy>(config: *const c_void) -> *const c_void {
    let config = config.cast::<NativeConfig>();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's promise.
        let shared = unsafe { &*config };
        worker_policy::<P>(shared).map(|policy| NativeStream {
            config,
            policy,
            response_headers: Vec::new(),
        })
    }));
    match outcome {
        Ok(Some(stream)) => Box::into_raw(Box::new(stream)).cast_const().cast(),
        _ => std::ptr::null(),
    }
}

fn worker_policy<P: Policy>(config: &NativeConfig) -> Option<Rc<P>> {
    POLICIES.with(|policies| {
        let mut policies = policies.borrow_mut();
        if let Some(policy) = policies.get(&config.id).cloned() {
            return policy.downcast::<P>().ok();
        }
        let (policy_config, _) = parse_plugin_config::<P::Config>(&config.raw).ok()?;
        let policy = Rc::new(P::from_config(policy_config).ok()?);
        policies.insert(config.id, policy.clone());
        Some(policy)
    })
}

/// `envoy_dynamic_module_on_http_filter_destroy`.
///
/// # Safety
/// `stream` must come from [`filter_new`] for policy `P` and not be used afterwards.
pub unsafe fn filter_destroy<P: Policy>(stream: *const c_void) {
    if !stream.is_null() {
        // SAFETY: the caller's promise: the box `filter_new` leaked.
        drop(unsafe { Box::from_raw(stream.cast_mut().cast::<NativeStream<P>>()) });
    }
}

/// `envoy_dynamic_module_on_http_filter_request_headers`: decides the request. A panic in the
/// policy is the policy's failure, handled by its failure mode.
///
/// # Safety
/// `filter_envoy` must be Envoy's live stream, `stream` its state from [`filter_new`].
pub unsafe fn request_headers<P: Policy>(filter_envoy: *mut c_void, stream: *const c_void) -> i32 {
    // SAFETY: the caller's promise; Envoy calls a stream's hooks on one thread, one at a time.
    let stream = unsafe { &mut *stream.cast_mut().cast::<NativeStream<P>>() };
    // SAFETY: the configuration outlives its streams.
    let config = unsafe { &*stream.config };
    let mut host = StreamHost {
        filter: filter_envoy,
    };
    let decided = catch_unwind(AssertUnwindSafe(|| {
        filter::on_request(
            stream.policy.as_ref(),
            &config.metrics,
            &mut host,
            Arrived::default(),
            None,
        )
    }));
    let flow = decided.unwrap_or_else(|_| {
        let message = format!("policy {} panicked", P::NAME);
        catch_unwind(AssertUnwindSafe(|| {
            filter::on_failure(
                stream.policy.as_ref(),
                &config.metrics,
                &mut host,
                message,
                None,
            )
        }))
        .unwrap_or(Flow::Stop)
    });
    match flow {
        Flow::Continue { response_headers } => {
            stream.response_headers = response_headers;
            abi::CONTINUE
        }
        Flow::Stop => abi::STOP_ITERATION,
    }
}

/// `envoy_dynamic_module_on_http_filter_response_headers`: adds the allow decision's response
/// headers.
///
/// # Safety
/// As [`request_headers`].
pub unsafe fn response_headers<P: Policy>(filter_envoy: *mut c_void, stream: *const c_void) -> i32 {
    // SAFETY: the caller's promise.
    let stream = unsafe { &mut *stream.cast_mut().cast::<NativeStream<P>>() };
    let headers = std::mem::take(&mut stream.response_headers);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        filter::on_response_headers(
            &headers,
            &mut StreamHost {
                filter: filter_envoy,
            },
        );
    }));
    abi::CONTINUE
}

/// The hooks a filter that decides on the request headers answers with "go on".
pub const CONTINUE: i32 = abi::CONTINUE;
