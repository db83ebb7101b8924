//! CloudEvents 1.0.2 for filters: build a valid event, encode it for HTTP, and deliver it to a
//! sink without slowing the request.
//!
//! - [`event`]: the event type and its validating builder.
//! - [`encode`]: binary, structured and batched HTTP messages.
//! - [`config`]: the `events` section of a plugin configuration.
//! - [`queue`]: the bounded queue events wait in (drop oldest when full).
//! - [`delivery`]: what a sink's answer means; the retry backoff.
//! - [`emitter`]: queueing on the request path, delivery from the root context's timer.
//! - [`metrics`]: emitted, delivered, retried, dropped (by reason), queued.
//! - [`decision`]: the decision event every filter emits when `events` is configured.
//!
//! Nothing here reads a clock, a random source or the proxy directly: time, ids and host calls
//! come from the caller (the [`crate::Host`] traits), so all of it is tested natively.

pub mod config;
pub mod decision;
pub mod delivery;
pub mod emitter;
pub mod encode;
pub mod event;
pub mod metrics;
pub mod queue;

pub use config::{DeliveryMode, EventsConfig};
pub use decision::{DecisionEvents, DecisionRecord, RequestSummary};
pub use emitter::{EventEmitter, EventSink};
pub use encode::{HttpMessage, BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE};
pub use event::{CloudEvent, CloudEventBuilder, Data, EventError, ExtensionValue};
pub use metrics::{DropReason, EventMetrics};
