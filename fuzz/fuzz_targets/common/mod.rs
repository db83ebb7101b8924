//! What several targets share: an in-memory `Host` and a float-tolerant JSON comparison.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use palisade::__private::MetricId;
use palisade::__private::{Host, HostError};

/// An in-memory host: what the proxy would give for one request, and what was done to it.
#[derive(Debug, Default)]
pub struct MemoryHost {
    pub headers: Vec<(String, String)>,
    /// Properties by dotted path, e.g. `source.address`.
    pub properties: HashMap<String, Vec<u8>>,
    pub body: Vec<u8>,
    /// The clock; `None` makes reading it fail.
    pub now: Option<SystemTime>,
    pub removed: Vec<String>,
    pub reply: Option<u16>,
    pub set_properties: Vec<(String, Vec<u8>)>,
}

impl Host for MemoryHost {
    fn request_headers(&self) -> Result<Vec<(String, String)>, HostError> {
        Ok(self.headers.clone())
    }
    fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.properties.get(&path.join(".")).cloned())
    }
    fn request_body(&self, max: usize) -> Result<Vec<u8>, HostError> {
        Ok(self.body.iter().take(max).copied().collect())
    }
    fn set_request_header(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }
    fn remove_request_header(&mut self, name: &str) -> Result<(), HostError> {
        self.removed.push(name.to_string());
        self.headers.retain(|(k, _)| k != name);
        Ok(())
    }
    fn add_response_header(&mut self, _: &str, _: &str) -> Result<(), HostError> {
        Ok(())
    }
    fn set_property(&mut self, path: &[&str], value: &[u8]) -> Result<(), HostError> {
        self.set_properties.push((path.join("."), value.to_vec()));
        Ok(())
    }
    fn send_local_reply(
        &mut self,
        status: u16,
        _: &[(String, String)],
        _: &[u8],
    ) -> Result<(), HostError> {
        self.reply = Some(status);
        Ok(())
    }
    fn reset_request(&mut self) -> Result<(), HostError> {
        Ok(())
    }
    fn now(&self) -> Result<SystemTime, HostError> {
        self.now.ok_or(HostError {
            call: "proxy_get_current_time_nanoseconds",
            status: 10,
        })
    }
    fn define_counter(&mut self, _: &str) -> Result<MetricId, HostError> {
        Ok(MetricId(0))
    }
    fn define_gauge(&mut self, _: &str) -> Result<MetricId, HostError> {
        Ok(MetricId(0))
    }
    fn increment(&mut self, _: MetricId, _: i64) -> Result<(), HostError> {
        Ok(())
    }
    fn set_tick_period(&mut self, _: Duration) -> Result<(), HostError> {
        Ok(())
    }
}

/// JSON equality up to the last bits of floats: serde_json's default float parsing is not
/// always exact (and subnormals keep fewer digits), so a float written and read back may
/// differ in its last bit.
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) else {
                return false;
            };
            let diff = (x - y).abs();
            x == y || diff <= 4.0 * f64::EPSILON * x.abs().max(y.abs()) || diff < 1e-300
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
