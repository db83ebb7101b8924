//! Decision events in the native backend: one emitter per filter configuration, fed by the
//! requests of every worker and delivered from the main thread with the configuration's HTTP
//! callouts (a stream's callouts end with its request; the configuration's do not).
//!
//! The emitter is the Wasm filter's ([`crate::events::emitter`]): the same queue, batches,
//! retries and counters. What a Wasm root context gets from proxy-wasm comes here from Envoy's
//! configuration-level callbacks: the timer is a [`Ticker`], the callouts and counters are the
//! configuration's ([`ConfigHost`]). Each worker builds its decision events (its own ids) from
//! this configuration; they queue into the shared emitter under its lock.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::host::ConfigHost;
use super::ticker::Ticker;
use crate::events::decision::DecisionEvents;
use crate::events::emitter::{EventEmitter, EventSink};
use crate::events::metrics::EventMetrics;
use crate::events::EventsConfig;

/// A callout answer: the callout's token and the answer's headers (none when it failed).
type Answer = (u32, Vec<(String, String)>);

/// The decision events of one filter configuration.
pub(crate) struct NativeEvents {
    config: EventsConfig,
    source: String,
    sink: EventSink,
    ticker: Ticker,
    /// Answers not handled yet: Envoy can answer a callout (a failure) before the call that
    /// made it returns, while the main thread holds the emitter; they are handled right after.
    answers: Mutex<VecDeque<Answer>>,
}

impl NativeEvents {
    /// Checks the `events` section, defines its counters and starts the ticker; in
    /// `config_new`, with Envoy's configuration pointer. The default `source` is
    /// `/palisade/<filter_name>`, as the Wasm filter's is `/palisade/<plugin name>`.
    pub(crate) fn start(
        config_envoy: *mut c_void,
        config: EventsConfig,
        filter_name: &str,
        policy_name: &str,
        event_kind: &str,
    ) -> Result<Self, String> {
        let metrics = EventMetrics::define(&mut ConfigHost::new(config_envoy), policy_name)
            .map_err(|err| format!("defining event metrics: {err}"))?;
        let source = config.source_for(Some(filter_name), policy_name);
        let sink = EventSink::new(EventEmitter::new(&config, metrics));
        // Made here once to refuse a bad `events.source` or `events.type_prefix` now.
        DecisionEvents::new(&config, source.clone(), event_kind, sink.clone(), 0)
            .map_err(|err| err.to_string())?;
        let events = Self {
            config,
            source,
            sink,
            ticker: Ticker::new(config_envoy)?,
            answers: Mutex::new(VecDeque::new()),
        };
        events
            .sink
            .with(|emitter| emitter.start(&mut events.host(config_envoy)));
        Ok(events)
    }

    /// The ticker, for a worker's host (a full batch asks it for a tick at once).
    pub(crate) fn ticker(&self) -> &Ticker {
        &self.ticker
    }

    /// A worker's decision events: its own id generator, the configuration's emitter.
    pub(crate) fn for_worker(&self, event_kind: &str) -> Option<DecisionEvents> {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let events = DecisionEvents::new(
            &self.config,
            self.source.clone(),
            event_kind,
            self.sink.clone(),
            seed,
        );
        events.map_err(|err| log::error!("events: {err}")).ok()
    }

    /// A tick on the main thread (`on_http_filter_config_scheduled`): starts a flush.
    pub(crate) fn on_tick(&self, config_envoy: *mut c_void) {
        let mut host = self.host(config_envoy);
        self.sink.with(|emitter| emitter.on_tick(&mut host));
        self.handle_answers(config_envoy);
    }

    /// The sink's answer (`on_http_filter_config_http_callout_done`, main thread).
    pub(crate) fn on_answer(
        &self,
        config_envoy: *mut c_void,
        token: u32,
        headers: Vec<(String, String)>,
    ) {
        self.pending().push_back((token, headers));
        self.handle_answers(config_envoy);
    }

    /// Hands the emitter the answers waiting, oldest first; when this thread already holds
    /// the emitter, leaves them to the holder (which handles them when it is done).
    fn handle_answers(&self, config_envoy: *mut c_void) {
        loop {
            let Some((token, headers)) = self.pending().pop_front() else {
                return;
            };
            let count = headers.len();
            let mut host = self.host(config_envoy);
            host.answer = headers;
            let handled = self
                .sink
                .with(|emitter| emitter.on_http_call_response(&mut host, token, count));
            if handled.is_none() {
                self.pending().push_front((token, host.answer));
                return;
            }
        }
    }

    fn pending(&self) -> MutexGuard<'_, VecDeque<Answer>> {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn host(&self, config_envoy: *mut c_void) -> ConfigHost<'_> {
        ConfigHost {
            config: config_envoy,
            ticker: Some(&self.ticker),
            answer: Vec::new(),
        }
    }
}

impl Drop for NativeEvents {
    fn drop(&mut self) {
        if let Some(queued @ 1..) = self.sink.with(|emitter| emitter.queued_events()) {
            log::warn!("events: the filter configuration is gone: dropped {queued} queued events");
        }
    }
}
