//! The emitter's metrics, defined once per VM: every emitted event ends up counted exactly once
//! as delivered or dropped (by reason), or is still queued.
//!
//! `palisade.<filter>.events.emitted`, `.delivered`, `.retried` (events sent again after a
//! failure, once per retry), `.dropped.<reason>` for each [`DropReason`], and the gauge
//! `.queued` (events waiting, summed over the VMs that share the name).

use crate::host::{Host, HostError, MetricId};

/// Why an event was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The queue was full (by events or bytes) and this was the oldest event, or the event
    /// alone was larger than the byte limit.
    QueueFull,
    /// The sink answered with a status that is not retried (a `4xx` other than 404, 409, 429).
    Rejected,
    /// The event could not be built (an attribute the spec does not allow, e.g. a subject with
    /// control characters).
    Encode,
    /// The plugin was reconfigured with different `events` settings (or none) while events
    /// were still queued.
    Reconfigured,
}

impl DropReason {
    /// Every reason, in metric order.
    pub(crate) const ALL: [DropReason; 4] = [
        Self::QueueFull,
        Self::Rejected,
        Self::Encode,
        Self::Reconfigured,
    ];

    /// The reason's name in metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::Rejected => "rejected",
            Self::Encode => "encode",
            Self::Reconfigured => "reconfigured",
        }
    }
}

/// Which counter to add to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventCount {
    /// Events handed to the emitter.
    Emitted,
    /// Events the sink accepted.
    Delivered,
    /// Events sent again after a failed attempt.
    Retried,
    /// Events dropped, by reason.
    Dropped(DropReason),
}

/// The emitter's counters and its queue gauge.
#[derive(Debug, Clone)]
pub(crate) struct EventMetrics {
    emitted: MetricId,
    delivered: MetricId,
    retried: MetricId,
    dropped: Vec<(DropReason, MetricId)>,
    queued: MetricId,
}

impl EventMetrics {
    /// Defines the metrics for the named filter.
    pub(crate) fn define(host: &mut dyn Host, filter: &str) -> Result<Self, HostError> {
        let name = |metric: &str| format!("palisade.{filter}.events.{metric}");
        let dropped = DropReason::ALL
            .iter()
            .map(|reason| {
                let id = host.define_counter(&name(&format!("dropped.{}", reason.name())))?;
                Ok((*reason, id))
            })
            .collect::<Result<_, HostError>>()?;
        Ok(Self {
            emitted: host.define_counter(&name("emitted"))?,
            delivered: host.define_counter(&name("delivered"))?,
            retried: host.define_counter(&name("retried"))?,
            dropped,
            queued: host.define_gauge(&name("queued"))?,
        })
    }

    /// Adds `n` events to a counter. A failure to count is logged, never fatal.
    pub(crate) fn count(&self, host: &mut dyn Host, which: EventCount, n: usize) {
        if n == 0 {
            return;
        }
        let id = match which {
            EventCount::Emitted => self.emitted,
            EventCount::Delivered => self.delivered,
            EventCount::Retried => self.retried,
            EventCount::Dropped(reason) => match self.dropped.iter().find(|(r, _)| *r == reason) {
                Some((_, id)) => *id,
                None => return,
            },
        };
        if let Err(err) = host.increment(id, i64::try_from(n).unwrap_or(i64::MAX)) {
            log::debug!("counting {n} events as {which:?}: {err}");
        }
    }

    /// Moves the queue gauge by `delta` events.
    pub(crate) fn queued(&self, host: &mut dyn Host, delta: i64) {
        if delta == 0 {
            return;
        }
        if let Err(err) = host.increment(self.queued, delta) {
            log::debug!("moving the queued-events gauge by {delta}: {err}");
        }
    }
}
