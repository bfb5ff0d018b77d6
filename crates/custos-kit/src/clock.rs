//! Where the time comes from: the system's clock in production, a clock the
//! tests set by hand, so that expiries and lockouts are tested without sleeping.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// The current time, as every expiry and lockout in the kit reads it.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until it is told to move.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock { now: Mutex::new(start) }
    }

    pub fn set(&self, now: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = now;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2025-01-01 09:00 UTC));
        assert_eq!(clock.now(), datetime!(2025-01-01 09:00 UTC));
        clock.advance(Duration::hours(12));
        assert_eq!(clock.now(), datetime!(2025-01-01 21:00 UTC));
        clock.set(datetime!(2030-06-01 00:00 UTC));
        assert_eq!(clock.now(), datetime!(2030-06-01 00:00 UTC));
    }

    #[test]
    fn the_system_clock_is_in_utc() {
        assert!(SystemClock.now().offset().is_utc());
    }
}
