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
//! A policy that reads the body holds the whole request (headers included) while Envoy buffers
//! the body up to its limit: what the Wasm filter does only with `allow_on_headers_stop_iteration`.
//!
//! Decision events ([`events`]) queue into one emitter per configuration and leave from the main
//! thread, through the configuration's callouts, paced by a [`ticker`].
//!
//! Of the properties, `request.protocol`, the source and destination addresses and the
//! certificates' URI SANs are read ([`host::StreamHost`]); others read as absent.
#![allow(unsafe_code)] // the hooks take and hand back raw pointers

mod abi;
mod events;
mod host;
mod ticker;

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use abi::EnvoyBuffer;
use events::NativeEvents;
use host::{ConfigHost, StreamHost};

use crate::events::decision::DecisionEvents;
use crate::filter::{self, Arrived, Flow};
use crate::metrics::FilterMetrics;
use crate::policy::Policy;
use crate::request::RequestBody;
use crate::settings::parse_plugin_config;

/// A filter configuration: what every worker builds its policy from.
struct NativeConfig {
    /// Tells this configuration's policies apart in each thread's cache.
    id: u64,
    /// The plugin configuration as Envoy gave it.
    raw: Vec<u8>,
    metrics: FilterMetrics,
    events: Option<NativeEvents>,
}

/// What one worker builds from a configuration, on its first request.
struct Worker<P> {
    policy: P,
    events: Option<DecisionEvents>,
}

/// One request's state.
struct NativeStream<P> {
    config: *const NativeConfig,
    worker: Rc<Worker<P>>,
    /// The request is held while the body the policy reads is buffered.
    awaiting_body: bool,
    /// Added to the response when it arrives (an allow decision's response headers).
    response_headers: Vec<(String, String)>,
}

static NEXT_CONFIG_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Each worker's [`Worker`]s, by configuration id.
    static WORKERS: RefCell<HashMap<u64, Rc<dyn Any>>> = RefCell::new(HashMap::new());
}

/// `envoy_dynamic_module_on_program_init`: the ABI version the module was built for. Also
/// sends the SDK's log records to Envoy's standard error, which its log collects.
pub fn program_init() -> *const c_char {
    if log::set_logger(&STDERR_LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    abi::ABI_VERSION.as_ptr()
}

/// Log records as lines on standard error: `palisade <level>: <message>`.
struct StderrLogger;

static STDERR_LOGGER: StderrLogger = StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("palisade {}: {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// `envoy_dynamic_module_on_http_filter_config_new`: null refuses the configuration (the log
/// line names the field).
///
/// # Safety
/// `name` and `config` must be Envoy's buffers, live for the call, `config_envoy` its filter
/// configuration pointer.
pub unsafe fn config_new<P: Policy>(
    config_envoy: *mut c_void,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's promise.
        let (name, raw) = unsafe { (name.bytes(), config.bytes()) };
        build_config::<P>(config_envoy, &String::from_utf8_lossy(name), raw.to_vec())
    }));
    match outcome {
        Ok(Ok(config)) => Box::into_raw(Box::new(config)).cast_const().cast(),
        Ok(Err(message)) => {
            log::error!("{}: {message}", P::NAME);
            std::ptr::null()
        }
        Err(_) => {
            log::error!("{}: the configuration panicked", P::NAME);
            std::ptr::null()
        }
    }
}

fn build_config<P: Policy>(
    config_envoy: *mut c_void,
    filter_name: &str,
    raw: Vec<u8>,
) -> Result<NativeConfig, String> {
    let (config, sdk) = parse_plugin_config::<P::Config>(&raw).map_err(|e| e.to_string())?;
    // Built here only to check the configuration: each worker builds its own.
    P::from_config(config).map_err(|e| e.to_string())?;
    let metrics = FilterMetrics::define(
        &mut ConfigHost::new(config_envoy),
        P::NAME,
        P::ERROR_REASONS,
    )
    .map_err(|e| format!("defining metrics: {e}"))?;
    let events = sdk
        .events
        .map(|events| {
            NativeEvents::start(config_envoy, events, filter_name, P::NAME, P::EVENT_KIND)
        })
        .transpose()?;
    log::info!(
        "{}: configured{}",
        P::NAME,
        if events.is_some() {
            ", with decision events"
        } else {
            ""
        }
    );
    Ok(NativeConfig {
        id: NEXT_CONFIG_ID.fetch_add(1, Ordering::Relaxed),
        raw,
        metrics,
        events,
    })
}

/// The decision events of the configuration `config` (from [`config_new`]), if it has them.
///
/// # Safety
/// `config` must be null or come from [`config_new`] and not be destroyed yet.
unsafe fn events_of<'a>(config: *const c_void) -> Option<&'a NativeEvents> {
    // SAFETY: the caller's promise.
    let config = unsafe { config.cast::<NativeConfig>().as_ref() }?;
    config.events.as_ref()
}

/// `envoy_dynamic_module_on_http_filter_config_scheduled`, on the main thread: the ticker's
/// tick, which delivers decision events.
///
/// # Safety
/// `config` must come from [`config_new`], `config_envoy` be Envoy's pointer for it.
pub unsafe fn config_scheduled(config_envoy: *mut c_void, config: *const c_void) {
    // SAFETY: the caller's promise.
    let Some(events) = (unsafe { events_of(config) }) else {
        return;
    };
    if catch_unwind(AssertUnwindSafe(|| events.on_tick(config_envoy))).is_err() {
        log::error!("events: delivering panicked");
    }
}

/// `envoy_dynamic_module_on_http_filter_config_http_callout_done`, on the main thread: the
/// sink's answer to a delivery (no headers when the callout failed).
///
/// # Safety
/// As [`config_scheduled`]; `headers` must point to `count` pairs live for the call.
pub unsafe fn config_http_callout_done(
    config_envoy: *mut c_void,
    config: *const c_void,
    callout: u64,
    headers: *const c_void,
    count: usize,
) {
    // SAFETY: the caller's promise.
    let Some(events) = (unsafe { events_of(config) }) else {
        return;
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's promise: Envoy's pairs, live through this hook.
        let headers = unsafe { host::envoy_pairs(headers.cast(), count) };
        match u32::try_from(callout) {
            Ok(token) => events.on_answer(config_envoy, token, headers),
            Err(_) => log::warn!("events: ignoring the answer to callout {callout}"),
        }
    }));
    if outcome.is_err() {
        log::error!("events: handling the sink's answer panicked");
    }
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
        worker::<P>(shared).map(|worker| NativeStream {
            config,
            worker,
            awaiting_body: false,
            response_headers: Vec::new(),
        })
    }));
    match outcome {
        Ok(Some(stream)) => Box::into_raw(Box::new(stream)).cast_const().cast(),
        _ => std::ptr::null(),
    }
}

fn worker<P: Policy>(config: &NativeConfig) -> Option<Rc<Worker<P>>> {
    WORKERS.with(|workers| {
        let mut workers = workers.borrow_mut();
        if let Some(worker) = workers.get(&config.id).cloned() {
            return worker.downcast::<Worker<P>>().ok();
        }
        let (policy_config, _) = parse_plugin_config::<P::Config>(&config.raw).ok()?;
        let worker = Rc::new(Worker {
            policy: P::from_config(policy_config).ok()?,
            events: match &config.events {
                Some(events) => Some(events.for_worker(P::EVENT_KIND)?),
                None => None,
            },
        });
        workers.insert(config.id, worker.clone());
        Some(worker)
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

/// `envoy_dynamic_module_on_http_filter_request_headers`: decides the request, or, for a
/// policy that reads the body, holds the request (headers included: a dynamic module can, so the
/// policy may still change them) until the body is buffered.
///
/// # Safety
/// `filter_envoy` must be Envoy's live stream, `stream` its state from [`filter_new`].
pub unsafe fn request_headers<P: Policy>(
    filter_envoy: *mut c_void,
    stream: *const c_void,
    end_of_stream: bool,
) -> i32 {
    // SAFETY: the caller's promise; Envoy calls a stream's hooks on one thread, one at a time.
    let stream = unsafe { &mut *stream.cast_mut().cast::<NativeStream<P>>() };
    match stream.worker.policy.body_limit() {
        None => stream.decide(filter_envoy, None),
        Some(_) if end_of_stream => stream.decide(filter_envoy, Some(Ok(RequestBody::default()))),
        Some(_) => {
            stream.awaiting_body = true;
            abi::STOP_ITERATION
        }
    }
}

/// `envoy_dynamic_module_on_http_filter_request_body`: buffers the body a policy reads up to
/// its limit, then decides.
///
/// # Safety
/// As [`request_headers`].
pub unsafe fn request_body<P: Policy>(
    filter_envoy: *mut c_void,
    stream: *const c_void,
    end_of_stream: bool,
) -> i32 {
    // SAFETY: the caller's promise.
    let stream = unsafe { &mut *stream.cast_mut().cast::<NativeStream<P>>() };
    let Some(limit) = stream.awaited_body_limit() else {
        return abi::CONTINUE;
    };
    let host = StreamHost::new(filter_envoy);
    // Envoy's count of the bytes so far; the bytes are copied once, when the policy decides.
    if !end_of_stream && host.request_body_size() <= limit {
        return abi::STOP_ITERATION_AND_BUFFER;
    }
    stream.decide_with_body(filter_envoy, limit, end_of_stream)
}

/// `envoy_dynamic_module_on_http_filter_request_trailers`: a body followed by trailers ended
/// without end of stream; the policy decides on what was buffered.
///
/// # Safety
/// As [`request_headers`].
pub unsafe fn request_trailers<P: Policy>(filter_envoy: *mut c_void, stream: *const c_void) -> i32 {
    // SAFETY: the caller's promise.
    let stream = unsafe { &mut *stream.cast_mut().cast::<NativeStream<P>>() };
    match stream.awaited_body_limit() {
        Some(limit) => stream.decide_with_body(filter_envoy, limit, true),
        None => abi::CONTINUE,
    }
}

impl<P: Policy> NativeStream<P> {
    /// The policy's body limit while the request is held for its body.
    fn awaited_body_limit(&self) -> Option<usize> {
        self.worker
            .policy
            .body_limit()
            .filter(|_| self.awaiting_body)
    }

    /// Decides with what was buffered; a body that cannot be read is a failure, handled by the
    /// policy's failure mode.
    fn decide_with_body(&mut self, filter_envoy: *mut c_void, limit: usize, complete: bool) -> i32 {
        let host = StreamHost::new(filter_envoy);
        let body = filter::read_body(&host, limit, complete)
            .map_err(|err| format!("{}: reading the request body: {err}", P::NAME));
        self.decide(filter_envoy, Some(body))
    }

    /// Runs the policy (with the body, or the failure to read it) and carries the decision out.
    /// A panic in the policy is the policy's failure, handled by its failure mode.
    fn decide(
        &mut self,
        filter_envoy: *mut c_void,
        body: Option<Result<RequestBody, String>>,
    ) -> i32 {
        self.awaiting_body = false;
        // SAFETY: the configuration outlives its streams.
        let config = unsafe { &*self.config };
        let Worker { policy, events } = self.worker.as_ref();
        let events = events.as_ref();
        let mut host = StreamHost {
            filter: filter_envoy,
            ticker: config.events.as_ref().map(NativeEvents::ticker),
        };
        let decided = catch_unwind(AssertUnwindSafe(|| match body {
            Some(Err(message)) => {
                filter::on_failure(policy, &config.metrics, &mut host, message, events)
            }
            body => {
                let arrived = Arrived {
                    body: body.and_then(Result::ok),
                    sent_headers: None,
                };
                filter::on_request(policy, &config.metrics, &mut host, arrived, events)
            }
        }));
        let flow = decided.unwrap_or_else(|_| {
            let message = format!("policy {} panicked", P::NAME);
            catch_unwind(AssertUnwindSafe(|| {
                filter::on_failure(policy, &config.metrics, &mut host, message, events)
            }))
            .unwrap_or(Flow::Stop)
        });
        match flow {
            Flow::Continue { response_headers } => {
                self.response_headers = response_headers;
                abi::CONTINUE
            }
            Flow::Stop => abi::STOP_ITERATION,
        }
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
        filter::on_response_headers(&headers, &mut StreamHost::new(filter_envoy));
    }));
    abi::CONTINUE
}

/// The hooks a policy filter has no use for answer with "go on".
pub const CONTINUE: i32 = abi::CONTINUE;
