//! Configuration of a host: the VM, its plugins (root ids), properties, environment and host-side hooks.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::properties::PropertyValue;
use crate::types::{LogLevel, Status};

/// What Envoy does when a plugin traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The stream gets a 503 local reply; later streams too, as the VM stays failed (Envoy's default).
    #[default]
    FailClosed,
    /// The plugin is skipped for the stream and for every later stream of that VM.
    FailOpen,
    /// The stream gets a 503; a later stream gets a fresh VM instance, once the reload backoff has passed
    /// since the VM was last loaded ([`PluginConfig::reload_backoff`]); until then streams get a 503.
    Reload,
}

/// One plugin (root context) in the VM.
#[derive(Debug, Clone, Default)]
pub struct PluginConfig {
    pub(crate) name: String,
    pub(crate) root_id: String,
    pub(crate) configuration: Vec<u8>,
    pub(crate) failure_policy: FailurePolicy,
    pub(crate) reload_backoff: Option<Duration>,
    pub(crate) allow_on_headers_stop_iteration: bool,
}

/// Envoy's default `reload_config.backoff.base_interval`.
const DEFAULT_RELOAD_BACKOFF: Duration = Duration::from_secs(1);

impl PluginConfig {
    /// A plugin with this root id (also used as its name), no configuration, and `FailClosed`.
    pub fn new(root_id: &str) -> Self {
        Self {
            name: root_id.to_string(),
            root_id: root_id.to_string(),
            ..Self::default()
        }
    }

    /// Sets the plugin name (the `plugin_name` property).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Sets the plugin configuration (what `PLUGIN_CONFIGURATION` returns; Envoy passes a JSON string).
    pub fn configuration(mut self, configuration: impl Into<Vec<u8>>) -> Self {
        self.configuration = configuration.into();
        self
    }

    /// Sets the failure policy.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }

    /// Sets Envoy's `allow_on_headers_stop_iteration` (default false, as in Envoy and in what an Istio
    /// `WasmPlugin` produces). Without it Envoy turns a paused `proxy_on_request_headers` into
    /// `StopAllIterationAndWatermark`: the body and trailers are held back from the plugin too, until
    /// it resumes the request (`proxy_continue_stream`), when the buffered body is delivered to it
    /// in one `proxy_on_request_body`. With it the pause holds only the headers, and the body
    /// callbacks run.
    pub fn allow_on_headers_stop_iteration(mut self, allow: bool) -> Self {
        self.allow_on_headers_stop_iteration = allow;
        self
    }

    /// Sets how long after the last VM load a failed VM may be reloaded under `Reload` (Envoy's
    /// `reload_config.backoff.base_interval`, default 1 s; Envoy adds up to 50% jitter, the harness none).
    pub fn reload_backoff(mut self, backoff: Duration) -> Self {
        self.reload_backoff = Some(backoff);
        self
    }

    pub(crate) fn backoff(&self) -> Duration {
        self.reload_backoff.unwrap_or(DEFAULT_RELOAD_BACKOFF)
    }

    /// The root id.
    pub fn root_id(&self) -> &str {
        &self.root_id
    }
}

/// A host-side function the plugin can call with `proxy_call_foreign_function`.
pub type ForeignFunction = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, Status> + Send + Sync>;

/// Everything fixed when the host is built; shared by every VM instance (reloads included).
#[derive(Clone)]
pub(crate) struct HostConfig {
    pub(crate) vm_id: String,
    pub(crate) vm_configuration: Vec<u8>,
    pub(crate) plugins: Vec<PluginConfig>,
    pub(crate) properties: Vec<(Vec<String>, PropertyValue)>,
    pub(crate) environment: Vec<(String, String)>,
    pub(crate) log_level: LogLevel,
    pub(crate) upstreams: Option<Vec<String>>,
    pub(crate) unhealthy_upstreams: Vec<String>,
    pub(crate) foreign_functions: BTreeMap<String, ForeignFunction>,
    pub(crate) start_time: SystemTime,
    pub(crate) random_seed: u64,
    /// Faults armed from the start: (host function, fault, next n calls or every call).
    pub(crate) faults: Vec<(String, crate::faults::Fault, Option<u32>)>,
    /// Record every host call from the start.
    pub(crate) record_host_calls: bool,
    /// How the named clusters answer callouts ([`crate::Host::client_request`]).
    pub(crate) clusters: BTreeMap<String, crate::upstream::Cluster>,
    /// The route's upstream ([`crate::Host::client_request`]).
    pub(crate) upstream: Option<crate::upstream::Upstream>,
}

impl fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConfig")
            .field("vm_id", &self.vm_id)
            .field("plugins", &self.plugins)
            .field("properties", &self.properties)
            .field("environment", &self.environment)
            .field("log_level", &self.log_level)
            .field("upstreams", &self.upstreams)
            .field("unhealthy_upstreams", &self.unhealthy_upstreams)
            .field("clusters", &self.clusters)
            .field(
                "foreign_functions",
                &self.foreign_functions.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl HostConfig {
    pub(crate) fn knows_upstream(&self, name: &str) -> bool {
        self.upstreams
            .as_ref()
            .is_none_or(|list| list.iter().any(|u| u == name))
    }
}
