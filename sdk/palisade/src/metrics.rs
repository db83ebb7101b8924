//! The counters every filter keeps, defined once per VM when the plugin is configured.

use crate::host::{Host, HostError, MetricId};

/// Per-filter request counters: `palisade.<filter>.requests_allowed`, `..._denied`,
/// `.errors`, and `.errors.<reason>` for each reason the filter declares.
#[derive(Debug, Clone)]
pub(crate) struct FilterMetrics {
    allowed: MetricId,
    denied: MetricId,
    errors: MetricId,
    reasons: Vec<(&'static str, MetricId)>,
}

/// The error reason the SDK itself counts for every filter: a decision it refused to carry out
/// (a header that is not valid HTTP).
pub(crate) const BAD_DECISION: &str = "bad_decision";

/// Which counter a request adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The request went upstream.
    Allowed,
    /// The request got a local reply.
    Denied,
    /// Something failed (for this reason, if one was given); counted in addition to the
    /// outcome the failure mode chose.
    Error(Option<&'static str>),
}

impl FilterMetrics {
    /// Defines the counters for the named filter, its error reasons and the SDK's
    /// ([`BAD_DECISION`]).
    pub(crate) fn define(
        host: &mut dyn Host,
        filter: &str,
        reasons: &[&'static str],
    ) -> Result<Self, HostError> {
        let mut counter = |name: &str| host.define_counter(&format!("palisade.{filter}.{name}"));
        Ok(Self {
            allowed: counter("requests_allowed")?,
            denied: counter("requests_denied")?,
            errors: counter("errors")?,
            reasons: reasons
                .iter()
                .chain((!reasons.contains(&BAD_DECISION)).then_some(&BAD_DECISION))
                .map(|reason| Ok((*reason, counter(&format!("errors.{reason}"))?)))
                .collect::<Result<_, HostError>>()?,
        })
    }

    /// Counts one request outcome. A failure to count is logged, never fatal.
    pub(crate) fn count(&self, host: &mut dyn Host, outcome: Outcome) {
        let mut ids = vec![match outcome {
            Outcome::Allowed => self.allowed,
            Outcome::Denied => self.denied,
            Outcome::Error(_) => self.errors,
        }];
        if let Outcome::Error(Some(reason)) = outcome {
            ids.extend(
                self.reasons
                    .iter()
                    .filter(|(r, _)| *r == reason)
                    .map(|(_, id)| *id),
            );
        }
        for id in ids {
            if let Err(err) = host.increment(id, 1) {
                log::debug!("counting {outcome:?}: {err}");
            }
        }
    }
}
