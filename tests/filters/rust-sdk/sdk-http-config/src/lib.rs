//! `sdk-http-config`: an HTTP filter written the way a third party writes one with the proxy-wasm
//! Rust SDK (in the spirit of the SDK's `http_config` and `hello_world` examples), so the scenario
//! tests (`tests/scenarios/rust_sdk_http_config.yaml`) compare the harness with Envoy on plugin
//! configuration delivery and timers.
//!
//! The plugin configuration, as given, becomes the response header `x-sdk-config` of every
//! response (none when the configuration is empty). The root context sets a 50 ms tick period in
//! `on_vm_start`, and counts and logs ticks (`sdk_config_ticks`, `tick <n>`); each request is
//! counted in `sdk_config_requests` when its HTTP context is created.

#![forbid(unsafe_code)]

use std::time::Duration;

use log::{info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(ConfigRoot::default()) });
}}

/// How often the root context's `on_tick` runs.
const TICK_PERIOD: Duration = Duration::from_millis(50);

/// Defines a counter; `None` when the host refuses (counting is then skipped).
fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name)
        .map_err(|status| warn!("cannot define {name}: {status:?}"))
        .ok()
}

fn bump(counter: Option<u32>) {
    if let Some(id) = counter {
        if let Err(status) = hostcalls::increment_metric(id, 1) {
            warn!("cannot count: {status:?}");
        }
    }
}

#[derive(Debug, Default)]
struct ConfigRoot {
    /// The plugin configuration (lossy UTF-8), `None` when empty.
    header_value: Option<String>,
    ticks: u64,
    tick_counter: Option<u32>,
    request_counter: Option<u32>,
}

impl Context for ConfigRoot {}

impl RootContext for ConfigRoot {
    fn on_vm_start(&mut self, _: usize) -> bool {
        info!("vm started, ticking every {} ms", TICK_PERIOD.as_millis());
        self.set_tick_period(TICK_PERIOD);
        true
    }

    fn on_configure(&mut self, size: usize) -> bool {
        self.header_value = self
            .get_plugin_configuration()
            .filter(|bytes| !bytes.is_empty())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        self.tick_counter = counter("sdk_config_ticks");
        self.request_counter = counter("sdk_config_requests");
        info!(
            "configured with {size} bytes: {:?}",
            self.header_value.as_deref().unwrap_or_default()
        );
        true
    }

    fn on_tick(&mut self) {
        self.ticks += 1;
        bump(self.tick_counter);
        info!("tick {}", self.ticks);
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        bump(self.request_counter);
        Some(Box::new(ConfigFilter {
            header_value: self.header_value.clone(),
        }))
    }
}

struct ConfigFilter {
    header_value: Option<String>,
}

impl Context for ConfigFilter {}

impl HttpContext for ConfigFilter {
    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        if let Some(value) = &self.header_value {
            self.add_http_response_header("x-sdk-config", value);
        }
        Action::Continue
    }
}
