//! `HostBuilder`: the module, the VM and plugin configuration, properties, environment and host hooks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::cache::{compiled, CompiledModule};
use crate::clock::default_start;
use crate::config::{HostConfig, PluginConfig};
use crate::error::HarnessError;
use crate::faults::Fault;
use crate::properties::{parse_dotted_path, PropertyValue};
use crate::shared::SharedProcess;
use crate::types::{LogLevel, Status};
use crate::upstream::{Cluster, ReceivedRequest, UpstreamResponse};

use super::{Host, Process, Thread};

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// Builds a [`Host`]. Setters never fail; [`HostBuilder::build`] reports what is wrong.
///
/// ```no_run
/// use palisade_harness::{HostBuilder, PluginConfig};
///
/// let mut host = HostBuilder::from_file("target/wasm32-wasip1/release/my_filter.wasm")
///     .plugin(PluginConfig::new("my_root").configuration(r#"{"tenant":"a"}"#))
///     .property("source.address", "10.0.0.1:1234")
///     .env("MODE", "test")
///     .build()?;
/// assert!(host.start()?.ok());
/// let s = host.new_http_stream()?;
/// host.request_headers(s, &[(":method", "GET"), (":path", "/")], true)?;
/// # Ok::<(), palisade_harness::HarnessError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HostBuilder {
    source: Source,
    config: HostConfig,
}

impl HostBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            config: HostConfig {
                vm_id: String::new(),
                vm_configuration: Vec::new(),
                plugins: Vec::new(),
                properties: Vec::new(),
                environment: Vec::new(),
                log_level: LogLevel::Trace,
                upstreams: None,
                unhealthy_upstreams: Vec::new(),
                foreign_functions: BTreeMap::new(),
                start_time: default_start(),
                random_seed: 0x5eed,
                faults: Vec::new(),
                record_host_calls: false,
                clusters: BTreeMap::new(),
                upstream: None,
            },
        }
    }

    /// A host for the `.wasm` file at `path`.
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        Self::new(Source::File(path.into()))
    }

    /// A host for a module given as bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(Source::Bytes(bytes.into()))
    }

    /// Sets the VM id (`plugin_vm_id`; shared queues are registered under it).
    pub fn vm_id(mut self, vm_id: &str) -> Self {
        self.config.vm_id = vm_id.to_string();
        self
    }

    /// Sets the VM configuration (`VM_CONFIGURATION`, given to `proxy_on_vm_start`).
    pub fn vm_configuration(mut self, configuration: impl Into<Vec<u8>>) -> Self {
        self.config.vm_configuration = configuration.into();
        self
    }

    /// Adds a plugin (root context). Without any, the host has one plugin with root id `""`.
    pub fn plugin(mut self, plugin: PluginConfig) -> Self {
        self.config.plugins.push(plugin);
        self
    }

    /// Sets a property by dotted path (`"source.address"`); later settings win.
    pub fn property(mut self, path: &str, value: impl Into<PropertyValue>) -> Self {
        self.config
            .properties
            .push((parse_dotted_path(path), value.into()));
        self
    }

    /// Sets a property by path segments (for keys that contain dots).
    pub fn property_path(mut self, path: &[&str], value: impl Into<PropertyValue>) -> Self {
        let path = path.iter().map(|s| s.to_string()).collect();
        self.config.properties.push((path, value.into()));
        self
    }

    /// Adds an environment variable the module sees through WASI (`vm_config.environment_variables`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.config
            .environment
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the host log level: what `proxy_get_log_level` returns and the lowest level recorded
    /// (default `Trace`, so tests see everything).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.config.log_level = level;
        self
    }

    /// Sets the virtual wall-clock time at start (default 2024-01-01T00:00:00Z).
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.config.start_time = time;
        self
    }

    /// Restricts callouts to these upstream (cluster) names; others get `BAD_ARGUMENT` (HTTP) or
    /// `PARSE_FAILURE` (gRPC), as for an unknown cluster in Envoy. By default every name is accepted.
    pub fn upstreams(mut self, names: &[&str]) -> Self {
        self.config.upstreams = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Marks upstreams that exist but have no healthy endpoint. Envoy answers a callout to one inline,
    /// before `proxy_http_call` returns, so the call fails with `INTERNAL_FAILURE` and no callout is made.
    pub fn unhealthy_upstreams(mut self, names: &[&str]) -> Self {
        self.config.unhealthy_upstreams = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Names a cluster the plugin's callouts may go to and how it answers them when a test drives
    /// requests with [`Host::client_request`] (a cluster without endpoints fails the dispatch, as
    /// in Envoy). Naming clusters restricts callouts to the named ones, as Envoy refuses a callout
    /// to a cluster it does not know.
    pub fn cluster(mut self, name: &str, cluster: Cluster) -> Self {
        if let Cluster::NoEndpoints = cluster {
            self.config.unhealthy_upstreams.push(name.to_string());
        }
        self.config
            .upstreams
            .get_or_insert_with(Vec::new)
            .push(name.to_string());
        self.config.clusters.insert(name.to_string(), cluster);
        self
    }

    /// The route's upstream for [`Host::client_request`]: computes its response to each request
    /// that reaches it (by default a 200 with no body).
    pub fn upstream(
        mut self,
        respond: impl Fn(&ReceivedRequest) -> UpstreamResponse + Send + Sync + 'static,
    ) -> Self {
        self.config.upstream = Some(Arc::new(respond));
        self
    }

    /// Registers a host function the plugin can call with `proxy_call_foreign_function`.
    pub fn foreign_function(
        mut self,
        name: &str,
        function: impl Fn(&[u8]) -> Result<Vec<u8>, Status> + Send + Sync + 'static,
    ) -> Self {
        self.config
            .foreign_functions
            .insert(name.to_string(), Arc::new(function));
        self
    }

    /// Seeds the deterministic source behind WASI `random_get`.
    pub fn random_seed(mut self, seed: u64) -> Self {
        self.config.random_seed = seed;
        self
    }

    /// Arms a fault on the host function `call` (an import name such as `"proxy_get_header_map_pairs"`)
    /// from the very first call, `_initialize` included; see [`Host::inject_fault`].
    pub fn fault(mut self, call: &str, fault: Fault) -> Self {
        self.config.faults.push((call.to_string(), fault, None));
        self
    }

    /// Records every host call from the start (see [`Host::host_calls`]).
    pub fn record_host_calls(mut self) -> Self {
        self.config.record_host_calls = true;
        self
    }

    /// Compiles the module (once per process, cached by content), instantiates a VM and runs the module's
    /// start functions. Call [`Host::start`] next to run `proxy_on_vm_start` and `proxy_on_configure`.
    pub fn build(self) -> Result<Host, HarnessError> {
        let (module, config) = self.compile()?;
        Host::new(module, config, SharedProcess::default(), 0)
    }

    /// Builds what an Envoy process runs at `--concurrency` `concurrency`: the module's instances
    /// on the main thread (two, the first the base instance) and on each worker (one apiece),
    /// sharing shared data, queues and metrics. [`Self::build`] gives one worker's instance alone.
    pub fn build_process(self, concurrency: u32) -> Result<Process, HarnessError> {
        let (module, config) = self.compile()?;
        let shared = SharedProcess::default();
        let threads = [Thread::Base, Thread::Main]
            .into_iter()
            .chain((0..concurrency).map(Thread::Worker));
        let instances = threads
            .enumerate()
            .map(|(instance, thread)| {
                let mut host = Host::new(
                    module.clone(),
                    config.clone(),
                    shared.clone(),
                    instance as u32,
                )?;
                host.vm.state_mut().ticks = thread != Thread::Base;
                Ok((thread, host))
            })
            .collect::<Result<Vec<_>, HarnessError>>()?;
        Ok(Process::new(instances, shared))
    }

    fn compile(mut self) -> Result<(Arc<CompiledModule>, Arc<HostConfig>), HarnessError> {
        let bytes = match self.source {
            Source::Bytes(bytes) => bytes,
            Source::File(path) => {
                std::fs::read(&path).map_err(|source| HarnessError::Read { path, source })?
            }
        };
        if self.config.plugins.is_empty() {
            self.config.plugins.push(PluginConfig::new(""));
        }
        Ok((compiled(&bytes)?, Arc::new(self.config)))
    }
}
