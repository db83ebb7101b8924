//! CloudEvents 1.0.2 for filters: build a valid event, then encode it for HTTP.
//!
//! [`event`] holds the event type and its validating builder; [`encode`] turns events into
//! binary, structured or batched HTTP messages. Nothing here reads a clock, a random source
//! or the host: time and ids come from the caller, so all of it is tested natively.

pub mod encode;
pub mod event;

pub use encode::{HttpMessage, BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE};
pub use event::{CloudEvent, CloudEventBuilder, Data, EventError, ExtensionValue};
