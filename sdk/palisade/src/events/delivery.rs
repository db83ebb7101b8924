//! What a sink's answer means, and how long to wait before trying again.
//!
//! The rules are the Knative Eventing data-plane contract's: `2xx` is delivered; `404`, `409`,
//! `429`, every `5xx`, and a request that got no answer (a failed or timed-out callout, or
//! one the proxy refused to send) are retried with exponential backoff; every other status
//! (other `4xx`, and the `1xx`/`3xx` a sink should never send) rejects the events for good.
//!
//! Backoff starts at [`INITIAL_BACKOFF`] and doubles with each failure in a row, up to
//! [`MAX_BACKOFF`]; a `Retry-After` in seconds on a retried answer (typically `429` or `503`)
//! can only lengthen the wait, up to the same cap. No jitter: each VM meets failures on its
//! own clock, and exact delays keep the behaviour testable.

use std::time::Duration;

/// The wait after the first failure.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What to do with the events a request carried, given the sink's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The sink has them.
    Delivered,
    /// Keep them at the head of the queue and try again after a backoff.
    Retry,
    /// The sink refused them for good: drop them.
    Rejected,
}

impl Verdict {
    /// The verdict for an answer with this `:status`; `None` when the request got no answer.
    pub(crate) fn of(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => Self::Delivered,
            None | Some(404 | 409 | 429 | 500..=599) => Self::Retry,
            Some(_) => Self::Rejected,
        }
    }
}

/// Exponential backoff over consecutive failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Records one more failure and returns how long to wait before the next attempt:
    /// 100 ms, 200 ms, 400 ms, ... up to 30 s. `retry_after` (the sink's hint) can lengthen it.
    pub(crate) fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let doubling = 2u32.saturating_pow(self.failures.min(20));
        self.failures = self.failures.saturating_add(1);
        let delay = INITIAL_BACKOFF.saturating_mul(doubling).min(MAX_BACKOFF);
        retry_after.map_or(delay, |hint| hint.clamp(delay, MAX_BACKOFF))
    }

    /// Forgets the failures (after a request got a final answer).
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

/// The `:status` of a response's headers, if it has a valid one.
pub(crate) fn status(headers: &[(String, String)]) -> Option<u16> {
    header(headers, ":status")
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..=599).contains(s))
}

/// A `Retry-After` given in seconds (the HTTP-date form is ignored: the proxy's clock and the
/// sink's may disagree).
pub(crate) fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    header(headers, "retry-after")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_knative_contract() {
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(Verdict::of(Some(status)), Verdict::Delivered, "{status}");
        }
        for status in [404, 409, 429, 500, 502, 503, 504, 599] {
            assert_eq!(Verdict::of(Some(status)), Verdict::Retry, "{status}");
        }
        assert_eq!(Verdict::of(None), Verdict::Retry);
        for status in [
            100, 301, 304, 400, 401, 403, 405, 408, 410, 413, 415, 422, 499,
        ] {
            assert_eq!(Verdict::of(Some(status)), Verdict::Rejected, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..12)
            .map(|_| backoff.next_delay(None).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
        for _ in 0..100 {
            assert_eq!(backoff.next_delay(None), MAX_BACKOFF);
        }
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.next_delay(None), INITIAL_BACKOFF);
    }

    #[test]
    fn retry_after_only_lengthens_the_wait() {
        let mut backoff = Backoff::default();
        assert_eq!(
            backoff.next_delay(Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff.next_delay(Some(Duration::ZERO)),
            Duration::from_millis(200)
        );
        assert_eq!(
            backoff.next_delay(Some(Duration::from_secs(3600))),
            MAX_BACKOFF
        );
    }

    #[test]
    fn statuses_and_hints_are_read_from_headers() {
        let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(status(&headers(&[(":status", "503")])), Some(503));
        assert_eq!(status(&headers(&[(":status", "abc")])), None);
        assert_eq!(status(&headers(&[(":status", "42")])), None);
        assert_eq!(status(&headers(&[])), None);
        assert_eq!(
            retry_after(&headers(&[("Retry-After", " 7 ")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            None
        );
    }
}
