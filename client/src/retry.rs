//! [`RetryPolicy`] (re-exported at the crate root) and the seeded jitter it sleeps with.

use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{Rng as _, SeedableRng as _};

/// How the client retries failures that may heal.
///
/// Two kinds of retry, as in the official SDK (`helpers/retry.py`, `core/orchestrator.py`):
///
/// - **transient failures** (`ERROR_SERVER_ERROR`, `ERROR_INTERNAL_SERVER_ERROR`, HTTP 5xx and
///   429, connection failures, and, unlike the SDK, the rate-limit penalties `MAX_USER_TURN`,
///   `ERROR: 1003` and `ERROR: 1005`): exponential backoff `base * factor^(n-1)`, capped,
///   plus jitter, at most `max_retries` times in a row. 2captcha's blocks (`ERROR: 1001` to
///   `1004`) also pause every request of the client until they lift (their documented
///   duration: 10 minutes for 1001 and 1004, 5 for 1002, 30 seconds for 1003); the long ones
///   are reported, not retried;
/// - **busy threads** (`ERROR_ZERO_BALANCE` confirmed by `threadsinfo`, or
///   `ERROR_NO_SLOT_AVAILABLE`): a steady `busy_interval` plus jitter, for at most
///   `busy_budget` of (tokio) time.
///
/// Jitter comes from a ChaCha8 stream seeded from the client seed and a stream id (the task
/// id for polling, a submit sequence number for submits), so that a run with a fixed seed
/// sleeps exactly the same durations every time, whatever the interleaving of tasks.
///
/// ```
/// use std::time::Duration;
/// use captchaai_client::RetryPolicy;
///
/// let fast = RetryPolicy::default()
///     .max_retries(3)
///     .backoff(Duration::from_millis(10), 2, Duration::from_millis(100))
///     .jitter(Duration::ZERO)
///     .busy(Duration::from_millis(20), Duration::ZERO, Duration::from_millis(200));
/// assert_eq!(fast.max_retries, 3);
/// assert!(RetryPolicy::none().max_retries == 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Transient failures retried in a row before giving up (SDK: 5).
    pub max_retries: u32,
    /// First backoff delay (SDK: 5 s).
    pub backoff_base: Duration,
    /// Growth factor per retry (SDK: 2).
    pub backoff_factor: u32,
    /// Upper bound of one backoff delay, before jitter.
    pub backoff_max: Duration,
    /// Upper bound of the random extra added to each backoff (SDK: 1 s).
    pub jitter: Duration,
    /// Wait between submits while every thread is busy (SDK: 8 s).
    pub busy_interval: Duration,
    /// Upper bound of the random extra added to each busy wait (SDK: 3 s).
    pub busy_jitter: Duration,
    /// How long to keep retrying while every thread is busy (SDK: 120 s). Zero raises
    /// [`crate::ErrorKind::ThreadLimit`] at once.
    pub busy_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            backoff_base: Duration::from_secs(5),
            backoff_factor: 2,
            backoff_max: Duration::from_secs(60),
            jitter: Duration::from_secs(1),
            busy_interval: Duration::from_secs(8),
            busy_jitter: Duration::from_secs(3),
            busy_budget: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (the SDK's `auto_retry=False`): transient failures and busy threads
    /// are reported at once.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            busy_budget: Duration::ZERO,
            ..RetryPolicy::default()
        }
    }

    /// Sets `max_retries`.
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the exponential backoff: first delay, growth factor, cap.
    pub fn backoff(mut self, base: Duration, factor: u32, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_factor = factor;
        self.backoff_max = max;
        self
    }

    /// Sets the jitter bound of the backoff.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the busy-thread retry: interval, jitter bound, total budget.
    pub fn busy(mut self, interval: Duration, jitter: Duration, budget: Duration) -> Self {
        self.busy_interval = interval;
        self.busy_jitter = jitter;
        self.busy_budget = budget;
        self
    }

    /// The delay before transient retry number `retry` (1-based), jitter included.
    pub(crate) fn backoff_delay(&self, retry: u32, jitter: &mut Jitter) -> Duration {
        let factor = self
            .backoff_factor
            .max(1)
            .checked_pow(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let base = self
            .backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max);
        base.saturating_add(jitter.up_to(self.jitter))
    }

    /// The delay before the next busy-thread retry, jitter included.
    pub(crate) fn busy_delay(&self, jitter: &mut Jitter) -> Duration {
        self.busy_interval
            .saturating_add(jitter.up_to(self.busy_jitter))
    }
}

/// A deterministic jitter source: one ChaCha8 stream per (seed, stream id).
#[derive(Debug)]
pub(crate) struct Jitter(ChaCha8Rng);

impl Jitter {
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        Jitter(ChaCha8Rng::seed_from_u64(splitmix64(
            seed ^ splitmix64(stream),
        )))
    }

    /// A uniformly drawn duration in `0..=max` (nanosecond resolution), from `next_u64` with
    /// our own mapping so that the values do not depend on `rand`'s distribution code.
    pub(crate) fn up_to(&mut self, max: Duration) -> Duration {
        let max_nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if max_nanos == 0 {
            return Duration::ZERO;
        }
        let draw = self.0.next_u64();
        let nanos = match max_nanos.checked_add(1) {
            Some(span) => draw % span,
            None => draw,
        };
        Duration::from_nanos(nanos)
    }
}

/// The SplitMix64 finaliser: spreads nearby seeds and stream ids apart.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_caps() {
        let policy = RetryPolicy::default().jitter(Duration::ZERO);
        let mut j = Jitter::new(1, 1);
        let delays: Vec<u64> = (1..=6)
            .map(|n| policy.backoff_delay(n, &mut j).as_secs())
            .collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 60, 60]);
        assert_eq!(
            policy.backoff_delay(200, &mut j),
            Duration::from_secs(60),
            "huge retry numbers saturate instead of overflowing"
        );
    }

    #[test]
    fn jitter_is_deterministic_per_seed_and_stream_and_bounded() {
        let max = Duration::from_millis(1000);
        let draw = |seed, stream| {
            let mut j = Jitter::new(seed, stream);
            (0..16).map(|_| j.up_to(max)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42, 7), draw(42, 7));
        assert_ne!(draw(42, 7), draw(42, 8));
        assert_ne!(draw(42, 7), draw(43, 7));
        assert!(draw(1, 1).iter().all(|d| *d <= max));
        assert!(draw(1, 1).iter().any(|d| *d > Duration::ZERO));
        assert_eq!(Jitter::new(1, 1).up_to(Duration::ZERO), Duration::ZERO);
        assert!(Jitter::new(1, 1).up_to(Duration::MAX) > Duration::ZERO);
    }

    #[test]
    fn none_disables_both_retries() {
        let p = RetryPolicy::none();
        assert_eq!(p.max_retries, 0);
        assert_eq!(p.busy_budget, Duration::ZERO);
    }
}
