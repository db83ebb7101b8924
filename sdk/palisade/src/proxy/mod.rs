//! The proxy-wasm adapter: the only module that knows about the ABI.
//!
//! It registers the root and HTTP contexts with the `proxy-wasm` crate's dispatcher, implements
//! [`Host`] over the raw host calls in `imports`, routes `log` records and panics into the
//! proxy's log, and hands each request to [`crate::filter`].

mod imports;
mod logger;

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

use crate::config::parse_config;
use crate::filter::{self, Flow};
use crate::host::{Host, HostError, MetricId};
use crate::metrics::FilterMetrics;
use crate::policy::Policy;
use crate::request::RequestBody;
use crate::wire;

/// Registers policy `P` as this module's root and HTTP contexts. Called by
/// [`crate::export_policy!`] from the module's `_initialize`.
pub fn install<P: Policy>() {
    logger::install();
    proxy_wasm::set_root_context(|_| Box::new(PolicyRoot::<P> { configured: None }));
}

/// What one VM keeps once its plugin is configured: the policy and its counters.
struct Configured<P> {
    policy: Rc<P>,
    metrics: Rc<FilterMetrics>,
}

struct PolicyRoot<P> {
    configured: Option<Configured<P>>,
}

impl<P> Context for PolicyRoot<P> {}

impl<P: Policy> RootContext for PolicyRoot<P> {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        logger::sync_level();
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        logger::sync_level();
        let raw = match imports::get_buffer(imports::BUFFER_PLUGIN_CONFIGURATION, usize::MAX) {
            Ok(raw) => raw.unwrap_or_default(),
            Err(err) => {
                log::error!("{}: reading the plugin configuration: {err}", P::NAME);
                return false;
            }
        };
        let policy = match parse_config::<P::Config>(&raw).and_then(P::from_config) {
            Ok(policy) => policy,
            Err(err) => {
                // One line naming the field, so Envoy's rejection says why.
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
        self.configured = Some(Configured {
            policy: Rc::new(policy),
            metrics: Rc::new(metrics),
        });
        log::info!("{}: configured", P::NAME);
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let configured = self.configured.as_ref()?;
        Some(Box::new(PolicyHttp {
            policy: Rc::clone(&configured.policy),
            metrics: Rc::clone(&configured.metrics),
            awaiting_body: false,
            response_headers: Vec::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct PolicyHttp<P> {
    policy: Rc<P>,
    metrics: Rc<FilterMetrics>,
    /// The headers were held back until the body the policy asked for is buffered.
    awaiting_body: bool,
    /// Added to the response when it arrives (an allow decision's response headers).
    response_headers: Vec<(String, String)>,
}

impl<P> Context for PolicyHttp<P> {}

impl<P: Policy> PolicyHttp<P> {
    fn decide(&mut self, body: Option<RequestBody>) -> Action {
        self.awaiting_body = false;
        match filter::on_request(self.policy.as_ref(), &self.metrics, &mut ProxyHost, body) {
            Flow::Continue { response_headers } => {
                self.response_headers = response_headers;
                Action::Continue
            }
            Flow::Stop => Action::Pause,
        }
    }

    /// Decides with what has been buffered; a body that cannot be read is a failure, handled by
    /// the policy's failure mode.
    fn decide_with_body(&mut self, limit: usize, complete: bool) -> Action {
        match filter::read_body(&ProxyHost, limit, complete) {
            Ok(body) => self.decide(Some(body)),
            Err(err) => {
                log::error!("{}: reading the request body: {err}", P::NAME);
                self.metrics
                    .count(&mut ProxyHost, crate::metrics::Outcome::Error(None));
                let decision = filter::failure_decision(self.policy.failure_mode());
                if let Err(err) = decision.apply(&mut ProxyHost, "") {
                    log::error!("{}: applying the failure mode: {err}", P::NAME);
                }
                if decision.is_allowed() {
                    Action::Continue
                } else {
                    Action::Pause
                }
            }
        }
    }
}

impl<P: Policy> HttpContext for PolicyHttp<P> {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        match self.policy.body_limit() {
            Some(_) if !end_of_stream => {
                // Hold the headers until the body (or enough of it) is buffered.
                self.awaiting_body = true;
                Action::Pause
            }
            Some(_) => self.decide(Some(RequestBody::default())),
            None => self.decide(None),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(limit) = self.policy.body_limit().filter(|_| self.awaiting_body) else {
            return Action::Continue;
        };
        if !end_of_stream && body_size < limit {
            // Returning Pause here makes Envoy keep buffering the body.
            return Action::Pause;
        }
        self.decide_with_body(limit, end_of_stream)
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        match self.policy.body_limit().filter(|_| self.awaiting_body) {
            // The body ended without end_of_stream (trailers follow): decide on what we have.
            Some(limit) => self.decide_with_body(limit, true),
            None => Action::Continue,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
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

    fn now(&self) -> Result<SystemTime, HostError> {
        let nanos = imports::get_current_time_nanos()?;
        Ok(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
    }

    fn define_counter(&mut self, name: &str) -> Result<MetricId, HostError> {
        imports::define_metric(imports::METRIC_COUNTER, name).map(MetricId)
    }

    fn increment(&mut self, metric: MetricId, delta: i64) -> Result<(), HostError> {
        imports::increment_metric(metric.0, delta)
    }
}

/// The status reported when the host's header map cannot be decoded.
const SERIALIZATION_FAILURE: u32 = 3;
