//! The virtual clock: tests move time forward explicitly, so results never depend on the wall clock.
//!
//! One exception, as in Envoy: the WASI `MONOTONIC` clock also runs with real time, so a guest that
//! measures its own work (regorus stops an evaluation that outlasts `max_eval_ms` by reading it)
//! sees the time that work takes. The wall clock the proxy-wasm ABI reports, timers and callout
//! timeouts stay virtual.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::properties::nanos_since_epoch;

/// A wall clock that only moves when the test advances it, and a monotonic clock that also
/// runs with real time.
#[derive(Debug, Clone)]
pub(crate) struct VirtualClock {
    start: SystemTime,
    elapsed: Duration,
    /// When the clock was made, for the real time in the monotonic clock.
    created: Instant,
}

impl VirtualClock {
    pub(crate) fn new(start: SystemTime) -> Self {
        Self {
            start,
            elapsed: Duration::ZERO,
            created: Instant::now(),
        }
    }

    /// The current virtual wall-clock time.
    pub(crate) fn now(&self) -> SystemTime {
        self.start + self.elapsed
    }

    /// Nanoseconds since the Unix epoch (the `REALTIME` clock), clamped at zero.
    pub(crate) fn realtime_nanos(&self) -> u64 {
        u64::try_from(nanos_since_epoch(self.now())).unwrap_or(0)
    }

    /// Nanoseconds since the VM started (the `MONOTONIC` clock): the virtual time the test
    /// advanced plus the real time that passed.
    pub(crate) fn monotonic_nanos(&self) -> u64 {
        let since = self.elapsed + self.created.elapsed();
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Time since the clock was created.
    pub(crate) fn elapsed(&self) -> Duration {
        self.elapsed
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.elapsed += by;
    }
}

/// The default virtual start time: 2024-01-01T00:00:00Z, fixed so test output is reproducible.
pub(crate) fn default_start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_advances_only_when_told() {
        let mut clock = VirtualClock::new(default_start());
        assert_eq!(clock.realtime_nanos(), 1_704_067_200_000_000_000);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.realtime_nanos(), 1_704_067_201_500_000_000);
        assert_eq!(clock.elapsed(), Duration::from_millis(1500));
    }

    #[test]
    fn the_monotonic_clock_adds_real_time_to_virtual_time() {
        let mut clock = VirtualClock::new(default_start());
        let first = clock.monotonic_nanos();
        assert!(first < 1_000_000_000, "{first}");
        std::thread::sleep(Duration::from_millis(20));
        let second = clock.monotonic_nanos();
        assert!(second >= first + 20_000_000, "{first} then {second}");
        clock.advance(Duration::from_millis(1500));
        let third = clock.monotonic_nanos();
        assert!(third >= second + 1_500_000_000, "{second} then {third}");
        assert_eq!(
            clock.realtime_nanos(),
            1_704_067_201_500_000_000,
            "virtual only"
        );
    }
}
