//! `sdk-http-auth`: an HTTP filter written the way a third party writes one with the proxy-wasm
//! Rust SDK (in the spirit of the SDK's `http_auth_random` example, but deterministic), so the
//! scenario tests (`tests/scenarios/rust_sdk_http_auth.yaml`) compare the harness with Envoy on
//! callouts made and answered through the SDK's bookkeeping (`dispatch_http_call` from an HTTP
//! context; the SDK routes `proxy_on_http_call_response` back to that context by token).
//!
//! Per request it
//! - answers 401 itself when the request has no `x-user` header (no callout);
//! - asks `cluster` (or the cluster a request header `cluster_header` names) with
//!   `GET <path>`, `:authority` `authority`, the request's path in `x-sdk-original-path` and the
//!   request headers `forward_headers` names, and pauses the request;
//! - on the answer, logs its status, header count, body size and header names; on a 200 it
//!   copies the status and the answer's body into the request headers `x-sdk-auth-status` and
//!   `x-sdk-auth-echo`, resumes the request and later marks the response `x-sdk-auth: granted`;
//!   on any other status it answers 403 `Access forbidden.` with `x-sdk-auth-status`;
//! - answers 503 with `x-sdk-auth-error: <status>` when the callout cannot be dispatched.
//!
//! Configuration (JSON, every field optional):
//! `{"cluster": "auth_cluster", "path": "/auth", "authority": "auth", "timeout_ms": 1000,
//!   "cluster_header": "x-sdk-auth-cluster", "forward_headers": ["x-user"]}`.

#![forbid(unsafe_code)]

use std::time::Duration;

use log::{error, info};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde::Deserialize;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(AuthRoot::default()) });
}}

/// The plugin configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// The cluster asked about each request.
    cluster: String,
    /// The callout's `:path`.
    path: String,
    /// The callout's `:authority`.
    authority: String,
    /// How long the host waits for the answer.
    timeout_ms: u64,
    /// A request header that names another cluster to ask (for tests of failing clusters).
    cluster_header: String,
    /// Request headers copied into the callout.
    forward_headers: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cluster: "auth_cluster".into(),
            path: "/auth".into(),
            authority: "auth".into(),
            timeout_ms: 1000,
            cluster_header: "x-sdk-auth-cluster".into(),
            forward_headers: vec!["x-user".into()],
        }
    }
}

#[derive(Debug, Default)]
struct AuthRoot {
    config: Config,
}

impl Context for AuthRoot {}

impl RootContext for AuthRoot {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        if bytes.is_empty() {
            return true;
        }
        match serde_json::from_slice(&bytes) {
            Ok(config) => {
                self.config = config;
                true
            }
            Err(e) => {
                error!("bad configuration: {e}");
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(AuthFilter {
            config: self.config.clone(),
            granted: false,
        }))
    }
}

struct AuthFilter {
    config: Config,
    /// The authorisation service allowed the request (the response is marked).
    granted: bool,
}

impl AuthFilter {
    /// Dispatches the callout for this request; `Err` carries the host's status.
    fn ask(&self) -> Result<(String, u32), proxy_wasm::types::Status> {
        let cluster = self
            .get_http_request_header(&self.config.cluster_header)
            .unwrap_or_else(|| self.config.cluster.clone());
        let original_path = self.get_http_request_header(":path").unwrap_or_default();
        let forwarded: Vec<(String, String)> = self
            .config
            .forward_headers
            .iter()
            .filter_map(|name| Some((name.clone(), self.get_http_request_header(name)?)))
            .collect();
        let mut headers = vec![
            (":method", "GET"),
            (":path", self.config.path.as_str()),
            (":authority", self.config.authority.as_str()),
            ("x-sdk-original-path", original_path.as_str()),
        ];
        headers.extend(forwarded.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let token = self.dispatch_http_call(&cluster, headers, None, vec![], timeout)?;
        Ok((cluster, token))
    }
}

impl Context for AuthFilter {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body_size: usize, _: usize) {
        // A callout that failed (reset) has no headers to read.
        let status = if headers == 0 {
            String::from("none")
        } else {
            self.get_http_call_response_header(":status")
                .unwrap_or_default()
        };
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        info!("callout #{token} answered {status}: {headers} headers, {body_size} body bytes");
        if headers > 0 {
            let names: Vec<String> = self
                .get_http_call_response_headers()
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            info!("callout #{token} answer headers: {}", names.join(" "));
        }
        if status == "200" {
            info!("access granted");
            self.granted = true;
            self.set_http_request_header("x-sdk-auth-status", Some(&status));
            self.set_http_request_header("x-sdk-auth-echo", Some(&String::from_utf8_lossy(&body)));
            self.resume_http_request();
        } else {
            info!("access forbidden");
            self.send_http_response(
                403,
                vec![("x-sdk-auth-status", &status)],
                Some(b"Access forbidden.\n"),
            );
        }
    }
}

impl HttpContext for AuthFilter {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        if self.get_http_request_header("x-user").is_none() {
            info!("no x-user, answering 401");
            self.send_http_response(
                401,
                vec![("x-sdk-auth", "missing-user")],
                Some(b"Who are you?\n"),
            );
            return Action::Pause;
        }
        match self.ask() {
            Ok((cluster, token)) => {
                info!("callout #{token} to {cluster} dispatched, pausing");
                Action::Pause
            }
            Err(status) => {
                info!("callout could not be dispatched: {status:?}");
                self.send_http_response(
                    503,
                    vec![("x-sdk-auth-error", &format!("{status:?}"))],
                    Some(b"Authorization service unavailable.\n"),
                );
                Action::Pause
            }
        }
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        if self.granted {
            self.set_http_response_header("x-sdk-auth", Some("granted"));
        }
        Action::Continue
    }
}
