//! The counters every filter keeps, defined once per VM when the plugin is configured.

use crate::host::{Host, HostError, MetricId};

/// Per-filter request counters: `palisade.<filter>.requests_allowed`, `..._denied`, `.errors`.
#[derive(Debug, Clone, Copy)]
pub struct FilterMetrics {
    allowed: MetricId,
    denied: MetricId,
    errors: MetricId,
}

/// Which counter a request adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request went upstream.
    Allowed,
    /// The request got a local reply.
    Denied,
    /// Something failed; counted in addition to the outcome the failure mode chose.
    Error,
}

impl FilterMetrics {
    /// Defines the counters for the named filter.
    pub fn define(host: &mut dyn Host, filter: &str) -> Result<Self, HostError> {
        Ok(Self {
            allowed: host.define_counter(&format!("palisade.{filter}.requests_allowed"))?,
            denied: host.define_counter(&format!("palisade.{filter}.requests_denied"))?,
            errors: host.define_counter(&format!("palisade.{filter}.errors"))?,
        })
    }

    /// Counts one request outcome. A failure to count is logged, never fatal.
    pub fn count(&self, host: &mut dyn Host, outcome: Outcome) {
        let id = match outcome {
            Outcome::Allowed => self.allowed,
            Outcome::Denied => self.denied,
            Outcome::Error => self.errors,
        };
        if let Err(err) = host.increment(id, 1) {
            log::debug!("counting {outcome:?}: {err}");
        }
    }
}
