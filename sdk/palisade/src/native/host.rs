//! [`Host`] over Envoy's dynamic-module callbacks: [`StreamHost`] for one request (the
//! `filter_envoy_ptr` Envoy handed to the hook), [`ConfigHost`] for defining metrics while the
//! filter configuration is built (Envoy freezes stat creation after `config_new`).
#![allow(unsafe_code)] // every callback is a foreign function on Envoy's pointers

use std::ffi::c_void;
use std::time::{Duration, SystemTime};

use super::abi::{self, EnvoyBuffer, Header, ModuleBuffer};
use crate::host::{Host, HostError, MetricId};

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
pub(crate) struct StreamHost {
    pub(crate) filter: *mut c_void,
}

impl StreamHost {
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

    fn metric(&mut self, metric: MetricId, delta: i64) -> i32 {
        let id = metric.0 as usize;
        let gauge = metric_is_gauge(metric);
        // SAFETY: `filter` is the live stream of the current hook; no label buffers.
        unsafe {
            match (gauge, delta >= 0) {
                (false, _) => abi::envoy_dynamic_module_callback_http_filter_increment_counter(
                    self.filter,
                    id,
                    std::ptr::null(),
                    0,
                    delta.unsigned_abs(),
                ),
                (true, true) => abi::envoy_dynamic_module_callback_http_filter_increment_gauge(
                    self.filter,
                    id,
                    std::ptr::null(),
                    0,
                    delta.unsigned_abs(),
                ),
                (true, false) => abi::envoy_dynamic_module_callback_http_filter_decrement_gauge(
                    self.filter,
                    id,
                    std::ptr::null(),
                    0,
                    delta.unsigned_abs(),
                ),
            }
        }
    }
}

/// Envoy numbers counters and gauges separately from 0; the SDK's [`MetricId`] keeps the kind
/// in its top bit.
const GAUGE_BIT: u32 = 1 << 31;

fn metric_is_gauge(metric: MetricId) -> bool {
    metric.0 & GAUGE_BIT != 0
}

impl Host for StreamHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        // SAFETY: `filter` is the live stream of the current hook.
        let size = unsafe {
            abi::envoy_dynamic_module_callback_http_get_headers_size(
                self.filter,
                abi::REQUEST_HEADERS,
            )
        };
        let mut out = vec![
            Header {
                key_ptr: std::ptr::null(),
                key_length: 0,
                value_ptr: std::ptr::null(),
                value_length: 0,
            };
            size
        ];
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
        let text = |ptr: *const u8, length: usize| {
            // SAFETY: Envoy's header map owns the bytes through this hook.
            let bytes = unsafe { EnvoyBuffer { ptr, length }.bytes() };
            String::from_utf8_lossy(bytes).into_owned()
        };
        Ok(out
            .iter()
            .map(|h| {
                (
                    text(h.key_ptr, h.key_length),
                    text(h.value_ptr, h.value_length),
                )
            })
            .collect())
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        let attribute = match path {
            ["request", "protocol"] => abi::ATTRIBUTE_REQUEST_PROTOCOL,
            ["source", "address"] => abi::ATTRIBUTE_SOURCE_ADDRESS,
            ["destination", "address"] => abi::ATTRIBUTE_DESTINATION_ADDRESS,
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
        let pairs: Vec<Header> = headers
            .iter()
            .map(|(name, value)| Header {
                key_ptr: name.as_ptr(),
                key_length: name.len(),
                value_ptr: value.as_ptr(),
                value_length: value.len(),
            })
            .collect();
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
        match self.metric(metric, delta) {
            abi::METRICS_SUCCESS => Ok(()),
            status => Err(HostError {
                call: "envoy_dynamic_module_callback_http_filter_increment_*",
                status: status as u32,
            }),
        }
    }

    fn set_tick_period(&mut self, _period: Duration) -> Result<(), HostError> {
        Err(unsupported("set_tick_period"))
    }
}

/// The filter configuration's host while Envoy builds it: defines metrics, nothing else.
pub(crate) struct ConfigHost {
    pub(crate) config: *mut c_void,
}

impl ConfigHost {
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

impl Host for ConfigHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        Err(unsupported("request_headers in config_new"))
    }
    fn property(&self, _path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    fn request_body(&self, _max: usize) -> Result<Vec<u8>, HostError> {
        Err(unsupported("request_body in config_new"))
    }
    fn set_request_header(&mut self, _name: &str, _value: &str) -> Result<(), HostError> {
        Err(unsupported("set_request_header in config_new"))
    }
    fn remove_request_header(&mut self, _name: &str) -> Result<(), HostError> {
        Err(unsupported("remove_request_header in config_new"))
    }
    fn add_response_header(&mut self, _name: &str, _value: &str) -> Result<(), HostError> {
        Err(unsupported("add_response_header in config_new"))
    }
    fn set_property(&mut self, _path: &[&str], _value: &[u8]) -> Result<(), HostError> {
        Err(unsupported("set_property in config_new"))
    }
    fn send_local_reply(
        &mut self,
        _status: u16,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<(), HostError> {
        Err(unsupported("send_local_reply in config_new"))
    }
    fn reset_request(&mut self) -> Result<(), HostError> {
        Err(unsupported("reset_request in config_new"))
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
    fn increment(&mut self, _metric: MetricId, _delta: i64) -> Result<(), HostError> {
        Err(unsupported("increment in config_new"))
    }
    fn set_tick_period(&mut self, _period: Duration) -> Result<(), HostError> {
        Err(unsupported("set_tick_period"))
    }
}
