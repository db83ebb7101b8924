//! `sdk-http-body`: an HTTP filter written the way a third party writes one with the proxy-wasm
//! Rust SDK (in the spirit of the SDK's `http_body` example), so the scenario tests
//! (`tests/scenarios/rust_sdk_http_body.yaml`) compare the harness with Envoy on a response body
//! buffered by the host and replaced by the filter.
//!
//! It removes `content-length` from every response (the body may change length later, and the
//! response headers can no longer be changed then), marks the response `x-sdk-body: buffered`,
//! pauses each response body callback until the end of the stream (so the host buffers the whole
//! body), and replaces the body with `Original message body (<n> bytes) redacted.\n` when it holds
//! the word the plugin configuration gives (default `secret`). It logs what it saw at the end.

#![forbid(unsafe_code)]

use log::info;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(BodyRoot { word: DEFAULT_WORD.into() })
    });
}}

/// The word that makes the filter redact a response body, unless configured otherwise.
const DEFAULT_WORD: &str = "secret";

struct BodyRoot {
    word: String,
}

impl Context for BodyRoot {}

impl RootContext for BodyRoot {
    fn on_configure(&mut self, _: usize) -> bool {
        if let Some(bytes) = self.get_plugin_configuration() {
            let word = String::from_utf8_lossy(&bytes).trim().to_string();
            if !word.is_empty() {
                self.word = word;
            }
        }
        info!("redacting bodies that hold {:?}", self.word);
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(BodyFilter {
            word: self.word.clone(),
        }))
    }
}

struct BodyFilter {
    word: String,
}

impl Context for BodyFilter {}

impl HttpContext for BodyFilter {
    fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        // The length changes if the body is replaced, and the headers are gone by then.
        self.set_http_response_header("content-length", None);
        self.set_http_response_header("x-sdk-body", Some("buffered"));
        info!("response headers, end_of_stream={end_of_stream}");
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            // Called again with everything buffered so far once more arrives.
            return Action::Pause;
        }
        let body = self
            .get_http_response_body(0, body_size)
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        if text.contains(self.word.as_str()) {
            let redacted = format!("Original message body ({body_size} bytes) redacted.\n");
            self.set_http_response_body(0, body_size, redacted.as_bytes());
            info!("redacted a body of {body_size} bytes");
        } else {
            info!("passed a body of {body_size} bytes");
        }
        Action::Continue
    }
}
