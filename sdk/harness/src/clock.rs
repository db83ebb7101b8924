//! The virtual clock: tests move time forward explicitly, so results never depend on the wall clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::properties::nanos_since_epoch;

/// A wall clock and a monotonic clock that only move when the test advances them.
#[derive(Debug, Clone)]
pub(crate) struct VirtualClock {
    start: SystemTime,
    elapsed: Duration,
}

impl VirtualClock {
    pub(crate) fn new(start: SystemTime) -> Self {
        Self {
            start,
            elapsed: Duration::ZERO,
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

    /// Nanoseconds since the VM started (the `MONOTONIC` clock).
    pub(crate) fn monotonic_nanos(&self) -> u64 {
        u64::try_from(self.elapsed.as_nanos()).unwrap_or(u64::MAX)
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
    fn advances_only_when_told() {
        let mut clock = VirtualClock::new(default_start());
        assert_eq!(clock.realtime_nanos(), 1_704_067_200_000_000_000);
        assert_eq!(clock.monotonic_nanos(), 0);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.monotonic_nanos(), 1_500_000_000);
        assert_eq!(clock.realtime_nanos(), 1_704_067_201_500_000_000);
        assert_eq!(clock.elapsed(), Duration::from_millis(1500));
    }
}
