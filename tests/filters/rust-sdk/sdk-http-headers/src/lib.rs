//! `sdk-http-headers`: an HTTP filter written the way a third party writes one with the proxy-wasm
//! Rust SDK (in the spirit of the SDK's `http_headers` example), so the scenario tests
//! (`tests/scenarios/rust_sdk_http_headers.yaml`) compare the harness with Envoy on a module that
//! uses the SDK's own context bookkeeping and header calls.
//!
//! Per request it
//! - logs the request headers it is given whose names are pseudo headers or start with
//!   `log_prefix` (`-> name: value`, in the host's order), then how many there were in all, and
//!   passes that count upstream in `x-sdk-request-headers`;
//! - answers `hello_path` itself: 200, `x-sdk-hello: world`, body `Hello, World!\n`;
//! - logs the response headers the same way (`<- name: value`) and adds
//!   `x-sdk-powered-by: proxy-wasm-rust-sdk`;
//! - logs `completed <method> <path> with <status> (<n> request headers)` from `on_log`, where
//!   Envoy hands it the stream's request and response headers (its access-log phase);
//! - counts requests and local replies (`sdk_headers_requests`, `sdk_headers_local_replies`).
//!
//! Configuration (JSON, every field optional):
//! `{"hello_path": "/hello", "log_prefix": "x-"}`.

#![forbid(unsafe_code)]

use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};
use serde::Deserialize;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(HeadersRoot::default()) });
}}

/// The plugin configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// The request path the filter answers itself.
    hello_path: String,
    /// Besides pseudo headers, the headers whose names start with this are logged.
    log_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hello_path: "/hello".into(),
            log_prefix: "x-".into(),
        }
    }
}

/// Ids of the plugin's counters (0 when the host refused to define one: counting is skipped).
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    requests: u32,
    local_replies: u32,
}

impl Counters {
    fn define() -> Self {
        let define = |name: &str| match hostcalls::define_metric(MetricType::Counter, name) {
            Ok(id) => id,
            Err(status) => {
                warn!("cannot define {name}: {status:?}");
                0
            }
        };
        Self {
            requests: define("sdk_headers_requests"),
            local_replies: define("sdk_headers_local_replies"),
        }
    }

    fn bump(id: u32) {
        if id != 0 {
            if let Err(status) = hostcalls::increment_metric(id, 1) {
                warn!("cannot count: {status:?}");
            }
        }
    }
}

#[derive(Debug, Default)]
struct HeadersRoot {
    config: Config,
    counters: Counters,
}

impl Context for HeadersRoot {}

impl RootContext for HeadersRoot {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        if !bytes.is_empty() {
            match serde_json::from_slice(&bytes) {
                Ok(config) => self.config = config,
                Err(e) => {
                    error!("bad configuration: {e}");
                    return false;
                }
            }
        }
        self.counters = Counters::define();
        info!(
            "configured: hello_path={} log_prefix={}",
            self.config.hello_path, self.config.log_prefix
        );
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HeadersFilter {
            context_id,
            config: self.config.clone(),
            counters: self.counters,
        }))
    }
}

struct HeadersFilter {
    context_id: u32,
    config: Config,
    counters: Counters,
}

impl HeadersFilter {
    /// Logs the pairs worth logging (pseudo headers and `log_prefix` ones), then the count.
    fn log_pairs(&self, arrow: &str, what: &str, pairs: &[(String, String)]) {
        let prefix = self.config.log_prefix.as_str();
        for (name, value) in pairs {
            if name.starts_with(':') || name.starts_with(prefix) {
                info!("#{} {arrow} {name}: {value}", self.context_id);
            }
        }
        info!("#{} {what}: {}", self.context_id, pairs.len());
    }
}

impl Context for HeadersFilter {}

impl HttpContext for HeadersFilter {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        Counters::bump(self.counters.requests);
        let pairs = self.get_http_request_headers();
        self.log_pairs("->", "request headers", &pairs);
        let path = self.get_http_request_header(":path").unwrap_or_default();
        if path == self.config.hello_path {
            Counters::bump(self.counters.local_replies);
            info!("#{} answering {path} locally", self.context_id);
            self.send_http_response(
                200,
                vec![("x-sdk-hello", "world")],
                Some(b"Hello, World!\n"),
            );
            return Action::Pause;
        }
        self.add_http_request_header("x-sdk-request-headers", &pairs.len().to_string());
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        let pairs = self.get_http_response_headers();
        self.log_pairs("<-", "response headers", &pairs);
        self.add_http_response_header("x-sdk-powered-by", "proxy-wasm-rust-sdk");
        Action::Continue
    }

    fn on_log(&mut self) {
        // Read from the pairs: `get_http_request_header` makes the SDK panic on any status but Ok
        // and NotFound, so a host that refuses the map here would trap the VM instead of showing
        // in the log line.
        let request = self.get_http_request_headers();
        let response = self.get_http_response_headers();
        let find = |pairs: &[(String, String)], name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        info!(
            "#{} completed {} {} with {} ({} request headers)",
            self.context_id,
            find(&request, ":method"),
            find(&request, ":path"),
            find(&response, ":status"),
            request.len()
        );
    }
}
