//! [`Host`] over Envoy's dynamic-module callbacks: [`StreamHost`] for one request (the
//! `filter_envoy_ptr` Envoy handed to the hook), [`ConfigHost`] for the filter configuration:
//! defining metrics while Envoy builds it (stat creation is frozen after `config_new`), then, on
//! the main thread, delivering decision events (its HTTP callouts, counters and ticker).
#![allow(unsafe_code)] // every callback is a foreign function on Envoy's pointers

use std::ffi::c_void;
use std::time::{Duration, SystemTime};

use super::abi::{self, EnvoyBuffer, Header, ModuleBuffer};
use super::ticker::Ticker;
use crate::host::{CalloutHost, Host, HostError, MetricId};

/// What a native filter cannot do yet: the callback's name and proxy-wasm's `UNIMPLEMENTED`
/// status, so errors read as the Wasm filter's do.
fn unsupported(call: &'static str) -> HostError {
    HostError { call, status: 12 }
}

/// A callback that answered `false`: proxy-wasm's `BAD_ARGUMENT`.
fn refused(call: &'static str) -> HostError {
    HostError { call, status: 2 }
}

/// One request's host: every call goes to Envoy with this stream's filter pointer.
pub(crate) struct StreamHost<'a> {
    pub(crate) filter: *mut c_void,
    /// The configuration's event ticker, when it has decision events (a full batch asks it
    /// for a tick at once).
    pub(crate) ticker: Option<&'a Ticker>,
}

impl StreamHost<'_> {
    pub(crate) fn new(filter: *mut c_void) -> Self {
        Self {
            filter,
            ticker: None,
        }
    }

    fn set_header(&mut self, kind: i32, name: &str, value: ModuleBuffer) -> Result<(), HostError> {
        // SAFETY: `filter` is the live stream Envoy passed to the current hook; the buffers
        // outlive the call (Envoy copies them).
        let done = unsafe {
            abi::envoy_dynamic_module_callback_http_set_header(
                self.filter,
                kind,
                ModuleBuffer::of(name.as_bytes()),
                value,
            )
        };
        done.then_some(())
            .ok_or(refused("envoy_dynamic_module_callback_http_set_header"))
    }

    /// The chunks of one of the request's body buffers (none when Envoy has no such buffer).
    fn body_chunks(&self, kind: i32) -> Result<Vec<&[u8]>, HostError> {
        // SAFETY: `filter` is the live stream of the current hook.
        let count = unsafe {
            abi::envoy_dynamic_module_callback_http_get_body_chunks_size(self.filter, kind)
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut chunks = vec![EnvoyBuffer::EMPTY; count];
        // SAFETY: `chunks` has room for the `count` buffers Envoy writes.
        let done = unsafe {
            abi::envoy_dynamic_module_callback_http_get_body_chunks(
                self.filter,
                kind,
                chunks.as_mut_ptr(),
            )
        };
        if !done {
            return Err(refused(
                "envoy_dynamic_module_callback_http_get_body_chunks",
            ));
        }
        // SAFETY: Envoy's buffers own the bytes through this hook.
        Ok(chunks.into_iter().map(|c| unsafe { c.bytes() }).collect())
    }

    /// How many body bytes Envoy holds for the request: what it buffered and the chunk of the
    /// hook that is running.
    pub(crate) fn request_body_size(&self) -> usize {
        [abi::BUFFERED_REQUEST_BODY, abi::RECEIVED_REQUEST_BODY]
            .into_iter()
            // SAFETY: `filter` is the live stream of the current hook.
            .map(|kind| unsafe {
                abi::envoy_dynamic_module_callback_http_get_body_size(self.filter, kind)
            })
            .sum()
    }
}

/// Envoy numbers counters and gauges separately from 0; the SDK's [`MetricId`] keeps the kind
/// in its top bit.
const GAUGE_BIT: u32 = 1 << 31;

/// An Envoy metric update: (scope, id, label values, their count, amount) -> metrics result.
type MetricUpdate =
    unsafe extern "C" fn(*mut c_void, usize, *const ModuleBuffer, usize, u64) -> i32;

/// Envoy's counter, gauge-up and gauge-down updates for one scope (a stream's, or the filter
/// configuration's on the main thread).
struct MetricUpdates {
    counter: MetricUpdate,
    gauge_up: MetricUpdate,
    gauge_down: MetricUpdate,
    call: &'static str,
}

const STREAM_METRICS: MetricUpdates = MetricUpdates {
    counter: abi::envoy_dynamic_module_callback_http_filter_increment_counter,
    gauge_up: abi::envoy_dynamic_module_callback_http_filter_increment_gauge,
    gauge_down: abi::envoy_dynamic_module_callback_http_filter_decrement_gauge,
    call: "envoy_dynamic_module_callback_http_filter_increment_*",
};

const CONFIG_METRICS: MetricUpdates = MetricUpdates {
    counter: abi::envoy_dynamic_module_callback_http_filter_config_increment_counter,
    gauge_up: abi::envoy_dynamic_module_callback_http_filter_config_increment_gauge,
    gauge_down: abi::envoy_dynamic_module_callback_http_filter_config_decrement_gauge,
    call: "envoy_dynamic_module_callback_http_filter_config_increment_*",
};

impl MetricUpdates {
    /// Adds `delta` to a counter (never negative) or a gauge (either sign) of `scope`.
    fn apply(&self, scope: *mut c_void, metric: MetricId, delta: i64) -> Result<(), HostError> {
        let update = match (metric.0 & GAUGE_BIT != 0, delta >= 0) {
            (false, _) => self.counter,
            (true, true) => self.gauge_up,
            (true, false) => self.gauge_down,
        };
        let id = (metric.0 & !GAUGE_BIT) as usize;
        // SAFETY: `scope` is the live stream or configuration of the current hook; no labels.
        match unsafe { update(scope, id, std::ptr::null(), 0, delta.unsigned_abs()) } {
            abi::METRICS_SUCCESS => Ok(()),
            status => Err(HostError {
                call: self.call,
                status: status as u32,
            }),
        }
    }
}

/// Sets the ticker's period; only a configuration with decision events has one.
fn tick_every(ticker: Option<&Ticker>, period: Duration) -> Result<(), HostError> {
    let ticker = ticker.ok_or(unsupported("set_tick_period without events"))?;
    ticker.set_period(period);
    Ok(())
}

/// Header pairs Envoy wrote, copied out.
///
/// # Safety
/// Each pair must point into bytes Envoy keeps alive for the current hook.
unsafe fn copy_pairs(pairs: &[Header]) -> Vec<(String, String)> {
    let text = |ptr: *const u8, length: usize| {
        // SAFETY: the caller's promise.
        let bytes = unsafe { EnvoyBuffer { ptr, length }.bytes() };
        // Validating first is the fast path (headers are almost always UTF-8; the lossy
        // conversion walks byte by byte).
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    };
    pairs
        .iter()
        .map(|h| {
            (
                text(h.key_ptr, h.key_length),
                text(h.value_ptr, h.value_length),
            )
        })
        .collect()
}

/// The `count` header pairs Envoy handed to a hook at `pairs` (none for a null pointer), copied.
///
/// # Safety
/// `pairs` must be null or point to `count` pairs whose bytes Envoy keeps alive for the hook.
pub(crate) unsafe fn envoy_pairs(pairs: *const Header, count: usize) -> Vec<(String, String)> {
    if pairs.is_null() || count == 0 {
        return Vec::new();
    }
    // SAFETY: the caller's promise.
    unsafe { copy_pairs(std::slice::from_raw_parts(pairs, count)) }
}

/// A header with no bytes, for Envoy to fill.
const NO_HEADER: Header = Header {
    key_ptr: std::ptr::null(),
    key_length: 0,
    value_ptr: std::ptr::null(),
    value_length: 0,
};

/// The module's pairs as Envoy reads them (pointing into `pairs`).
fn module_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<Header> {
    pairs
        .iter()
        .map(|(name, value)| Header {
            key_ptr: name.as_ref().as_ptr(),
            key_length: name.as_ref().len(),
            value_ptr: value.as_ref().as_ptr(),
            value_length: value.as_ref().len(),
        })
        .collect()
}

impl Host for StreamHost<'_> {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        // SAFETY: `filter` is the live stream of the current hook.
        let size = unsafe {
            abi::envoy_dynamic_module_callback_http_get_headers_size(
                self.filter,
                abi::REQUEST_HEADERS,
            )
        };
        let mut out = vec![NO_HEADER; size];
        // SAFETY: `out` has room for the `size` pairs Envoy writes.
        let done = unsafe {
            abi::envoy_dynamic_module_callback_http_get_headers(
                self.filter,
                abi::REQUEST_HEADERS,
                out.as_mut_ptr(),
            )
        };
        if !done {
            return Err(refused("envoy_dynamic_module_callback_http_get_headers"));
        }
        // SAFETY: Envoy's header map owns the bytes through this hook.
        Ok(unsafe { copy_pairs(&out) })
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let attribute = match path {
            ["request", "protocol"] => abi::ATTRIBUTE_REQUEST_PROTOCOL,
            ["source", "address"] => abi::ATTRIBUTE_SOURCE_ADDRESS,
            ["destination", "address"] => abi::ATTRIBUTE_DESTINATION_ADDRESS,
            ["connection", "uri_san_local_certificate"] => abi::ATTRIBUTE_URI_SAN_LOCAL_CERTIFICATE,
            ["connection", "uri_san_peer_certificate"] => abi::ATTRIBUTE_URI_SAN_PEER_CERTIFICATE,
            _ => return Ok(None),
        };
        let mut result = EnvoyBuffer::EMPTY;
        // SAFETY: `filter` is the live stream of the current hook; Envoy writes `result`.
        let found = unsafe {
            abi::envoy_dynamic_module_callback_http_filter_get_attribute_string(
                self.filter,
                attribute,
                &mut result,
            )
        };
        // SAFETY: Envoy's stream info owns the bytes through this hook.
        Ok(found.then(|| unsafe { result.bytes() }.to_vec()))
    }

    fn request_body(&self, max: usize) -> Result<Vec<u8>, HostError> {
        // What Envoy buffered, then the chunk of the hook that is running.
        let mut body = Vec::new();
        for kind in [abi::BUFFERED_REQUEST_BODY, abi::RECEIVED_REQUEST_BODY] {
            for chunk in self.body_chunks(kind)? {
                let room = max.saturating_sub(body.len());
                body.extend_from_slice(chunk.get(..room).unwrap_or(chunk));
            }
        }
        Ok(body)
    }

    fn set_request_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        self.set_header(
            abi::REQUEST_HEADERS,
            name,
            ModuleBuffer::of(value.as_bytes()),
        )
    }

    fn remove_request_header(&mut self, name: &str) -> Result<(), HostError> {
        self.set_header(abi::REQUEST_HEADERS, name, ModuleBuffer::NULL)
    }

    fn add_response_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        // SAFETY: `filter` is the live stream of the current hook; Envoy copies the buffers.
        let done = unsafe {
            abi::envoy_dynamic_module_callback_http_add_header(
                self.filter,
                abi::RESPONSE_HEADERS,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value.as_bytes()),
            )
        };
        done.then_some(())
            .ok_or(refused("envoy_dynamic_module_callback_http_add_header"))
    }

    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        // Where the Wasm filter's `proxy_set_property` puts it: filter state under `wasm.`, so
        // an access log reads `%FILTER_STATE(wasm.palisade.dynamic_metadata)%` from either.
        let key = format!("wasm.{}", path.join("."));
        // SAFETY: `filter` is the live stream of the current hook; Envoy copies the buffers.
        let done = unsafe {
            abi::envoy_dynamic_module_callback_http_set_filter_state_bytes(
                self.filter,
                ModuleBuffer::of(key.as_bytes()),
                ModuleBuffer::of(value),
            )
        };
        done.then_some(()).ok_or(refused(
            "envoy_dynamic_module_callback_http_set_filter_state_bytes",
        ))
    }

    fn send_local_reply(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        let pairs = module_pairs(headers);
        // SAFETY: `filter` is the live stream of the current hook; `pairs`, the strings they
        // point into and `body` outlive the call (Envoy copies them).
        unsafe {
            abi::envoy_dynamic_module_callback_http_send_response(
                self.filter,
                u32::from(status),
                pairs.as_ptr(),
                pairs.len(),
                ModuleBuffer::of(body),
                ModuleBuffer::of(b"palisade"),
            );
        }
        Ok(())
    }

    fn reset_request(&mut self) -> Result<(), HostError> {
        Err(unsupported("reset_request"))
    }

    fn now(&self) -> Result<SystemTime, HostError> {
        Ok(SystemTime::now())
    }

    fn define_counter(&mut self, _name: &str) -> Result<MetricId, HostError> {
        Err(unsupported("define_counter outside config_new"))
    }

    fn define_gauge(&mut self, _name: &str) -> Result<MetricId, HostError> {
        Err(unsupported("define_gauge outside config_new"))
    }

    fn increment(&mut self, metric: MetricId, delta: i64) -> Result<(), HostError> {
        STREAM_METRICS.apply(self.filter, metric, delta)
    }

    fn set_tick_period(&mut self, period: Duration) -> Result<(), HostError> {
        tick_every(self.ticker, period)
    }
}

/// The filter configuration's host: in `config_new`, defines metrics; on the main thread
/// afterwards, delivers decision events.
pub(crate) struct ConfigHost<'a> {
    pub(crate) config: *mut c_void,
    /// The configuration's event ticker (once made).
    pub(crate) ticker: Option<&'a Ticker>,
    /// The sink's answer being handled (`:status` included), in the callout-done hook.
    pub(crate) answer: Vec<(String, String)>,
}

impl ConfigHost<'_> {
    pub(crate) fn new(config: *mut c_void) -> Self {
        Self {
            config,
            ticker: None,
            answer: Vec::new(),
        }
    }

    fn define(&mut self, name: &str, gauge: bool) -> Result<MetricId, HostError> {
        let mut id = 0usize;
        // SAFETY: `config` is the filter configuration Envoy passed to `config_new`; the name
        // outlives the call; no label names.
        let status = unsafe {
            let define = match gauge {
                false => abi::envoy_dynamic_module_callback_http_filter_config_define_counter,
                true => abi::envoy_dynamic_module_callback_http_filter_config_define_gauge,
            };
            define(
                self.config,
                ModuleBuffer::of(name.as_bytes()),
                std::ptr::null(),
                0,
                &mut id,
            )
        };
        let call = "envoy_dynamic_module_callback_http_filter_config_define_*";
        if status != abi::METRICS_SUCCESS {
            return Err(HostError {
                call,
                status: status as u32,
            });
        }
        let id = u32::try_from(id)
            .ok()
            .filter(|id| id & GAUGE_BIT == 0)
            .ok_or(refused(call))?;
        Ok(MetricId(if gauge { id | GAUGE_BIT } else { id }))
    }
}

impl Host for ConfigHost<'_> {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        Err(unsupported("request_headers outside a request"))
    }
    fn property(&self, _path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    fn request_body(&self, _max: usize) -> Result<Vec<u8>, HostError> {
        Err(unsupported("request_body outside a request"))
    }
    fn set_request_header(&mut self, _name: &str, _value: &str) -> Result<(), HostError> {
        Err(unsupported("set_request_header outside a request"))
    }
    fn remove_request_header(&mut self, _name: &str) -> Result<(), HostError> {
        Err(unsupported("remove_request_header outside a request"))
    }
    fn add_response_header(&mut self, _name: &str, _value: &str) -> Result<(), HostError> {
        Err(unsupported("add_response_header outside a request"))
    }
    fn set_property(&mut self, _path: &[&str], _value: &[u8]) -> Result<(), HostError> {
        Err(unsupported("set_property outside a request"))
    }
    fn send_local_reply(
        &mut self,
        _status: u16,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<(), HostError> {
        Err(unsupported("send_local_reply outside a request"))
    }
    fn reset_request(&mut self) -> Result<(), HostError> {
        Err(unsupported("reset_request outside a request"))
    }
    fn now(&self) -> Result<SystemTime, HostError> {
        Ok(SystemTime::now())
    }
    fn define_counter(&mut self, name: &str) -> Result<MetricId, HostError> {
        self.define(name, false)
    }
    fn define_gauge(&mut self, name: &str) -> Result<MetricId, HostError> {
        self.define(name, true)
    }
    fn increment(&mut self, metric: MetricId, delta: i64) -> Result<(), HostError> {
        CONFIG_METRICS.apply(self.config, metric, delta)
    }
    fn set_tick_period(&mut self, period: Duration) -> Result<(), HostError> {
        tick_every(self.ticker, period)
    }
}

impl CalloutHost for ConfigHost<'_> {
    fn dispatch_http_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u32, HostError> {
        let call = "envoy_dynamic_module_callback_http_filter_config_http_callout";
        let pairs = module_pairs(headers);
        let mut id = 0u64;
        // SAFETY: `config` is the live configuration (main thread); `pairs`, the strings they
        // point into, the cluster name and `body` outlive the call (Envoy copies them).
        let status = unsafe {
            abi::envoy_dynamic_module_callback_http_filter_config_http_callout(
                self.config,
                &mut id,
                ModuleBuffer::of(cluster.as_bytes()),
                pairs.as_ptr(),
                pairs.len(),
                ModuleBuffer::of(body),
                u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            )
        };
        if status != abi::CALLOUT_STARTED {
            return Err(HostError {
                call,
                status: status as u32,
            });
        }
        u32::try_from(id).map_err(|_| refused(call))
    }

    fn http_call_response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        Ok(self.answer.clone())
    }
}
