//! The proxy-wasm adapter: the only module that knows about the ABI.
//!
//! `exports` holds the ABI entry points; here they reach [`Module`], which keeps the root
//! context (one per plugin configuration) and the HTTP contexts by id, implements [`Host`] and
//! [`CalloutHost`] over the host calls in `imports`, routes `log` records and panics into the
//! proxy's log, and hands each request to [`crate::filter`].
//!
//! When the plugin configuration has an `events` section, the root context owns the event
//! emitter: it starts the emitter's timer in `on_configure`, delivers from `on_tick`, and
//! hands the sink's answers to it from `on_http_call_response`; HTTP contexts share it
//! through [`DecisionEvents`] to emit their decision events.

mod exports;
mod imports;
mod logger;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use exports::{Action, Plugin};

use crate::events::decision::DecisionEvents;
use crate::events::emitter::{EventEmitter, EventSink};
use crate::events::metrics::{DropReason, EventMetrics};
use crate::events::EventsConfig;
use crate::filter::{self, Arrived, Flow};
use crate::host::{CalloutHost, Host, HostError, MetricId};
use crate::metrics::FilterMetrics;
use crate::policy::Policy;
use crate::request::RequestBody;
use crate::settings::parse_plugin_config;
use crate::wire;

/// The module's start (`_initialize`, written by [`crate::export_policy!`]): runs the static
/// constructors, then makes policy `P` answer the proxy's callbacks.
pub fn initialize<P: Policy>() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker's constructor function, called once at start as the reactor model
    // (WASI `_initialize`) requires.
    #[allow(unsafe_code)]
    unsafe {
        __wasm_call_ctors();
    }
    logger::install();
    exports::register(Box::new(Module::<P> {
        roots: BTreeMap::new(),
        streams: BTreeMap::new(),
    }));
}

/// Every context of the module, by id: the root contexts (one per plugin that shares this VM)
/// and the HTTP streams in flight.
struct Module<P> {
    roots: BTreeMap<u32, PolicyRoot<P>>,
    streams: BTreeMap<u32, PolicyHttp<P>>,
}

impl<P: Policy> Plugin for Module<P> {
    fn on_context_create(&mut self, context_id: u32, parent_id: u32) {
        if parent_id == 0 {
            self.roots.insert(context_id, PolicyRoot::new());
            return;
        }
        // A stream of a plugin whose configuration was rejected is not filtered.
        let stream = self
            .roots
            .get(&parent_id)
            .and_then(PolicyRoot::create_stream);
        if let Some(stream) = stream {
            self.streams.insert(context_id, stream);
        }
    }

    fn on_vm_start(&mut self, _root_id: u32) -> bool {
        logger::sync_level();
        true
    }

    fn on_configure(&mut self, root_id: u32) -> bool {
        match self.roots.get_mut(&root_id) {
            Some(root) => root.on_configure(),
            None => {
                log::error!("{}: configure for unknown root context {root_id}", P::NAME);
                false
            }
        }
    }

    fn on_tick(&mut self, root_id: u32) {
        if let Some(root) = self.roots.get_mut(&root_id) {
            root.on_tick();
        }
    }

    fn on_http_call_response(&mut self, root_id: u32, token: u32, num_headers: usize) {
        match self.roots.get_mut(&root_id) {
            Some(root) => root.on_http_call_response(token, num_headers),
            None => log::debug!("ignoring the answer to callout {token}: no root {root_id}"),
        }
    }

    fn on_request_headers(&mut self, context_id: u32, end_of_stream: bool) -> Action {
        self.streams
            .get_mut(&context_id)
            .map_or(Action::Continue, |s| s.on_request_headers(end_of_stream))
    }

    fn on_request_body(
        &mut self,
        context_id: u32,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        self.streams
            .get_mut(&context_id)
            .map_or(Action::Continue, |s| {
                s.on_request_body(body_size, end_of_stream)
            })
    }

    fn on_request_trailers(&mut self, context_id: u32) -> Action {
        self.streams
            .get_mut(&context_id)
            .map_or(Action::Continue, PolicyHttp::on_request_trailers)
    }

    fn on_response_headers(&mut self, context_id: u32) -> Action {
        self.streams
            .get(&context_id)
            .map_or(Action::Continue, PolicyHttp::on_response_headers)
    }

    fn on_delete(&mut self, context_id: u32) {
        if self.streams.remove(&context_id).is_none() {
            self.roots.remove(&context_id);
        }
    }
}

/// What one VM keeps once its plugin is configured: the policy, its counters, and its
/// decision events (with the emitter they go to) when `events` is configured.
struct Configured<P> {
    policy: Rc<P>,
    metrics: Rc<FilterMetrics>,
    events: Option<ConfiguredEvents>,
    /// The Envoy Wasm filter runs with `allow_on_headers_stop_iteration: true`.
    hold_headers: bool,
}

#[derive(Clone)]
struct ConfiguredEvents {
    config: EventsConfig,
    decisions: Rc<DecisionEvents>,
}

struct PolicyRoot<P> {
    configured: Option<Configured<P>>,
    /// Defined the first time `events` is configured, kept for the VM's life.
    event_metrics: Option<EventMetrics>,
}

impl<P: Policy> PolicyRoot<P> {
    fn new() -> Self {
        Self {
            configured: None,
            event_metrics: None,
        }
    }

    fn event_sink(&self) -> Option<&EventSink> {
        let events = self.configured.as_ref()?.events.as_ref()?;
        Some(events.decisions.sink())
    }

    /// Builds what the `events` section asks for; an unchanged section keeps the running
    /// emitter (and its queue).
    fn configure_events(
        &mut self,
        config: Option<EventsConfig>,
        previous: Option<ConfiguredEvents>,
    ) -> Result<Option<ConfiguredEvents>, String> {
        let Some(config) = config else {
            return Ok(None);
        };
        if let Some(previous) = previous.filter(|p| p.config == config) {
            return Ok(Some(previous));
        }
        let metrics = match &self.event_metrics {
            Some(metrics) => metrics.clone(),
            None => {
                let metrics = EventMetrics::define(&mut ProxyHost, P::NAME)
                    .map_err(|err| format!("defining event metrics: {err}"))?;
                self.event_metrics = Some(metrics.clone());
                metrics
            }
        };
        let plugin_name = match imports::get_property(&["plugin_name"]) {
            Ok(name) => name.map(wire::lossy),
            Err(err) => {
                log::debug!("{}: reading plugin_name: {err}", P::NAME);
                None
            }
        };
        let source = config.source_for(plugin_name.as_deref(), P::NAME);
        let sink = EventSink::new(EventEmitter::new(&config, metrics));
        let seed = ProxyHost
            .now()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        let decisions = DecisionEvents::new(&config, source, P::EVENT_KIND, sink, seed)
            .map_err(|err| err.to_string())?;
        Ok(Some(ConfiguredEvents {
            config,
            decisions: Rc::new(decisions),
        }))
    }

    fn on_http_call_response(&mut self, token_id: u32, num_headers: usize) {
        match self.event_sink() {
            Some(sink) => {
                sink.with(|emitter| {
                    emitter.on_http_call_response(&mut ProxyHost, token_id, num_headers)
                });
            }
            None => log::debug!("ignoring the answer to callout {token_id}: events are off"),
        }
    }

    fn on_configure(&mut self) -> bool {
        logger::sync_level();
        let raw = match imports::get_buffer(imports::BUFFER_PLUGIN_CONFIGURATION, usize::MAX) {
            Ok(raw) => raw.unwrap_or_default(),
            Err(err) => {
                log::error!("{}: reading the plugin configuration: {err}", P::NAME);
                return false;
            }
        };
        let parsed = parse_plugin_config::<P::Config>(&raw)
            .and_then(|(config, events)| Ok((P::from_config(config)?, events)));
        let (policy, sdk) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                // One line naming the field, so Envoy's rejection says why.
                log::error!("{}: {err}", P::NAME);
                return false;
            }
        };
        let previous_events = self.configured.as_ref().and_then(|c| c.events.clone());
        let previous_sink = self.event_sink().cloned();
        let events = match self.configure_events(sdk.events, previous_events) {
            Ok(events) => events,
            Err(err) => {
                log::error!("{}: {err}", P::NAME);
                return false;
            }
        };
        // Counters are defined once per VM; a reconfiguration keeps them.
        let metrics = match self.configured.take() {
            Some(previous) => (*previous.metrics).clone(),
            None => match FilterMetrics::define(&mut ProxyHost, P::NAME, P::ERROR_REASONS) {
                Ok(metrics) => metrics,
                Err(err) => {
                    log::error!("{}: defining metrics: {err}", P::NAME);
                    return false;
                }
            },
        };
        let sink = events.as_ref().map(|e| e.decisions.sink().clone());
        if let Some(previous) = previous_sink {
            let kept = sink.as_ref().is_some_and(|s| s.same_emitter(&previous));
            if !kept {
                let dropped = previous
                    .with(|emitter| emitter.shut_down(&mut ProxyHost, DropReason::Reconfigured));
                if let Some(dropped @ 1..) = dropped {
                    log::warn!("{}: reconfigured: dropped {dropped} queued events", P::NAME);
                }
            }
        }
        if let Some(sink) = &sink {
            sink.with(|emitter| emitter.start(&mut ProxyHost));
        }
        if policy.body_limit().is_some() {
            log::info!(
                "{}: reads request bodies {}",
                P::NAME,
                match sdk.allow_on_headers_stop_iteration {
                    true => "holding the headers until it decided (allow_on_headers_stop_iteration: the Envoy Wasm filter must set it too, or requests with a body hang)",
                    false => "after the headers went upstream (Envoy's default Wasm config); the body is held until it decided",
                }
            );
        }
        self.configured = Some(Configured {
            policy: Rc::new(policy),
            metrics: Rc::new(metrics),
            events,
            hold_headers: sdk.allow_on_headers_stop_iteration,
        });
        match &sink {
            Some(_) => log::info!("{}: configured, with decision events", P::NAME),
            None => log::info!("{}: configured", P::NAME),
        }
        true
    }

    fn on_tick(&mut self) {
        if let Some(sink) = self.event_sink() {
            sink.with(|emitter| emitter.on_tick(&mut ProxyHost));
        }
    }

    /// The state of a new stream; `None` before a configuration was accepted.
    fn create_stream(&self) -> Option<PolicyHttp<P>> {
        let configured = self.configured.as_ref()?;
        Some(PolicyHttp {
            policy: Rc::clone(&configured.policy),
            metrics: Rc::clone(&configured.metrics),
            events: configured.events.as_ref().map(|e| Rc::clone(&e.decisions)),
            hold_headers: configured.hold_headers,
            awaiting_body: false,
            sent_headers: None,
            response_headers: Vec::new(),
        })
    }
}

struct PolicyHttp<P> {
    policy: Rc<P>,
    metrics: Rc<FilterMetrics>,
    events: Option<Rc<DecisionEvents>>,
    /// Hold the request headers while the body is buffered (the Envoy Wasm filter allows it).
    hold_headers: bool,
    /// The policy decides once the body it asked for is buffered.
    awaiting_body: bool,
    /// The request headers as they went upstream before the body arrived.
    sent_headers: Option<Vec<(String, String)>>,
    /// Added to the response when it arrives (an allow decision's response headers).
    response_headers: Vec<(String, String)>,
}

impl<P: Policy> PolicyHttp<P> {
    fn decide(&mut self, body: Option<RequestBody>) -> Action {
        self.awaiting_body = false;
        let arrived = Arrived {
            body,
            sent_headers: self.sent_headers.take(),
        };
        let flow = filter::on_request(
            self.policy.as_ref(),
            &self.metrics,
            &mut ProxyHost,
            arrived,
            self.events.as_deref(),
        );
        self.follow(flow)
    }

    fn follow(&mut self, flow: Flow) -> Action {
        match flow {
            Flow::Continue { response_headers } => {
                self.response_headers = response_headers;
                Action::Continue
            }
            Flow::Stop => Action::Pause,
        }
    }

    /// A request that failed before its policy could decide, handled by the failure mode.
    fn fail(&mut self, message: String) -> Action {
        self.awaiting_body = false;
        self.sent_headers = None;
        let flow = filter::on_failure(
            self.policy.as_ref(),
            &self.metrics,
            &mut ProxyHost,
            message,
            self.events.as_deref(),
        );
        self.follow(flow)
    }

    /// Decides with what has been buffered; a body that cannot be read is a failure, handled by
    /// the policy's failure mode.
    fn decide_with_body(&mut self, limit: usize, complete: bool) -> Action {
        match filter::read_body(&ProxyHost, limit, complete) {
            Ok(body) => self.decide(Some(body)),
            Err(err) => self.fail(format!("{}: reading the request body: {err}", P::NAME)),
        }
    }

    fn on_request_headers(&mut self, end_of_stream: bool) -> Action {
        match self.policy.body_limit() {
            None => self.decide(None),
            Some(_) if end_of_stream => self.decide(Some(RequestBody::default())),
            Some(_) if self.hold_headers => {
                // Envoy passes this Pause on as StopIteration and goes on delivering the body.
                self.awaiting_body = true;
                Action::Pause
            }
            Some(_) => {
                // Envoy's default turns a Pause here into StopAllIteration, which never delivers
                // the body to the plugin: the request would hang. The headers go on (the proxy
                // hands them to the plugin only until then); the body is held until decided.
                match ProxyHost.request_headers() {
                    Ok(headers) => {
                        self.sent_headers = Some(headers);
                        self.awaiting_body = true;
                        Action::Continue
                    }
                    Err(err) => self.fail(format!("{}: reading request headers: {err}", P::NAME)),
                }
            }
        }
    }

    fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(limit) = self.policy.body_limit().filter(|_| self.awaiting_body) else {
            return Action::Continue;
        };
        if !end_of_stream && body_size < limit {
            // Returning Pause here makes Envoy keep buffering the body.
            return Action::Pause;
        }
        self.decide_with_body(limit, end_of_stream)
    }

    fn on_request_trailers(&mut self) -> Action {
        match self.policy.body_limit().filter(|_| self.awaiting_body) {
            // The body ended without end_of_stream (trailers follow): decide on what we have.
            Some(limit) => self.decide_with_body(limit, true),
            None => Action::Continue,
        }
    }

    fn on_response_headers(&self) -> Action {
        filter::on_response_headers(&self.response_headers, &mut ProxyHost);
        Action::Continue
    }
}

/// [`Host`] over the proxy-wasm ABI, for the stream whose callback is running.
struct ProxyHost;

impl Host for ProxyHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        let raw = imports::get_header_map_pairs(imports::MAP_HTTP_REQUEST_HEADERS)?;
        wire::decode_text_map(&raw).ok_or(HostError {
            call: "proxy_get_header_map_pairs",
            status: SERIALIZATION_FAILURE,
        })
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        imports::get_property(path)
    }

    fn request_body(&self, max: usize) -> Result<Vec<u8>, HostError> {
        Ok(imports::get_buffer(imports::BUFFER_HTTP_REQUEST_BODY, max)?.unwrap_or_default())
    }

    fn add_response_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        imports::add_header_map_value(imports::MAP_HTTP_RESPONSE_HEADERS, name, value)
    }

    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        imports::set_property(path, value)
    }

    fn set_request_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        imports::replace_header_map_value(imports::MAP_HTTP_REQUEST_HEADERS, name, value)
    }

    fn remove_request_header(&mut self, name: &str) -> Result<(), HostError> {
        imports::remove_header_map_value(imports::MAP_HTTP_REQUEST_HEADERS, name)
    }

    fn send_local_reply(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        let headers = wire::encode_map(headers);
        imports::send_local_response(u32::from(status), "palisade", body, &headers)
    }

    fn reset_request(&mut self) -> Result<(), HostError> {
        imports::close_stream(imports::STREAM_HTTP_REQUEST)
    }

    fn now(&self) -> Result<SystemTime, HostError> {
        let nanos = imports::get_current_time_nanos()?;
        Ok(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
    }

    fn define_counter(&mut self, name: &str) -> Result<MetricId, HostError> {
        imports::define_metric(imports::METRIC_COUNTER, name).map(MetricId)
    }

    fn define_gauge(&mut self, name: &str) -> Result<MetricId, HostError> {
        imports::define_metric(imports::METRIC_GAUGE, name).map(MetricId)
    }

    fn increment(&mut self, metric: MetricId, delta: i64) -> Result<(), HostError> {
        imports::increment_metric(metric.0, delta)
    }

    fn set_tick_period(&mut self, period: Duration) -> Result<(), HostError> {
        let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
        imports::set_tick_period_milliseconds(millis)
    }
}

impl CalloutHost for ProxyHost {
    fn dispatch_http_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u32, HostError> {
        imports::dispatch_http_call(cluster, headers, body, timeout)
    }

    fn http_call_response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        let raw = imports::get_header_map_pairs(imports::MAP_HTTP_CALL_RESPONSE_HEADERS)?;
        wire::decode_text_map(&raw).ok_or(HostError {
            call: "proxy_get_header_map_pairs",
            status: SERIALIZATION_FAILURE,
        })
    }
}

/// The status reported when the host's header map cannot be decoded.
const SERIALIZATION_FAILURE: u32 = 3;
