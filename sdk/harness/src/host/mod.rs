//! The test-facing host: start the VM and plugins, drive streams, answer callouts, move time, look at state.

use std::sync::Arc;

use crate::cache::{AbiVersion, CompiledModule};
use crate::callout::CalloutState;
use crate::config::{FailurePolicy, HostConfig};
use crate::error::HarnessError;
use crate::headers::HeaderMap;
use crate::local_reply;
use crate::shared::SharedProcess;
use crate::state::{ContextKind, Deferred, HostState};
use crate::stream::{LocalReply, RequestKind};
use crate::vm::Vm;

mod builder;
mod callouts;
mod exchange;
mod faults;
mod http;
mod inspect;
mod process;
mod tcp;
mod time;

pub use builder::HostBuilder;
pub use process::{Process, Thread};

/// The response code details Envoy gives the 503 of a failed plugin.
const FAIL_DETAILS: &str = "wasm_fail_stream";

/// At most this many rounds of deferred work (queue notifications, `proxy_done`) per event, so a plugin
/// that re-enqueues forever cannot hang a test.
const MAX_DEFERRED_ROUNDS: usize = 1000;

/// What starting the VM and plugins returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartOutcome {
    /// True when every plugin's `proxy_on_vm_start` returned true.
    pub vm_started: bool,
    /// True when every plugin's `proxy_on_configure` returned true.
    pub configured: bool,
}

impl StartOutcome {
    /// True when both the VM start and every configuration succeeded (what Envoy needs to accept it).
    pub fn ok(&self) -> bool {
        self.vm_started && self.configured
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct PluginStatus {
    vm_started: Option<bool>,
    configured: Option<bool>,
}

/// A proxy-wasm host running one VM with one or more plugins, driven by a test.
#[derive(Debug)]
pub struct Host {
    module: Arc<CompiledModule>,
    vm: Vm,
    plugins: Vec<PluginStatus>,
    generation: u32,
    reloads: u32,
    /// Virtual time of the last VM load (start or reload), from which the reload backoff counts.
    last_load: std::time::Duration,
    next_context_id: u32,
}

impl Host {
    fn new(
        module: Arc<CompiledModule>,
        config: Arc<HostConfig>,
        process: SharedProcess,
        instance: u32,
    ) -> Result<Self, HarnessError> {
        let mut state = HostState::new(config.clone(), process, instance);
        for plugin in 0..config.plugins.len() {
            state
                .contexts
                .insert(plugin as u32 + 1, ContextKind::Root { plugin });
        }
        let vm = Vm::new(&module, state)?;
        Ok(Self {
            module,
            vm,
            plugins: vec![PluginStatus::default(); config.plugins.len()],
            generation: 0,
            reloads: 0,
            last_load: std::time::Duration::ZERO,
            next_context_id: config.plugins.len() as u32 + 1,
        })
    }

    fn config(&self) -> Arc<HostConfig> {
        self.vm.state().config.clone()
    }

    /// The ABI version marker the module exports.
    pub fn abi_version(&self) -> AbiVersion {
        self.module.abi
    }

    /// Starts the VM and configures every plugin, as Envoy does when it loads the configuration.
    pub fn start(&mut self) -> Result<StartOutcome, HarnessError> {
        let vm_started = self.start_vm()?;
        let configured = self.configure()?;
        Ok(StartOutcome {
            vm_started,
            configured,
        })
    }

    /// Creates each plugin's root context and calls `proxy_on_vm_start`; true when all returned true.
    pub fn start_vm(&mut self) -> Result<bool, HarnessError> {
        let length = self.config().vm_configuration.len() as i32;
        let mut all = true;
        for index in 0..self.plugins.len() {
            let root = index as u32 + 1;
            let create = self.vm.callbacks.on_context_create.clone();
            self.vm
                .call(create, root, (root as i32, 0))
                .map_err(|t| trap("proxy_on_context_create", t))?;
            let start = self.vm.callbacks.on_vm_start.clone();
            let ok = self
                .vm
                .call(start, root, (root as i32, length))
                .map_err(|t| trap("proxy_on_vm_start", t))?
                .is_none_or(|r| r != 0);
            self.run_deferred();
            if let Some(status) = self.plugins.get_mut(index) {
                status.vm_started = Some(ok);
            }
            all &= ok;
        }
        Ok(all)
    }

    /// Calls `proxy_on_configure` for every started plugin (starting the VM first if needed); true when all
    /// returned true. A plugin whose configuration failed takes no streams.
    pub fn configure(&mut self) -> Result<bool, HarnessError> {
        if self.plugins.iter().any(|p| p.vm_started.is_none()) {
            self.start_vm()?;
        }
        let config = self.config();
        let mut all = true;
        for (index, plugin) in config.plugins.iter().enumerate() {
            let root = index as u32 + 1;
            let started = self
                .plugins
                .get(index)
                .and_then(|p| p.vm_started)
                .unwrap_or(false);
            let ok = started && {
                let configure = self.vm.callbacks.on_configure.clone();
                let length = plugin.configuration.len() as i32;
                self.vm
                    .call(configure, root, (root as i32, length))
                    .map_err(|t| trap("proxy_on_configure", t))?
                    .is_none_or(|r| r != 0)
            };
            self.run_deferred();
            if let Some(status) = self.plugins.get_mut(index) {
                status.configured = Some(ok);
            }
            all &= ok;
        }
        Ok(all)
    }

    /// True when the plugin's VM start and configuration succeeded.
    pub fn plugin_running(&self, root_id: &str) -> bool {
        self.plugin_index(root_id)
            .ok()
            .and_then(|i| self.plugins.get(i))
            .is_some_and(|p| p.configured == Some(true))
    }

    fn plugin_index(&self, root_id: &str) -> Result<usize, HarnessError> {
        self.vm
            .state()
            .config
            .plugins
            .iter()
            .position(|p| p.root_id == root_id)
            .ok_or_else(|| HarnessError::UnknownPlugin(root_id.to_string()))
    }

    fn root_context_of(&self, root_id: &str) -> Result<u32, HarnessError> {
        Ok(self.plugin_index(root_id)? as u32 + 1)
    }

    /// The failure policy of the plugin `context_id` belongs to.
    fn policy_of(&self, context_id: u32) -> FailurePolicy {
        let state = self.vm.state();
        let root = match state.streams.get(&context_id) {
            Some(s) => s.root_context_id,
            None => state
                .connections
                .get(&context_id)
                .map_or(context_id, |c| c.root_context_id),
        };
        state
            .config
            .plugins
            .get((root as usize).wrapping_sub(1))
            .map(|p| p.failure_policy)
            .unwrap_or_default()
    }

    /// Allocates a stream context for plugin `index`, reloading a failed VM first under `Reload`.
    fn new_context(&mut self, index: usize) -> Result<(u32, u32), HarnessError> {
        let config = self.config();
        let plugin = config
            .plugins
            .get(index)
            .ok_or_else(|| HarnessError::UnknownPlugin(String::new()))?;
        // Envoy reloads when the backoff has passed since the last load, and counts the attempt as a
        // load whatever its outcome; before that the failed VM answers 503.
        if self.vm.failed && plugin.failure_policy == FailurePolicy::Reload {
            let now = self.elapsed();
            if now.saturating_sub(self.last_load) >= plugin.backoff() {
                self.last_load = now;
                self.reload()?;
            }
        }
        if self.plugins.get(index).and_then(|p| p.configured) != Some(true) {
            return Err(HarnessError::PluginNotRunning(plugin.root_id.clone()));
        }
        let context_id = self.next_context_id;
        self.next_context_id += 1;
        Ok((context_id, index as u32 + 1))
    }

    /// A callback of this context trapped. Envoy fails the HTTP stream it was running for with a 503
    /// whatever the policy (`FailOpen` only lets later streams skip the failed plugin); a TCP connection
    /// gets the policy.
    fn apply_trap(&mut self, context_id: u32) {
        let state = self.vm.state_mut();
        match state.streams.get_mut(&context_id) {
            Some(stream) => {
                stream.request_paused = false;
                stream.response_paused = false;
                if stream.local_reply.is_none() {
                    stream.local_reply = Some(fail_reply(stream.request_kind));
                }
            }
            None => self.apply_failure(context_id),
        }
    }

    /// Applies the plugin's failure policy to a stream or connection whose VM failed.
    fn apply_failure(&mut self, context_id: u32) {
        let policy = self.policy_of(context_id);
        let state = self.vm.state_mut();
        if let Some(stream) = state.streams.get_mut(&context_id) {
            match policy {
                FailurePolicy::FailOpen => stream.skipped = true,
                FailurePolicy::FailClosed | FailurePolicy::Reload => {
                    if stream.local_reply.is_none() {
                        stream.local_reply = Some(fail_reply(stream.request_kind));
                    }
                }
            }
        } else if let Some(conn) = state.connections.get_mut(&context_id) {
            match policy {
                FailurePolicy::FailOpen => conn.skipped = true,
                FailurePolicy::FailClosed | FailurePolicy::Reload => conn.failed = true,
            }
        }
    }

    fn call_on_queue_ready(&mut self, context_id: u32, queue_id: u32) {
        if !self.vm.failed {
            let f = self.vm.callbacks.on_queue_ready.clone();
            // A trap is recorded on the VM (failed) and logged; nothing else to do here.
            let _ = self
                .vm
                .call(f, context_id, (context_id as i32, queue_id as i32));
        }
    }

    /// `proxy_on_queue_ready` for a notification another instance of the process posted, then
    /// what it deferred.
    fn queue_ready(&mut self, context_id: u32, queue_id: u32) {
        self.call_on_queue_ready(context_id, queue_id);
        self.run_deferred();
    }

    /// Runs what host functions deferred to after the callback: queue notifications and `proxy_done`.
    fn run_deferred(&mut self) {
        for _ in 0..MAX_DEFERRED_ROUNDS {
            let work = std::mem::take(&mut self.vm.state_mut().deferred);
            if work.is_empty() {
                return;
            }
            for item in work {
                match item {
                    Deferred::QueueReady {
                        context_id,
                        queue_id,
                    } => self.call_on_queue_ready(context_id, queue_id),
                    Deferred::Done { context_id } => self.finalize(context_id),
                    Deferred::EncodeLocalReply { context_id } => {
                        self.encode_local_reply(context_id);
                    }
                    Deferred::DeliverHeldRequest { context_id } => {
                        self.deliver_held_request(context_id);
                    }
                }
            }
        }
    }

    /// Passes a local reply sent before the response started through the plugin's response callbacks,
    /// as Envoy encodes it through the filter chain: `proxy_on_response_headers` sees `:status` and the
    /// reply's headers, `proxy_on_response_body` its body; what the plugin changes is what the client
    /// gets. Its return values are ignored (the reply goes out regardless).
    fn encode_local_reply(&mut self, context_id: u32) {
        let live = !self.vm.failed && self.context_generation(context_id) == Some(self.generation);
        let Some(stream) = self.vm.state_mut().streams.get_mut(&context_id) else {
            return;
        };
        let Some(reply) = stream.local_reply.clone() else {
            return;
        };
        if !live || stream.skipped {
            return;
        }
        let mut headers = HeaderMap::new();
        headers.add(":status", &reply.status.to_string());
        for (name, value) in reply.headers.pairs() {
            headers.add(name, value);
        }
        let n = headers.len() as i32;
        stream.response_headers = headers;
        let end_of_stream = reply.body.is_empty();
        let ctx = context_id as i32;
        let f = self.vm.callbacks.on_response_headers.clone();
        if self
            .vm
            .call(f, context_id, (ctx, n, i32::from(end_of_stream)))
            .is_err()
        {
            return;
        }
        if !end_of_stream {
            if let Some(stream) = self.vm.state_mut().streams.get_mut(&context_id) {
                stream.response_body_buffered = reply.body.clone();
            }
            let f = self.vm.callbacks.on_response_body.clone();
            let size = reply.body.len() as i32;
            if self.vm.call(f, context_id, (ctx, size, 1)).is_err() {
                return;
            }
        }
        let Some(stream) = self.vm.state_mut().streams.get_mut(&context_id) else {
            return;
        };
        let body = std::mem::take(&mut stream.response_body_buffered);
        let headers: Vec<(String, String)> = stream.response_headers.pairs().to_vec();
        if let Some(out) = stream.local_reply.as_mut() {
            out.headers = HeaderMap::new();
            for (name, value) in headers.iter().filter(|(k, _)| !k.starts_with(':')) {
                out.headers.add(name, value);
            }
            if !end_of_stream {
                out.body = body;
            }
        }
    }

    /// `proxy_on_log` (unless the stream logged already) then `proxy_on_delete`; the context is gone
    /// afterwards. Its callouts are not cancelled: they belong to the root context, as in Envoy.
    fn finalize(&mut self, context_id: u32) {
        let live = !self.vm.failed
            && self.vm.state().contexts.contains_key(&context_id)
            && self.context_generation(context_id) == Some(self.generation);
        if live {
            if !self.vm.state().streams.contains_key(&context_id) {
                let on_log = self.vm.callbacks.on_log.clone();
                let _ = self.vm.call(on_log, context_id, context_id as i32);
            }
            let on_delete = self.vm.callbacks.on_delete.clone();
            let _ = self.vm.call(on_delete, context_id, context_id as i32);
        }
        let state = self.vm.state_mut();
        state.contexts.remove(&context_id);
        if let Some(s) = state.streams.get_mut(&context_id) {
            s.done = true;
            s.done_pending = false;
            s.deleted = true;
        }
        if let Some(c) = state.connections.get_mut(&context_id) {
            c.done = true;
            c.done_pending = false;
            c.deleted = true;
        }
    }

    /// Marks `proxy_on_log` of an HTTP stream: Envoy hands the plugin the stream's request
    /// headers again there (its access-log phase), also after they went on upstream.
    fn set_access_log_phase(&mut self, context_id: u32, on: bool) {
        if let Some(stream) = self.vm.state_mut().streams.get_mut(&context_id) {
            stream.access_log_phase = on;
        }
    }

    fn context_generation(&self, context_id: u32) -> Option<u32> {
        let state = self.vm.state();
        match state.contexts.get(&context_id)? {
            ContextKind::Root { .. } => Some(self.generation),
            ContextKind::Http { .. } => state.streams.get(&context_id).map(|s| s.vm_generation),
            ContextKind::Tcp { .. } => state.connections.get(&context_id).map(|c| c.vm_generation),
        }
    }

    /// An HTTP stream: `proxy_on_log` (Envoy writes access logs before it destroys the filters), then
    /// `proxy_on_done`, then (when it returns true) `proxy_on_delete`. A TCP connection: `proxy_on_done`,
    /// then `proxy_on_log` and `proxy_on_delete`. When `proxy_on_done` returns false the context waits
    /// for the plugin to call `proxy_done`.
    fn finish_context(&mut self, context_id: u32) {
        let live = !self.vm.failed && self.context_generation(context_id) == Some(self.generation);
        if !live {
            self.finalize(context_id);
            return;
        }
        if self.vm.state().streams.contains_key(&context_id) {
            self.set_access_log_phase(context_id, true);
            let on_log = self.vm.callbacks.on_log.clone();
            let _ = self.vm.call(on_log, context_id, context_id as i32);
            self.set_access_log_phase(context_id, false);
            self.run_deferred();
            if self.vm.failed {
                self.finalize(context_id);
                return;
            }
        }
        let on_done = self.vm.callbacks.on_done.clone();
        match self.vm.call(on_done, context_id, context_id as i32) {
            Ok(Some(0)) => {
                let state = self.vm.state_mut();
                if let Some(s) = state.streams.get_mut(&context_id) {
                    s.done_pending = true;
                }
                if let Some(c) = state.connections.get_mut(&context_id) {
                    c.done_pending = true;
                }
            }
            Ok(_) | Err(_) => self.finalize(context_id),
        }
        self.run_deferred();
    }

    /// Replaces a failed VM with a fresh instance (Envoy's `FAIL_RELOAD`): host-side state (logs, metrics,
    /// shared data, queues, streams seen so far) carries over; contexts and timers do not.
    fn reload(&mut self) -> Result<(), HarnessError> {
        let config = self.config();
        let old = self.vm.state();
        let mut fresh = HostState::new(config.clone(), old.process.clone(), old.instance);
        fresh.ticks = old.ticks;
        let mut state = std::mem::replace(self.vm.state_mut(), fresh);
        state.memory = None;
        state.allocator = None;
        state
            .contexts
            .retain(|_, k| matches!(k, ContextKind::Root { .. }));
        state.timers.clear();
        state.deferred.clear();
        state.scope = Default::default();
        state.effective_context = 0;
        for callout in state.http_callouts.values_mut() {
            if callout.state == CalloutState::Pending {
                callout.state = CalloutState::Cancelled;
            }
        }
        for call in state.grpc_calls.values_mut() {
            if call.state == CalloutState::Pending {
                call.state = CalloutState::Cancelled;
            }
        }
        self.vm = Vm::new(&self.module, state).map_err(|e| HarnessError::Reload(Box::new(e)))?;
        self.generation += 1;
        self.reloads += 1;
        self.plugins = vec![PluginStatus::default(); config.plugins.len()];
        self.start()
            .map_err(|e| HarnessError::Reload(Box::new(e)))?;
        Ok(())
    }

    /// True when a callback trapped and the VM has not been replaced.
    pub fn vm_failed(&self) -> bool {
        self.vm.failed
    }

    /// How often the VM was replaced under the `Reload` policy.
    pub fn reloads(&self) -> u32 {
        self.reloads
    }
}

/// The 503 Envoy answers for a failed plugin.
/// Envoy's 503 for a stream whose plugin failed, shaped for the request it answers.
fn fail_reply(kind: RequestKind) -> LocalReply {
    local_reply::shape(
        kind,
        503,
        FAIL_DETAILS.to_string(),
        Vec::new(),
        HeaderMap::new(),
        None,
    )
}

fn trap(callback: &'static str, t: crate::vm::Trapped) -> HarnessError {
    HarnessError::Trap {
        callback,
        message: t.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<super::Host>();
        assert_send::<super::HostBuilder>();
    }
}
