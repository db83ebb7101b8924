//! What a world observed for one step: the same shape for the harness and for Envoy, so the two can
//! be compared field by field.

use std::collections::{BTreeMap, BTreeSet};

use palisade_testkit::echo::EchoedRequest;

use crate::format::{Expect, Request, WaitFor};

/// The observable outcome of one request.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The status the client got.
    pub status: u16,
    /// Response headers the client got (names lower-case), in order.
    pub headers: Vec<(String, String)>,
    /// The response body the client got.
    pub body: String,
    /// What the echo upstream received, if anything.
    pub upstream: Option<EchoedRequest>,
    /// Callouts that reached the callout echo upstream (`auth_cluster`), in order.
    pub callouts: Vec<SeenCallout>,
    /// Plugin metrics after the request (those the scenario names).
    pub metrics: BTreeMap<String, u64>,
    /// Messages the plugin logged during the request.
    pub logs: Vec<String>,
}

/// A callout as its upstream received it.
#[derive(Debug, Clone)]
pub struct SeenCallout {
    pub cluster: String,
    pub request: EchoedRequest,
}

/// What a world observed for a `wait_for` step.
#[derive(Debug, Clone, Default)]
pub struct Waited {
    /// The metric's value when the wait ended (None: the plugin has no such metric).
    pub value: Option<u64>,
    /// Messages the plugin logged while waiting.
    pub logs: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum StepOutcome {
    Request(Box<Observed>),
    Wait(Waited),
    Slept,
}

/// The metrics and log lines a step's expectations name, so a world knows what to collect (Envoy
/// polls its log until they appear).
#[derive(Debug, Default)]
pub struct Wants {
    pub metrics: BTreeSet<String>,
    pub logs: Vec<String>,
}

impl Wants {
    pub fn of_request(request: &Request) -> Self {
        let mut wants = Wants::default();
        let only = [&request.envoy_only, &request.harness_only];
        let expects =
            std::iter::once(&request.expect).chain(only.into_iter().flatten().map(|o| &o.expect));
        for expect in expects {
            wants.add(expect);
        }
        wants
    }

    pub fn of_wait(wait: &WaitFor) -> Self {
        Wants {
            metrics: BTreeSet::from([wait.metric.clone()]),
            logs: wait.logs.clone(),
        }
    }

    fn add(&mut self, expect: &Expect) {
        self.metrics.extend(expect.metrics.keys().cloned());
        self.logs.extend(expect.logs.iter().cloned());
    }

    /// True when every wanted log line is among `logs` (Envoy's log is read until they are).
    pub fn logs_seen(&self, logs: &[String]) -> bool {
        self.logs
            .iter()
            .all(|want| logs.iter().any(|line| line.contains(want.as_str())))
    }
}

/// Every value of a header (names compared lower-case).
pub fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first value of a header.
pub fn first<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values(headers, name).into_iter().next()
}
