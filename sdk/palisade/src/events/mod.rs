//! CloudEvents 1.0.2 for filters: build a valid event, encode it for HTTP, and deliver it to a
//! sink without slowing the request. Public: the `events` section of a plugin configuration
//! ([`EventsConfig`]); the rest is the SDK's own.
//!
//! - `event`: the event type and its validating builder.
//! - `encode`: binary, structured and batched HTTP messages.
//! - `config`: the `events` section of a plugin configuration.
//! - `queue`: the bounded queue events wait in (drop oldest when full).
//! - `delivery`: what a sink's answer means; the retry backoff.
//! - `emitter`: queueing on the request path, delivery from the root context's timer.
//! - `metrics`: emitted, delivered, retried, dropped (by reason), queued.
//! - `decision`: the decision event every filter emits when `events` is configured.
//!
//! Nothing here reads a clock, a random source or the proxy directly: time, ids and host calls
//! come from the caller (the host traits), so all of it is tested natively.

mod config;
pub(crate) mod decision;
pub(crate) mod delivery;
pub(crate) mod emitter;
pub(crate) mod encode;
pub(crate) mod event;
pub(crate) mod metrics;
pub(crate) mod queue;

pub(crate) use config::EVENTS_FIELD;
pub use config::{DeliveryMode, EventsConfig};
