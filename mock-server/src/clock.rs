//! The clock seam: every simulated duration in the mock goes through [`Clock`].
//!
//! The mock measures time with `tokio::time::Instant`, so a runtime started with
//! the clock paused (`#[tokio::test(start_paused = true)]`, the harness's
//! in-process runs) advances simulated time instantly and deterministically.
//! Runs that involve another process cannot pause the clock; they use a time
//! scale instead: with `--time-scale 100`, a simulated 60 s solve takes 0.6 s of
//! real time, and everything the mock reports (journal times, `threadsinfo`) is
//! in simulated time.

use std::time::Duration;

use tokio::time::Instant;

/// A point in simulated time, measured from the moment the mock started.
///
/// Stored as nanoseconds in a `u64` (584 years of range) so that millions of
/// pending tasks stay compact; convert with [`SimTime::as_duration`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SimTime(u64);

impl SimTime {
    /// The start of simulated time.
    #[cfg(any(test, feature = "bench"))]
    pub(crate) const ZERO: SimTime = SimTime(0);
    /// A time that never comes (used for tasks that never finish).
    pub(crate) const NEVER: SimTime = SimTime(u64::MAX);

    /// Builds a simulated time from the duration elapsed since start.
    pub(crate) fn from_duration(d: Duration) -> Self {
        SimTime(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// The duration elapsed since start.
    pub(crate) fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Milliseconds since start, for journals and reports.
    pub(crate) fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// This time plus a duration, saturating at [`SimTime::NEVER`].
    pub(crate) fn saturating_add(self, d: Duration) -> Self {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        SimTime(self.0.saturating_add(nanos))
    }

    /// The duration from `earlier` to `self`, zero if `earlier` is later.
    pub(crate) fn saturating_since(self, earlier: SimTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// True for [`SimTime::NEVER`].
    pub(crate) fn is_never(self) -> bool {
        self == SimTime::NEVER
    }
}

/// Simulated time for one mock instance: a start instant and a time scale.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    /// A clock starting now. `scale` is how many simulated seconds pass per
    /// real second (1.0 = real time; 100.0 = a 60 s solve takes 0.6 s).
    ///
    /// # Panics
    ///
    /// Never: a non-finite or non-positive scale is replaced by 1.0; the
    /// configuration layer rejects such values with a clear error before this.
    pub(crate) fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Clock {
            start: Instant::now(),
            scale,
        }
    }

    /// The current simulated time.
    pub(crate) fn now(&self) -> SimTime {
        let real = Instant::now().saturating_duration_since(self.start);
        SimTime::from_duration(self.to_sim(real))
    }

    /// Converts a real duration to simulated time.
    pub(crate) fn to_sim(&self, real: Duration) -> Duration {
        if self.scale == 1.0 {
            real
        } else {
            real.mul_f64(self.scale)
        }
    }

    /// Converts a simulated duration to real time.
    pub(crate) fn to_real(&self, sim: Duration) -> Duration {
        if self.scale == 1.0 {
            sim
        } else {
            Duration::from_secs_f64((sim.as_secs_f64() / self.scale).min(1e12))
        }
    }

    /// The real instant at which simulated time `t` is reached.
    pub(crate) fn instant_at(&self, t: SimTime) -> Instant {
        let real = self
            .to_real(t.as_duration())
            .min(Duration::from_secs(86_400 * 365 * 30));
        self.start + real
    }

    /// Sleeps for a simulated duration.
    pub(crate) async fn sleep(&self, sim: Duration) {
        tokio::time::sleep(self.to_real(sim)).await;
    }

    /// Sleeps until simulated time `t`.
    pub(crate) async fn sleep_until(&self, t: SimTime) {
        if t.is_never() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep_until(self.instant_at(t)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_clock_advances_in_simulated_time() {
        let clock = Clock::new(1.0);
        assert_eq!(clock.now(), SimTime::ZERO);
        clock.sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now().as_duration(), Duration::from_secs(90));
    }

    #[tokio::test(start_paused = true)]
    async fn time_scale_shrinks_real_sleeps() {
        let clock = Clock::new(100.0);
        let before = Instant::now();
        clock.sleep(Duration::from_secs(60)).await;
        assert_eq!(Instant::now() - before, Duration::from_millis(600));
        assert_eq!(clock.now().as_duration(), Duration::from_secs(60));
    }
}
