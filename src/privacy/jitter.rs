//! Connection timing policy: accounts log in and reconnect at random, independent times so an
//! observer of the server or the network cannot link them by timing.
//!
//! Pure functions of an RNG the caller supplies (seeded in tests, `OsRng` in the app).

use std::time::Duration;

use rand::Rng;

/// Default upper bound of the random delay before an account's first connection.
pub const DEFAULT_STARTUP_MAX: Duration = Duration::from_mins(2);
/// Default base of the reconnect backoff.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Default cap of the reconnect backoff.
pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_mins(10);

/// When accounts (re)connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectSchedule {
    /// The start-up delay is uniform over `[0, startup_max]`.
    pub startup_max: Duration,
    /// Reconnect attempt `n` (from 0) waits uniformly over `[0, min(cap, base·2ⁿ)]`.
    pub backoff_base: Duration,
    /// Upper bound of any reconnect delay.
    pub backoff_cap: Duration,
}

impl Default for ConnectSchedule {
    fn default() -> Self {
        Self {
            startup_max: DEFAULT_STARTUP_MAX,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_cap: DEFAULT_BACKOFF_CAP,
        }
    }
}

impl ConnectSchedule {
    /// A schedule with the default backoff and the given start-up spread.
    pub fn with_startup_max(startup_max: Duration) -> Self {
        Self {
            startup_max,
            ..Self::default()
        }
    }

    /// How long an account waits before its first connection.
    pub fn startup_delay<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        uniform_up_to(self.startup_max, rng)
    }

    /// The largest delay reconnect attempt `attempt` (0 = first retry) may wait:
    /// `min(cap, base·2^attempt)`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .map_or(self.backoff_cap, |d| d.min(self.backoff_cap))
    }

    /// How long to wait before reconnect attempt `attempt`: exponential backoff with full
    /// jitter, uniform over `[0, backoff_ceiling(attempt)]`.
    pub fn reconnect_delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        uniform_up_to(self.backoff_ceiling(attempt), rng)
    }
}

/// Uniform over `[0, max]`, nanosecond resolution.
fn uniform_up_to<R: Rng + ?Sized>(max: Duration, rng: &mut R) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.gen_range(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn startup_delays_of_many_accounts_spread_over_the_whole_range() {
        let schedule = ConnectSchedule::default();
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<Duration> = (0..40).map(|_| schedule.startup_delay(&mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= DEFAULT_STARTUP_MAX));
        // Every quarter of the range gets some account: no clustering at one instant.
        let quarter = DEFAULT_STARTUP_MAX / 4;
        for q in 0..4 {
            let (lo, hi) = (quarter * q, quarter * (q + 1));
            assert!(
                delays.iter().any(|d| *d >= lo && *d < hi),
                "no delay in quarter {q}: {delays:?}"
            );
        }
        let mut sorted = delays.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            delays.len(),
            "two accounts got the same delay"
        );
    }

    #[test]
    fn startup_spread_is_configurable_and_zero_means_no_delay() {
        let mut rng = StdRng::seed_from_u64(1);
        let none = ConnectSchedule::with_startup_max(Duration::ZERO);
        assert_eq!(none.startup_delay(&mut rng), Duration::ZERO);
        let short = ConnectSchedule::with_startup_max(Duration::from_secs(5));
        for _ in 0..100 {
            assert!(short.startup_delay(&mut rng) <= Duration::from_secs(5));
        }
    }

    #[test]
    fn seeded_schedules_are_reproducible() {
        let schedule = ConnectSchedule::default();
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(42);
            (0..5)
                .map(|i| schedule.reconnect_delay(i, &mut rng))
                .collect()
        };
        let b: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(42);
            (0..5)
                .map(|i| schedule.reconnect_delay(i, &mut rng))
                .collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn backoff_ceiling_doubles_then_stays_at_the_cap() {
        let schedule = ConnectSchedule {
            startup_max: Duration::ZERO,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_mins(1),
        };
        let ceilings: Vec<u64> = (0..10)
            .map(|n| schedule.backoff_ceiling(n).as_secs())
            .collect();
        assert_eq!(ceilings, vec![1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(schedule.backoff_ceiling(u32::MAX), Duration::from_mins(1));
    }

    #[test]
    fn reconnect_delays_grow_with_attempts_and_never_exceed_the_cap() {
        let schedule = ConnectSchedule::default();
        let mut rng = StdRng::seed_from_u64(3);
        let mut previous_max = Duration::ZERO;
        for attempt in 0..12 {
            let samples: Vec<Duration> = (0..200)
                .map(|_| schedule.reconnect_delay(attempt, &mut rng))
                .collect();
            let max = *samples.iter().max().expect("samples");
            assert!(max <= schedule.backoff_ceiling(attempt));
            assert!(samples.iter().all(|d| *d <= DEFAULT_BACKOFF_CAP));
            // Full jitter: the largest of many draws sits near the ceiling, so it grows with
            // the ceiling until the cap.
            assert!(max >= schedule.backoff_ceiling(attempt) * 9 / 10);
            assert!(
                max >= previous_max || schedule.backoff_ceiling(attempt) == DEFAULT_BACKOFF_CAP
            );
            previous_max = max;
        }
    }
}
