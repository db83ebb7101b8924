//! The per-test host state a wasmtime `Store` carries: no globals, so tests run in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Memory, TypedFunc};

use crate::callout::{GrpcCall, HttpCallout, HttpResponse};
use crate::clock::VirtualClock;
use crate::config::{HostConfig, PluginConfig};
use crate::faults::FaultState;
use crate::headers::HeaderMap;
use crate::shared::{QueueNotification, SharedProcess};
use crate::stream::{HttpStream, TcpConnection};
use crate::types::LogLevel;

/// One log line the plugin wrote (`proxy_log`, or stdout/stderr through WASI `fd_write`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// The effective context when it was written.
    pub context_id: u32,
}

/// What a context id refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContextKind {
    /// A plugin (root) context; the index into the configured plugins.
    Root { plugin: usize },
    /// An HTTP stream context of a root context.
    Http { root: u32 },
    /// A TCP stream context of a root context.
    Tcp { root: u32 },
}

/// Data only readable from inside one callback (the callout response, a gRPC message, ...).
#[derive(Debug, Default, Clone)]
pub(crate) struct CallbackScope {
    pub(crate) http_response: Option<HttpResponse>,
    pub(crate) grpc_initial_metadata: Option<HeaderMap>,
    pub(crate) grpc_message: Option<Vec<u8>>,
    pub(crate) grpc_trailing_metadata: Option<HeaderMap>,
    pub(crate) status: Option<(u32, Vec<u8>)>,
    pub(crate) foreign_arguments: Option<Vec<u8>>,
}

/// Work a host function asks for that must run after the current callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deferred {
    QueueReady {
        context_id: u32,
        queue_id: u32,
    },
    Done {
        context_id: u32,
    },
    /// A local reply sent before the response started: Envoy encodes it through the filter chain,
    /// the sending plugin's own `proxy_on_response_headers`/`_body` included.
    EncodeLocalReply {
        context_id: u32,
    },
    /// The plugin resumed a request stopped for all: Envoy delivers what it held to the plugin, the
    /// buffered body in one `proxy_on_request_body`, then the trailers.
    DeliverHeldRequest {
        context_id: u32,
    },
}

/// A root context's timer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TickTimer {
    pub(crate) period: Duration,
    pub(crate) next_due: Duration,
}

/// Everything the host functions read and change.
pub(crate) struct HostState {
    pub(crate) config: Arc<HostConfig>,
    pub(crate) memory: Option<Memory>,
    pub(crate) allocator: Option<TypedFunc<i32, i32>>,
    pub(crate) clock: VirtualClock,
    pub(crate) random_state: u64,
    pub(crate) logs: Vec<LogEntry>,
    /// What the host itself logged about the plugin (a trap), apart from the plugin's own lines.
    pub(crate) host_logs: Vec<LogEntry>,
    /// Properties the plugin declared with Envoy's `declare_property`.
    pub(crate) declared_properties: Vec<String>,
    /// Shared data, queues and metrics, shared with the process's other instances.
    pub(crate) process: SharedProcess,
    /// This instance's number in its process (0 for a lone host).
    pub(crate) instance: u32,
    /// False for a process's base instance, which Envoy never ticks.
    pub(crate) ticks: bool,
    pub(crate) contexts: BTreeMap<u32, ContextKind>,
    pub(crate) streams: BTreeMap<u32, HttpStream>,
    pub(crate) connections: BTreeMap<u32, TcpConnection>,
    pub(crate) http_callouts: BTreeMap<u32, HttpCallout>,
    pub(crate) grpc_calls: BTreeMap<u32, GrpcCall>,
    pub(crate) next_token: u32,
    pub(crate) effective_context: u32,
    pub(crate) scope: CallbackScope,
    pub(crate) timers: BTreeMap<u32, TickTimer>,
    pub(crate) deferred: Vec<Deferred>,
    pub(crate) faults: FaultState,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("effective_context", &self.effective_context)
            .field("contexts", &self.contexts)
            .field("streams", &self.streams.len())
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl HostState {
    pub(crate) fn new(config: Arc<HostConfig>, process: SharedProcess, instance: u32) -> Self {
        let clock = VirtualClock::new(config.start_time);
        let random_state = config.random_seed;
        let mut faults = FaultState::default();
        for (call, fault, times) in &config.faults {
            faults.inject(call, *fault, *times);
        }
        faults.set_record(config.record_host_calls);
        Self {
            config,
            memory: None,
            allocator: None,
            clock,
            random_state,
            logs: Vec::new(),
            host_logs: Vec::new(),
            declared_properties: Vec::new(),
            process,
            instance,
            ticks: true,
            contexts: BTreeMap::new(),
            streams: BTreeMap::new(),
            connections: BTreeMap::new(),
            http_callouts: BTreeMap::new(),
            grpc_calls: BTreeMap::new(),
            next_token: 1,
            effective_context: 0,
            scope: CallbackScope::default(),
            timers: BTreeMap::new(),
            deferred: Vec::new(),
            faults,
        }
    }

    /// Records a log line at the effective context, if `level` passes the host's log level.
    pub(crate) fn log(&mut self, level: LogLevel, message: String) {
        if level >= self.config.log_level {
            self.logs.push(LogEntry {
                level,
                message,
                context_id: self.effective_context,
            });
        }
    }

    /// The root context id of `context_id` (itself for a root context).
    pub(crate) fn root_of(&self, context_id: u32) -> Option<u32> {
        match self.contexts.get(&context_id)? {
            ContextKind::Root { .. } => Some(context_id),
            ContextKind::Http { root } | ContextKind::Tcp { root } => Some(*root),
        }
    }

    /// The plugin `context_id` belongs to.
    pub(crate) fn plugin_of(&self, context_id: u32) -> Option<&PluginConfig> {
        let root = self.root_of(context_id)?;
        match self.contexts.get(&root)? {
            ContextKind::Root { plugin } => self.config.plugins.get(*plugin),
            _ => None,
        }
    }

    /// The HTTP stream of the effective context.
    pub(crate) fn effective_stream(&mut self) -> Option<&mut HttpStream> {
        self.streams.get_mut(&self.effective_context)
    }

    /// The TCP connection of the effective context.
    pub(crate) fn effective_connection(&mut self) -> Option<&mut TcpConnection> {
        self.connections.get_mut(&self.effective_context)
    }

    /// Tells a queue's owner it has items: after this callback when it lives in this instance,
    /// else through the process (Envoy posts the call to the owner's thread).
    pub(crate) fn notify(&mut self, notification: QueueNotification) {
        if notification.owner.instance == self.instance {
            self.deferred.push(Deferred::QueueReady {
                context_id: notification.owner.context_id,
                queue_id: notification.queue_id,
            });
        } else {
            self.process.lock().notifications.push(notification);
        }
    }

    pub(crate) fn next_token(&mut self) -> u32 {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1).max(1);
        token
    }

    /// The next value of the deterministic random source (splitmix64).
    pub(crate) fn next_random(&mut self) -> u64 {
        self.random_state = self.random_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
