//! When repeated failed sign-ins lock an email address out: a pure policy
//! over the failure times the store keeps (so every node sharing the store
//! decides alike).
//!
//! By default five failures within fifteen minutes lock the address for the
//! fifteen minutes after the fifth. While locked, sign-ins are answered 429
//! without looking at the password, and are not counted, so the lockout ends
//! when it said it would. Addresses with no account are locked alike, so a
//! lockout tells nothing about whether an account exists.

use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// This many failures …
    pub failures: usize,
    /// … within this long …
    pub window: Duration,
    /// … lock the address for this long after the last of them.
    pub lockout: Duration,
}

impl LockoutPolicy {
    /// Five failures within 15 minutes lock for 15 minutes.
    pub const DEFAULT: LockoutPolicy =
        LockoutPolicy { failures: 5, window: Duration::minutes(15), lockout: Duration::minutes(15) };

    /// How far back failures can matter at `now`: the store is asked for
    /// the failures since then.
    pub fn since(&self, now: OffsetDateTime) -> OffsetDateTime {
        now - self.window - self.lockout
    }

    /// When the lockout in force at `now` ends, if one is. `failures` are
    /// the address's failure times, in any order.
    pub fn locked_until(&self, failures: &[OffsetDateTime], now: OffsetDateTime) -> Option<OffsetDateTime> {
        if self.failures == 0 {
            return None;
        }
        let mut times: Vec<OffsetDateTime> = failures.iter().copied().filter(|time| *time <= now).collect();
        times.sort();
        times
            .windows(self.failures)
            .filter(|run| run[run.len() - 1] - run[0] <= self.window)
            .map(|run| run[run.len() - 1] + self.lockout)
            .max()
            .filter(|until| now < *until)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const START: OffsetDateTime = datetime!(2025-01-01 09:00 UTC);

    fn minutes(offsets: &[i64]) -> Vec<OffsetDateTime> {
        offsets.iter().map(|minutes| START + Duration::minutes(*minutes)).collect()
    }

    #[test]
    fn four_failures_do_not_lock() {
        let policy = LockoutPolicy::DEFAULT;
        assert_eq!(policy.locked_until(&minutes(&[0, 1, 2, 3]), START + Duration::minutes(4)), None);
        assert_eq!(policy.locked_until(&[], START), None);
    }

    #[test]
    fn five_failures_in_fifteen_minutes_lock_for_fifteen_minutes_after_the_fifth() {
        let policy = LockoutPolicy::DEFAULT;
        let failures = minutes(&[0, 3, 6, 9, 12]);
        let until = START + Duration::minutes(27);
        assert_eq!(policy.locked_until(&failures, START + Duration::minutes(12)), Some(until));
        // Still locked when the first failure has left the window.
        assert_eq!(policy.locked_until(&failures, START + Duration::minutes(26)), Some(until));
        assert_eq!(policy.locked_until(&failures, until - Duration::seconds(1)), Some(until));
        assert_eq!(policy.locked_until(&failures, until), None);
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_lock() {
        let policy = LockoutPolicy::DEFAULT;
        let failures = minutes(&[0, 4, 8, 12, 16]);
        assert_eq!(policy.locked_until(&failures, START + Duration::minutes(16)), None);
        // Exactly fifteen minutes from first to fifth is within the window.
        let failures = minutes(&[0, 4, 8, 12, 15]);
        assert_eq!(policy.locked_until(&failures, START + Duration::minutes(15)), Some(START + Duration::minutes(30)));
    }

    #[test]
    fn order_does_not_matter_and_the_latest_lockout_counts() {
        let policy = LockoutPolicy::DEFAULT;
        let failures = minutes(&[40, 0, 1, 2, 3, 4, 41, 42, 43, 44]);
        assert_eq!(policy.locked_until(&failures, START + Duration::minutes(50)), Some(START + Duration::minutes(59)));
    }

    #[test]
    fn failures_after_now_are_not_counted() {
        let policy = LockoutPolicy::DEFAULT;
        assert_eq!(policy.locked_until(&minutes(&[0, 1, 2, 3, 60]), START + Duration::minutes(5)), None);
    }

    #[test]
    fn the_store_is_asked_for_the_last_half_hour() {
        assert_eq!(LockoutPolicy::DEFAULT.since(START), START - Duration::minutes(30));
    }
}
