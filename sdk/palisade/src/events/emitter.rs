//! The emitter: takes events on the request path without waiting, and delivers them from the
//! root context's timer with HTTP callouts to the sink cluster.
//!
//! - **Emitting** ([`EventSink::emit`]) encodes the event for the configured mode and queues it
//!   ([`super::queue`]); it never blocks, never fails the request, and only counts what it had
//!   to drop.
//! - **Delivering** is one request in flight at a time, started from `on_tick` (every
//!   `flush_interval_ms`). A flush takes up to `max_batch_events` events from the head: in
//!   batched mode one request carries them all; in binary and structured modes they go one
//!   event per request, the next sent as soon as the previous is answered. After a final
//!   answer, a backlog of at least a full batch is sent at once, without waiting for the next
//!   tick, so a queue that filled while the sink was slow drains back to back. When a full
//!   batch fills between ticks (and nothing is in flight or backing off), the request path
//!   sets the timer to fire at once instead of sending itself: full batches leave within a
//!   millisecond whatever the flush interval, and the queue bounds only a sink that is slow.
//! - **Answers** follow [`super::delivery`]: delivered events leave the queue; retried ones
//!   stay at its head (still counted against its limits) until the backoff has passed, when
//!   the head is sent again (a retried batch may have grown by then); rejected ones are
//!   dropped. While a backoff is pending the tick period is set to end exactly when it does,
//!   then set back to `flush_interval_ms`.
//!
//! Nothing here touches proxy-wasm: it runs on [`CalloutHost`], so it is unit-tested with a
//! fake host and, compiled, in the harness.

use std::cell::Cell;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::config::{DeliveryMode, EventsConfig};
use super::delivery::{self, Backoff, Verdict};
use super::encode::{HttpMessage, BATCH_CONTENT_TYPE, CONTENT_TYPE_HEADER};
use super::event::{CloudEvent, EventError};
use super::metrics::{DropReason, EventCount, EventMetrics};
use super::queue::{EventQueue, Pushed};
use crate::host::{CalloutHost, Host};

/// A request the sink has not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    token: u32,
    /// Events it carries that are still at the head of the queue (dropping the oldest while it
    /// is in flight lowers this).
    events: usize,
    sent_at: SystemTime,
}

/// Queues events and delivers them to the sink; owned by the root context (see [`EventSink`]).
#[derive(Debug)]
pub(crate) struct EventEmitter {
    cluster: String,
    authority: String,
    path: String,
    mode: DeliveryMode,
    max_batch: usize,
    timeout: Duration,
    flush_interval: Duration,
    queue: EventQueue,
    metrics: EventMetrics,
    in_flight: Option<InFlight>,
    retry_at: Option<SystemTime>,
    backoff: Backoff,
    /// Events of the current flush still to be sent (binary and structured modes send them one
    /// by one; batched mode sends them at once). Zero between flushes.
    flush_left: usize,
    /// The tick period last set on the host.
    tick_period: Option<Duration>,
    /// Shut down: events emitted now (by requests that outlived a reconfiguration) are
    /// dropped at once.
    closed: bool,
}

impl EventEmitter {
    /// An emitter for this configuration, counting into `metrics`. Call [`Self::start`] from
    /// the root context to start its timer.
    pub(crate) fn new(config: &EventsConfig, metrics: EventMetrics) -> Self {
        let usize_of = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Self {
            cluster: config.sink_cluster.clone(),
            authority: config.authority().to_string(),
            path: config.sink_path.clone(),
            mode: config.mode,
            max_batch: usize_of(config.max_batch_events).max(1),
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
            flush_interval: Duration::from_millis(u64::from(config.flush_interval_ms.max(1))),
            queue: EventQueue::new(
                usize_of(config.max_queue_events),
                usize_of(config.max_queue_bytes),
            ),
            metrics,
            in_flight: None,
            retry_at: None,
            backoff: Backoff::default(),
            flush_left: 0,
            tick_period: None,
            closed: false,
        }
    }

    /// Starts the root context's timer (every `flush_interval_ms`).
    pub(crate) fn start(&mut self, host: &mut dyn CalloutHost) {
        let now = clock(host);
        self.reschedule(host, now);
    }

    /// Stops the timer and drops every queued event, counted under `reason`; a request in
    /// flight is forgotten (its answer will be ignored), and later events are dropped as they
    /// come. Returns how many were dropped.
    pub(crate) fn shut_down(&mut self, host: &mut dyn CalloutHost, reason: DropReason) -> usize {
        let dropped = self.queue.pop_front(usize::MAX);
        self.metrics
            .count(host, EventCount::Dropped(reason), dropped);
        self.metrics.queued(host, -count(dropped));
        self.in_flight = None;
        self.retry_at = None;
        self.closed = true;
        if let Err(err) = host.set_tick_period(Duration::ZERO) {
            log::warn!("events: stopping the timer: {err}");
        }
        self.tick_period = None;
        dropped
    }

    /// Queues an event for delivery; returns at once. When the queue is full the oldest
    /// events are dropped (counted as `dropped.queue_full`).
    pub(crate) fn emit(&mut self, host: &mut dyn Host, event: &CloudEvent) {
        self.queue_event(host, event);
        if self.queue.len() >= self.max_batch {
            self.flush_soon(host);
        }
    }

    fn queue_event(&mut self, host: &mut dyn Host, event: &CloudEvent) {
        self.metrics.count(host, EventCount::Emitted, 1);
        if self.closed {
            let reason = EventCount::Dropped(DropReason::Reconfigured);
            return self.metrics.count(host, reason, 1);
        }
        let message = match self.mode {
            DeliveryMode::Binary => HttpMessage::binary(event),
            DeliveryMode::Structured | DeliveryMode::Batched => HttpMessage::structured(event),
        };
        match self.queue.push(message) {
            Pushed::Queued { dropped_oldest } => {
                if let Some(flight) = &mut self.in_flight {
                    flight.events = flight.events.saturating_sub(dropped_oldest);
                }
                self.metrics.count(
                    host,
                    EventCount::Dropped(DropReason::QueueFull),
                    dropped_oldest,
                );
                self.metrics.queued(host, 1 - count(dropped_oldest));
            }
            Pushed::TooLarge => {
                log::warn!(
                    "events: dropping event {}: larger than the queue's byte limit",
                    event.id()
                );
                self.metrics
                    .count(host, EventCount::Dropped(DropReason::QueueFull), 1);
            }
        }
    }

    /// Counts an event that could not be built (dropped as `encode`).
    pub(crate) fn drop_unbuildable(&mut self, host: &mut dyn Host, err: &EventError) {
        log::warn!("events: dropping an event that could not be built: {err}");
        self.metrics.count(host, EventCount::Emitted, 1);
        self.metrics
            .count(host, EventCount::Dropped(DropReason::Encode), 1);
    }

    /// The root context's tick: starts a flush unless a request is in flight or a backoff is
    /// pending.
    pub(crate) fn on_tick(&mut self, host: &mut dyn CalloutHost) {
        let now = clock(host);
        if let Some(flight) = &self.in_flight {
            // The proxy answers every callout by its timeout; this only guards against a host
            // that never does, which would otherwise stop delivery for good.
            let wait = self.timeout.saturating_mul(2);
            let deadline = flight.sent_at.checked_add(wait).unwrap_or(flight.sent_at);
            if now < deadline {
                return self.reschedule(host, now);
            }
            log::warn!("events: callout {} was never answered", flight.token);
            let events = flight.events;
            self.in_flight = None;
            self.retry_later(host, events, now, None, None);
        }
        if self.retry_at.is_some_and(|at| now < at) {
            return self.reschedule(host, now);
        }
        self.retry_at = None;
        if !self.queue.is_empty() {
            if self.flush_left == 0 {
                self.flush_left = self.queue.len().min(self.max_batch);
            }
            self.send(host, now);
        }
        self.reschedule(host, now);
    }

    /// The answer to a callout: `num_headers` is 0 when the call failed (no answer).
    pub(crate) fn on_http_call_response(
        &mut self,
        host: &mut dyn CalloutHost,
        token: u32,
        num_headers: usize,
    ) {
        let now = clock(host);
        let Some(flight) = self.in_flight.take_if(|f| f.token == token) else {
            log::debug!("events: ignoring the answer to callout {token}, not in flight");
            return;
        };
        let headers = if num_headers == 0 {
            Vec::new()
        } else {
            host.http_call_response_headers().unwrap_or_else(|err| {
                log::warn!("events: reading the sink's answer: {err}");
                Vec::new()
            })
        };
        let status = delivery::status(&headers);
        match Verdict::of(status) {
            Verdict::Delivered => {
                self.finish(host, flight.events, EventCount::Delivered);
                if self.backoff.failures() > 0 {
                    log::info!(
                        "events: sink {} answered again after {} failed attempts",
                        self.cluster,
                        self.backoff.failures()
                    );
                }
                self.backoff.reset();
                self.send_more(host, now);
            }
            Verdict::Rejected => {
                log::warn!(
                    "events: sink {} rejected {} events with status {}; dropping them",
                    self.cluster,
                    flight.events,
                    status.unwrap_or_default()
                );
                let reason = EventCount::Dropped(DropReason::Rejected);
                self.finish(host, flight.events, reason);
                self.backoff.reset();
                self.send_more(host, now);
            }
            Verdict::Retry => {
                let hint = delivery::retry_after(&headers);
                self.retry_later(host, flight.events, now, hint, status);
            }
        }
        self.reschedule(host, now);
    }

    /// Events waiting (the batch in flight or being retried included).
    #[cfg(any(test, feature = "native"))]
    pub(crate) fn queued_events(&self) -> usize {
        self.queue.len()
    }

    /// Encoded bytes waiting.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// When the head of the queue will be sent again, if a backoff is pending.
    #[cfg(test)]
    pub(crate) fn retry_at(&self) -> Option<SystemTime> {
        self.retry_at
    }

    /// Sends the head of the queue: a batch, or one event.
    fn send(&mut self, host: &mut dyn CalloutHost, now: SystemTime) {
        let n = match self.mode {
            DeliveryMode::Batched => self.queue.len().min(self.max_batch),
            DeliveryMode::Binary | DeliveryMode::Structured => self.queue.len().min(1),
        };
        if n == 0 {
            return;
        }
        let batch;
        let message = match self.mode {
            DeliveryMode::Batched => {
                batch = batch_message(self.queue.front(n));
                Some(&batch)
            }
            DeliveryMode::Binary | DeliveryMode::Structured => self.queue.front(1).next(),
        };
        let Some(message) = message else {
            return;
        };
        let mut headers = vec![
            (":method", "POST"),
            (":path", self.path.as_str()),
            (":authority", self.authority.as_str()),
        ];
        headers.extend(
            message
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        let sent = host.dispatch_http_call(&self.cluster, &headers, &message.body, self.timeout);
        match sent {
            Ok(token) => {
                self.in_flight = Some(InFlight {
                    token,
                    events: n,
                    sent_at: now,
                });
            }
            Err(err) => {
                log::debug!("events: sending to cluster {}: {err}", self.cluster);
                self.retry_later(host, n, now, None, None);
            }
        }
    }

    /// After a final answer: the next event of this flush, or a new flush if a full batch is
    /// already waiting.
    fn send_more(&mut self, host: &mut dyn CalloutHost, now: SystemTime) {
        self.flush_left = match self.mode {
            DeliveryMode::Batched => 0,
            DeliveryMode::Binary | DeliveryMode::Structured => self.flush_left.saturating_sub(1),
        };
        if self.flush_left == 0 && self.queue.len() >= self.max_batch {
            self.flush_left = self.max_batch;
        }
        if self.queue.is_empty() {
            self.flush_left = 0;
        }
        if self.flush_left > 0 {
            self.send(host, now);
        }
    }

    /// Takes `events` from the head of the queue and counts them.
    fn finish(&mut self, host: &mut dyn Host, events: usize, as_: EventCount) {
        let removed = self.queue.pop_front(events);
        self.metrics.count(host, as_, removed);
        self.metrics.queued(host, -count(removed));
    }

    /// Keeps the head of the queue for another attempt after the backoff.
    fn retry_later(
        &mut self,
        host: &mut dyn Host,
        events: usize,
        now: SystemTime,
        hint: Option<Duration>,
        status: Option<u16>,
    ) {
        let delay = self.backoff.next_delay(hint);
        self.retry_at = Some(now.checked_add(delay).unwrap_or(now));
        self.metrics.count(host, EventCount::Retried, events);
        let answer = status.map_or_else(|| "no answer".to_string(), |s| format!("status {s}"));
        let message = format!(
            "events: sink {} failed ({answer}, attempt {}); retrying {events} events in {delay:?}",
            self.cluster,
            self.backoff.failures()
        );
        if self.backoff.failures() == 1 {
            log::warn!("{message}");
        } else {
            log::debug!("{message}");
        }
    }

    /// A full batch is waiting: the next tick comes at once, unless a request is in flight (its
    /// answer sends the backlog) or a backoff is pending (it must run out first).
    fn flush_soon(&mut self, host: &mut dyn Host) {
        if self.in_flight.is_some() || self.retry_at.is_some() || self.tick_period == Some(SOON) {
            return;
        }
        match host.set_tick_period(SOON) {
            Ok(()) => self.tick_period = Some(SOON),
            Err(err) => log::debug!("events: setting the tick period to {SOON:?}: {err}"),
        }
    }

    /// Sets the tick period to wake up when the pending backoff ends, or every flush interval.
    fn reschedule(&mut self, host: &mut dyn CalloutHost, now: SystemTime) {
        let period = match (&self.in_flight, self.retry_at) {
            (None, Some(at)) => whole_millis(at.duration_since(now).unwrap_or_default()),
            _ => self.flush_interval,
        };
        if self.tick_period == Some(period) {
            return;
        }
        match host.set_tick_period(period) {
            Ok(()) => self.tick_period = Some(period),
            Err(err) => log::warn!("events: setting the tick period to {period:?}: {err}"),
        }
    }
}

/// The tick period that asks for a flush as soon as possible (the timer's smallest).
const SOON: Duration = Duration::from_millis(1);

/// The batched-mode message for these structured-mode events: a JSON array of their bodies.
fn batch_message<'a>(events: impl Iterator<Item = &'a HttpMessage>) -> HttpMessage {
    let mut body = vec![b'['];
    for (i, event) in events.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&event.body);
    }
    body.push(b']');
    HttpMessage {
        headers: vec![(CONTENT_TYPE_HEADER.into(), BATCH_CONTENT_TYPE.into())],
        body,
    }
}

/// Rounds up to whole milliseconds (the tick timer's unit), at least one.
fn whole_millis(wait: Duration) -> Duration {
    let millis = wait.as_nanos().div_ceil(1_000_000).max(1);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The proxy's clock; the Unix epoch if it cannot tell (logged at debug).
fn clock(host: &dyn Host) -> SystemTime {
    host.now().unwrap_or_else(|err| {
        log::debug!("events: reading the clock: {err}");
        SystemTime::UNIX_EPOCH
    })
}

/// A handle on the emitter, for the request path and for delivery.
///
/// Every call locks the emitter for its duration only. In a Wasm VM (one thread) calls never
/// wait; in the native backend the workers' requests and the main thread's deliveries share one
/// emitter, and a call waits for the lock (held for one queue operation or one callout). A call
/// made from inside another on the same thread (a host that answers a callout before the call
/// returns) gets `None` instead of a deadlock or a panic.
#[derive(Debug, Clone)]
pub(crate) struct EventSink {
    emitter: Arc<Mutex<EventEmitter>>,
}

thread_local! {
    /// The emitter this thread holds the lock of (its address), 0 for none.
    static HELD: Cell<usize> = const { Cell::new(0) };
}

/// Marks an emitter held by this thread until dropped (on unwinding too).
struct Holding {
    previous: usize,
}

impl Holding {
    fn mark(emitter: usize) -> Self {
        Self {
            previous: HELD.replace(emitter),
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        HELD.set(self.previous);
    }
}

impl EventSink {
    /// Wraps an emitter.
    pub(crate) fn new(emitter: EventEmitter) -> Self {
        Self {
            emitter: Arc::new(Mutex::new(emitter)),
        }
    }

    /// Queues an event for delivery; returns at once and never fails.
    pub(crate) fn emit(&self, host: &mut dyn Host, event: &CloudEvent) {
        if self.with(|emitter| emitter.emit(host, event)).is_none() {
            log::warn!("events: the emitter is busy on this thread; dropping an event");
        }
    }

    /// Counts an event that could not be built.
    pub(crate) fn drop_unbuildable(&self, host: &mut dyn Host, err: &EventError) {
        self.with(|emitter| emitter.drop_unbuildable(host, err));
    }

    /// Whether both handles share one emitter.
    pub(crate) fn same_emitter(&self, other: &EventSink) -> bool {
        Arc::ptr_eq(&self.emitter, &other.emitter)
    }

    /// Runs `f` on the emitter; `None` when this thread already holds it. A panic that left
    /// it locked loses nothing: the queue and counts are whole between calls.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut EventEmitter) -> R) -> Option<R> {
        let address = Arc::as_ptr(&self.emitter) as usize;
        if HELD.get() == address {
            log::debug!("events: the emitter is already in use on this thread");
            return None;
        }
        let mut emitter = self.emitter.lock().unwrap_or_else(PoisonError::into_inner);
        let _holding = Holding::mark(address);
        Some(f(&mut emitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;
    use serde_json::json;

    const MS: Duration = Duration::from_millis(1);

    fn emitter(host: &mut FakeHost, config: serde_json::Value) -> EventEmitter {
        let config = EventsConfig::from_value(config).unwrap();
        let metrics = EventMetrics::define(host, "f").unwrap();
        let mut emitter = EventEmitter::new(&config, metrics);
        emitter.start(host);
        emitter
    }

    fn event(n: usize) -> CloudEvent {
        CloudEvent::builder()
            .id(format!("e{n}"))
            .source("/palisade/test")
            .event_type("io.palisade.test.decision")
            .json_data(json!({"n": n}))
            .build()
            .unwrap()
    }

    fn emit(emitter: &mut EventEmitter, host: &mut FakeHost, range: std::ops::Range<usize>) {
        for n in range {
            emitter.emit(host, &event(n));
        }
    }

    /// The ids of the events a batched callout carried, decoded by cloudevents-sdk.
    fn batch_ids(host: &FakeHost, token: u32) -> Vec<String> {
        use cloudevents::AttributesReader as _;
        let callout = &host.callouts[token as usize - 1];
        let events: Vec<cloudevents::Event> = serde_json::from_slice(&callout.body).unwrap();
        events.iter().map(|e| e.id().to_string()).collect()
    }

    fn answer(emitter: &mut EventEmitter, host: &mut FakeHost, token: u32, status: Option<u16>) {
        host.call_response = status
            .map(|s| vec![(":status".to_string(), s.to_string())])
            .unwrap_or_default();
        let headers = host.call_response.len();
        emitter.on_http_call_response(host, token, headers);
    }

    fn advance(host: &mut FakeHost, by: Duration) {
        host.time += by;
    }

    fn counters(host: &FakeHost) -> [i64; 5] {
        [
            "emitted",
            "delivered",
            "retried",
            "dropped.queue_full",
            "dropped.rejected",
        ]
        .map(|name| host.counter(&format!("palisade.f.events.{name}")))
    }

    #[test]
    fn a_tick_sends_the_queue_as_one_batch() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "sink_path": "/in", "sink_authority": "ev", "timeout_ms": 700}),
        );
        assert_eq!(host.tick_period, Some(Duration::from_secs(1)));
        emit(&mut emitter, &mut host, 0..3);
        assert!(host.callouts.is_empty(), "emitting never sends");
        assert_eq!(host.counter("palisade.f.events.queued"), 3);
        emitter.on_tick(&mut host);
        let callout = host.callouts[0].clone();
        assert_eq!(callout.cluster, "sink");
        assert_eq!(callout.header(":method"), Some("POST"));
        assert_eq!(callout.header(":path"), Some("/in"));
        assert_eq!(callout.header(":authority"), Some("ev"));
        assert_eq!(callout.header("content-type"), Some(BATCH_CONTENT_TYPE));
        assert_eq!(callout.timeout, Duration::from_millis(700));
        assert_eq!(batch_ids(&host, 1), ["e0", "e1", "e2"]);
        // Nothing more while the batch is in flight.
        emitter.on_tick(&mut host);
        assert_eq!(host.callouts.len(), 1);
        answer(&mut emitter, &mut host, 1, Some(202));
        assert_eq!(counters(&host), [3, 3, 0, 0, 0]);
        assert_eq!(host.counter("palisade.f.events.queued"), 0);
        assert_eq!(emitter.queued_bytes(), 0);
        emitter.on_tick(&mut host);
        assert_eq!(host.callouts.len(), 1, "nothing left to send");
    }

    #[test]
    fn a_backlog_drains_back_to_back_but_a_partial_batch_waits() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "max_batch_events": 3}),
        );
        emit(&mut emitter, &mut host, 0..7);
        emitter.on_tick(&mut host);
        assert_eq!(batch_ids(&host, 1), ["e0", "e1", "e2"]);
        answer(&mut emitter, &mut host, 1, Some(200));
        assert_eq!(
            batch_ids(&host, 2),
            ["e3", "e4", "e5"],
            "a full batch goes at once"
        );
        answer(&mut emitter, &mut host, 2, Some(200));
        assert_eq!(host.callouts.len(), 2, "one event waits for the next tick");
        emitter.on_tick(&mut host);
        assert_eq!(batch_ids(&host, 3), ["e6"]);
        answer(&mut emitter, &mut host, 3, Some(200));
        assert_eq!(counters(&host), [7, 7, 0, 0, 0]);
    }

    #[test]
    fn a_full_batch_brings_the_next_tick_forward() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "max_batch_events": 3, "flush_interval_ms": 5000}),
        );
        let interval = Some(Duration::from_secs(5));
        emit(&mut emitter, &mut host, 0..2);
        assert_eq!(host.tick_period, interval, "a partial batch waits");
        emit(&mut emitter, &mut host, 2..3);
        assert_eq!(host.tick_period, Some(SOON), "a full batch asks for a tick");
        assert!(host.callouts.is_empty(), "the request path never sends");
        emitter.on_tick(&mut host);
        assert_eq!(batch_ids(&host, 1), ["e0", "e1", "e2"]);
        assert_eq!(host.tick_period, interval);
        // While a batch is in flight its answer sends the backlog: no early tick.
        emit(&mut emitter, &mut host, 3..6);
        assert_eq!(host.tick_period, interval);
        answer(&mut emitter, &mut host, 1, Some(200));
        assert_eq!(batch_ids(&host, 2), ["e3", "e4", "e5"]);
        // While backing off, neither.
        answer(&mut emitter, &mut host, 2, Some(503));
        let backoff = host.tick_period;
        emit(&mut emitter, &mut host, 6..9);
        assert_eq!(host.tick_period, backoff);
        assert_ne!(backoff, Some(SOON));
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "max_queue_events": 3, "max_batch_events": 3}),
        );
        emit(&mut emitter, &mut host, 0..5);
        assert_eq!(counters(&host), [5, 0, 0, 2, 0]);
        assert_eq!(host.counter("palisade.f.events.queued"), 3);
        emitter.on_tick(&mut host);
        assert_eq!(batch_ids(&host, 1), ["e2", "e3", "e4"]);
    }

    #[test]
    fn the_byte_limit_drops_the_oldest_too() {
        let mut host = FakeHost::default();
        let one = HttpMessage::structured(&event(0));
        let size = EventQueue::size_of(&one);
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "max_queue_bytes": size * 2 + size / 2}),
        );
        emit(&mut emitter, &mut host, 0..4);
        assert_eq!(emitter.queued_events(), 2);
        assert_eq!(emitter.queued_bytes(), size * 2);
        assert_eq!(counters(&host), [4, 0, 0, 2, 0]);
        emitter.on_tick(&mut host);
        assert_eq!(batch_ids(&host, 1), ["e2", "e3"]);
    }

    #[test]
    fn dropping_events_in_flight_keeps_the_counts_exact() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "max_queue_events": 3, "max_batch_events": 3}),
        );
        emit(&mut emitter, &mut host, 0..3);
        emitter.on_tick(&mut host);
        emit(&mut emitter, &mut host, 3..5);
        answer(&mut emitter, &mut host, 1, Some(200));
        // e0 and e1 were dropped while in flight; only e2 is counted delivered.
        assert_eq!(counters(&host), [5, 1, 0, 2, 0]);
        assert_eq!(emitter.queued_events(), 2);
        emitter.on_tick(&mut host);
        assert_eq!(batch_ids(&host, 2), ["e3", "e4"]);
    }

    #[test]
    fn a_rejected_batch_is_dropped() {
        for status in [400, 401, 403, 408, 413, 301] {
            let mut host = FakeHost::default();
            let mut emitter = emitter(&mut host, json!({"sink_cluster": "sink"}));
            emit(&mut emitter, &mut host, 0..2);
            emitter.on_tick(&mut host);
            answer(&mut emitter, &mut host, 1, Some(status));
            assert_eq!(counters(&host), [2, 0, 0, 0, 2], "{status}");
            assert_eq!(emitter.queued_events(), 0);
            assert_eq!(emitter.retry_at(), None);
        }
    }

    #[test]
    fn retried_answers_back_off_and_keep_the_batch() {
        for status in [Some(404), Some(409), Some(429), Some(500), Some(503), None] {
            let mut host = FakeHost::default();
            let mut emitter = emitter(&mut host, json!({"sink_cluster": "sink"}));
            emit(&mut emitter, &mut host, 0..2);
            emitter.on_tick(&mut host);
            answer(&mut emitter, &mut host, 1, status);
            assert_eq!(counters(&host), [2, 0, 2, 0, 0], "{status:?}");
            assert_eq!(emitter.queued_events(), 2);
            assert_eq!(host.tick_period, Some(Duration::from_millis(100)));
            emit(&mut emitter, &mut host, 2..3);
            advance(&mut host, 99 * MS);
            emitter.on_tick(&mut host);
            assert_eq!(host.callouts.len(), 1, "{status:?}: still backing off");
            advance(&mut host, MS);
            emitter.on_tick(&mut host);
            assert_eq!(
                batch_ids(&host, 2),
                ["e0", "e1", "e2"],
                "the head is sent again, grown"
            );
            assert_eq!(host.tick_period, Some(Duration::from_secs(1)));
            answer(&mut emitter, &mut host, 2, Some(200));
            assert_eq!(counters(&host), [3, 3, 2, 0, 0]);
        }
    }

    #[test]
    fn backoff_doubles_until_the_sink_answers() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(&mut host, json!({"sink_cluster": "sink"}));
        emit(&mut emitter, &mut host, 0..1);
        emitter.on_tick(&mut host);
        let mut waits = Vec::new();
        for token in 1..=11 {
            answer(&mut emitter, &mut host, token, Some(503));
            let wait = emitter
                .retry_at()
                .unwrap()
                .duration_since(emitter_now(&host))
                .unwrap();
            assert_eq!(host.tick_period, Some(wait));
            waits.push(wait.as_millis());
            advance(&mut host, wait);
            emitter.on_tick(&mut host);
            assert_eq!(host.callouts.len(), token as usize + 1);
        }
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
        );
        answer(&mut emitter, &mut host, 12, Some(200));
        assert_eq!(counters(&host), [1, 1, 11, 0, 0]);
        emit(&mut emitter, &mut host, 1..2);
        emitter.on_tick(&mut host);
        answer(&mut emitter, &mut host, 13, Some(500));
        assert_eq!(
            host.tick_period,
            Some(Duration::from_millis(100)),
            "reset after success"
        );
    }

    fn emitter_now(host: &FakeHost) -> SystemTime {
        SystemTime::UNIX_EPOCH + host.time
    }

    #[test]
    fn retry_after_lengthens_the_backoff() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(&mut host, json!({"sink_cluster": "sink"}));
        emit(&mut emitter, &mut host, 0..1);
        emitter.on_tick(&mut host);
        host.call_response = vec![
            (":status".into(), "429".into()),
            ("retry-after".into(), "3".into()),
        ];
        emitter.on_http_call_response(&mut host, 1, 2);
        assert_eq!(host.tick_period, Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_refused_dispatch_is_retried() {
        let mut host = FakeHost {
            fail_dispatch: Some(10),
            ..FakeHost::default()
        };
        let mut emitter = emitter(&mut host, json!({"sink_cluster": "sink"}));
        emit(&mut emitter, &mut host, 0..2);
        emitter.on_tick(&mut host);
        assert_eq!(counters(&host), [2, 0, 2, 0, 0]);
        assert_eq!(host.tick_period, Some(Duration::from_millis(100)));
        host.fail_dispatch = None;
        advance(&mut host, 100 * MS);
        emitter.on_tick(&mut host);
        assert_eq!(batch_ids(&host, 1), ["e0", "e1"]);
    }

    #[test]
    fn binary_mode_sends_one_event_per_request_up_to_a_batch_per_flush() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "mode": "binary", "max_batch_events": 2}),
        );
        emit(&mut emitter, &mut host, 0..3);
        emitter.on_tick(&mut host);
        assert_eq!(host.callouts.len(), 1);
        assert_eq!(host.callouts[0].header("ce-id"), Some("e0"));
        assert_eq!(
            host.callouts[0].header("content-type"),
            Some("application/json")
        );
        assert_eq!(host.callouts[0].body, br#"{"n":0}"#);
        answer(&mut emitter, &mut host, 1, Some(200));
        assert_eq!(
            host.callouts[1].header("ce-id"),
            Some("e1"),
            "the flush goes on"
        );
        answer(&mut emitter, &mut host, 2, Some(503));
        advance(&mut host, 100 * MS);
        emitter.on_tick(&mut host);
        assert_eq!(host.callouts[2].header("ce-id"), Some("e1"), "retried");
        answer(&mut emitter, &mut host, 3, Some(200));
        assert_eq!(
            host.callouts.len(),
            3,
            "a flush is at most max_batch_events events"
        );
        emitter.on_tick(&mut host);
        assert_eq!(host.callouts[3].header("ce-id"), Some("e2"));
        answer(&mut emitter, &mut host, 4, Some(200));
        assert_eq!(counters(&host), [3, 3, 1, 0, 0]);
    }

    #[test]
    fn structured_mode_sends_one_json_event_per_request() {
        use cloudevents::AttributesReader as _;
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "mode": "structured"}),
        );
        emit(&mut emitter, &mut host, 0..2);
        emitter.on_tick(&mut host);
        let callout = &host.callouts[0];
        assert_eq!(
            callout.header("content-type"),
            Some(crate::events::encode::STRUCTURED_CONTENT_TYPE)
        );
        let decoded: cloudevents::Event = serde_json::from_slice(&callout.body).unwrap();
        assert_eq!(decoded.id(), "e0");
        answer(&mut emitter, &mut host, 1, Some(200));
        assert_eq!(host.callouts.len(), 2);
    }

    #[test]
    fn answers_to_unknown_callouts_are_ignored() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(&mut host, json!({"sink_cluster": "sink"}));
        emit(&mut emitter, &mut host, 0..1);
        emitter.on_tick(&mut host);
        answer(&mut emitter, &mut host, 99, Some(200));
        assert_eq!(counters(&host), [1, 0, 0, 0, 0]);
        answer(&mut emitter, &mut host, 1, Some(200));
        assert_eq!(counters(&host), [1, 1, 0, 0, 0]);
    }

    #[test]
    fn a_callout_never_answered_is_given_up_on_after_twice_its_timeout() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(
            &mut host,
            json!({"sink_cluster": "sink", "timeout_ms": 500}),
        );
        emit(&mut emitter, &mut host, 0..1);
        emitter.on_tick(&mut host);
        advance(&mut host, 999 * MS);
        emitter.on_tick(&mut host);
        assert_eq!(counters(&host)[2], 0);
        advance(&mut host, MS);
        emitter.on_tick(&mut host);
        assert_eq!(counters(&host)[2], 1, "retried");
        advance(&mut host, 100 * MS);
        emitter.on_tick(&mut host);
        assert_eq!(host.callouts.len(), 2);
        answer(&mut emitter, &mut host, 1, Some(200));
        assert_eq!(counters(&host)[1], 0, "the late answer is ignored");
    }

    #[test]
    fn shutting_down_drops_what_is_queued() {
        let mut host = FakeHost::default();
        let mut emitter = emitter(&mut host, json!({"sink_cluster": "sink"}));
        emit(&mut emitter, &mut host, 0..4);
        emitter.on_tick(&mut host);
        assert_eq!(emitter.shut_down(&mut host, DropReason::Reconfigured), 4);
        assert_eq!(host.counter("palisade.f.events.dropped.reconfigured"), 4);
        assert_eq!(host.counter("palisade.f.events.queued"), 0);
        assert_eq!(host.tick_period, None);
        emit(&mut emitter, &mut host, 4..5);
        assert_eq!(host.counter("palisade.f.events.dropped.reconfigured"), 5);
        assert_eq!(emitter.queued_events(), 0, "a late event is not kept");
    }

    #[test]
    fn the_sink_handle_emits_and_counts_unbuildable_events() {
        let mut host = FakeHost::default();
        let sink = EventSink::new(emitter(&mut host, json!({"sink_cluster": "sink"})));
        sink.emit(&mut host, &event(0));
        let err = CloudEvent::builder().build().unwrap_err();
        sink.drop_unbuildable(&mut host, &err);
        assert_eq!(host.counter("palisade.f.events.emitted"), 2);
        assert_eq!(host.counter("palisade.f.events.dropped.encode"), 1);
        assert_eq!(sink.with(|e| e.queued_events()), Some(1));
        let busy = sink.with(|_| sink.with(|_| ()));
        assert_eq!(busy, Some(None), "a nested borrow is refused, not a panic");
    }

    #[test]
    fn threads_sharing_a_sink_lose_no_event_and_a_panic_does_not_lock_it_for_good() {
        let mut host = FakeHost::default();
        let config = json!({"sink_cluster": "sink", "max_batch_events": 1000});
        let sink = EventSink::new(emitter(&mut host, config));
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut host = FakeHost::default();
                    for n in 0..50 {
                        sink.emit(&mut host, &event(worker * 100 + n));
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(sink.with(|e| e.queued_events()), Some(200));

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sink.with(|_| panic!("a bug while holding the emitter"))
        }));
        assert!(panicked.is_err());
        assert_eq!(sink.with(|e| e.queued_events()), Some(200), "usable again");
        sink.emit(&mut host, &event(1000));
        assert_eq!(sink.with(|e| e.queued_events()), Some(201));
    }
}
