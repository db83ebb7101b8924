//! An in-memory [`Host`] for the SDK's own unit tests, under [`super::run`], and (through
//! `palisade::__private`) for palisade-rego's unit tests and the fuzz targets.
// Most of it serves the SDK's unit tests only.
#![cfg_attr(not(test), allow(dead_code))]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::host::{CalloutHost, Host, HostError, MetricId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An HTTP callout a test host recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCallout {
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

impl FakeCallout {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub struct FakeHost {
    pub headers: Vec<(String, String)>,
    pub properties: HashMap<String, Vec<u8>>,
    pub property_reads: Cell<usize>,
    pub local_reply: Option<LocalReply>,
    pub metrics: Vec<(String, i64)>,
    pub body: Vec<u8>,
    pub response_headers: Vec<(String, String)>,
    pub set_properties: Vec<(String, Vec<u8>)>,
    pub fail_header_reads: bool,
    pub fail_header_writes: bool,
    /// When set, `send_local_reply` fails.
    pub fail_local_replies: bool,
    /// True once `reset_request` was called.
    pub reset: bool,
    /// The clock: this long after the Unix epoch.
    pub time: Duration,
    pub callouts: Vec<FakeCallout>,
    /// When set, `dispatch_http_call` fails with this status.
    pub fail_dispatch: Option<u32>,
    /// What `http_call_response_headers` returns.
    pub call_response: Vec<(String, String)>,
    pub tick_period: Option<Duration>,
}

const FAILED: u32 = 10; // INTERNAL_FAILURE

impl FakeHost {
    pub fn with_headers(headers: &[(&str, &str)]) -> Self {
        Self {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Self::default()
        }
    }

    pub fn counter(&self, name: &str) -> i64 {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map_or(-1, |(_, v)| *v)
    }

    /// Whether this test's thread logged a line containing `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        LOG_LINES.with(|lines| lines.borrow().iter().any(|l| l.contains(needle)))
    }

    fn write_check(&self, call: &'static str) -> Result<(), HostError> {
        if self.fail_header_writes {
            Err(HostError {
                call,
                status: FAILED,
            })
        } else {
            Ok(())
        }
    }
}

impl Host for FakeHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        install_logger();
        if self.fail_header_reads {
            return Err(HostError {
                call: "proxy_get_header_map_pairs",
                status: FAILED,
            });
        }
        Ok(self.headers.clone())
    }

    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        self.property_reads.set(self.property_reads.get() + 1);
        Ok(self.properties.get(&path.join(".")).cloned())
    }

    fn request_body(&self, max: usize) -> Result<Vec<u8>, HostError> {
        Ok(self.body.iter().take(max).copied().collect())
    }

    fn add_response_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        self.response_headers
            .push((name.to_string(), value.to_string()));
        Ok(())
    }

    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.set_properties.push((path.join("."), value.to_vec()));
        Ok(())
    }

    fn set_request_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        self.write_check("proxy_replace_header_map_value")?;
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }

    fn remove_request_header(&mut self, name: &str) -> Result<(), HostError> {
        self.write_check("proxy_remove_header_map_value")?;
        self.headers.retain(|(k, _)| k != name);
        Ok(())
    }

    fn send_local_reply(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), HostError> {
        if self.fail_local_replies {
            return Err(HostError {
                call: "proxy_send_local_response",
                status: FAILED,
            });
        }
        self.local_reply = Some(LocalReply {
            status,
            headers: headers.to_vec(),
            body: body.to_vec(),
        });
        Ok(())
    }

    fn reset_request(&mut self) -> Result<(), HostError> {
        self.reset = true;
        Ok(())
    }

    fn now(&self) -> Result<SystemTime, HostError> {
        Ok(SystemTime::UNIX_EPOCH + self.time)
    }

    fn define_counter(&mut self, name: &str) -> Result<MetricId, HostError> {
        self.metrics.push((name.to_string(), 0));
        Ok(MetricId(
            u32::try_from(self.metrics.len() - 1).unwrap_or(u32::MAX),
        ))
    }

    fn define_gauge(&mut self, name: &str) -> Result<MetricId, HostError> {
        self.define_counter(name)
    }

    fn increment(&mut self, metric: MetricId, delta: i64) -> Result<(), HostError> {
        let slot = self.metrics.get_mut(metric.0 as usize).ok_or(HostError {
            call: "proxy_increment_metric",
            status: 1,
        })?;
        slot.1 += delta;
        Ok(())
    }

    fn set_tick_period(&mut self, period: Duration) -> Result<(), HostError> {
        self.tick_period = (!period.is_zero()).then_some(period);
        Ok(())
    }
}

impl CalloutHost for FakeHost {
    fn dispatch_http_call(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<u32, HostError> {
        if let Some(status) = self.fail_dispatch {
            return Err(HostError {
                call: "proxy_http_call",
                status,
            });
        }
        let token = u32::try_from(self.callouts.len() + 1).unwrap_or(u32::MAX);
        self.callouts.push(FakeCallout {
            token,
            cluster: cluster.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            timeout,
        });
        Ok(token)
    }

    fn http_call_response_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        Ok(self.call_response.clone())
    }
}

thread_local! {
    static LOG_LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Records log lines per thread, so parallel tests each see only their own.
struct ThreadLogger;

impl log::Log for ThreadLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOG_LINES.with(|lines| lines.borrow_mut().push(record.args().to_string()));
    }
    fn flush(&self) {}
}

fn install_logger() {
    static LOGGER: ThreadLogger = ThreadLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}
