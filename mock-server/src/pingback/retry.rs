//! Retry policies: whether and when a failed pingback attempt is tried again.
//!
//! The syntax is documented with the faults, in [`super::faults`] ("Retry policies"): the
//! default policy is `[pingback] retry`, and a `{ retry = <policy> }` fault gives some tasks
//! another one. A policy is only a table of waits; the dispatcher runs them on the mock's clock.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When to try a failed delivery again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum RetryPolicy {
    /// One attempt only.
    #[default]
    None,
    /// A fixed interval.
    Fixed {
        /// Time between attempts.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        interval: Duration,
        /// Attempts in all, including the first.
        attempts: u32,
    },
    /// Exponential backoff with a cap.
    Exponential {
        /// Wait before the second attempt.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        initial: Duration,
        /// Growth per attempt (at least 1).
        #[serde(default = "two")]
        factor: f64,
        /// Longest wait.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        max: Duration,
        /// Attempts in all, including the first.
        attempts: u32,
    },
    /// A published sender's schedule.
    Preset(RetryPreset),
}

fn two() -> f64 {
    2.0
}

/// Retry schedules modelled on published webhook senders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RetryPreset {
    /// Svix: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    Svix,
}

const SVIX: [u64; 8] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

impl RetryPolicy {
    /// Attempts in all, including the first.
    pub fn max_attempts(&self) -> u32 {
        match self {
            RetryPolicy::None => 1,
            RetryPolicy::Fixed { attempts, .. } | RetryPolicy::Exponential { attempts, .. } => {
                (*attempts).max(1)
            }
            RetryPolicy::Preset(RetryPreset::Svix) => SVIX.len() as u32,
        }
    }

    /// The wait before attempt `n` (2 = the first retry); `None` past the last.
    pub fn wait_before(&self, n: u32) -> Option<Duration> {
        if n < 2 || n > self.max_attempts() {
            return None;
        }
        Some(match self {
            RetryPolicy::None => return None,
            RetryPolicy::Fixed { interval, .. } => *interval,
            RetryPolicy::Exponential {
                initial,
                factor,
                max,
                ..
            } => {
                let w = initial.as_secs_f64() * factor.powi(n as i32 - 2);
                Duration::from_secs_f64(w.min(max.as_secs_f64()).max(0.0))
            }
            RetryPolicy::Preset(RetryPreset::Svix) => Duration::from_secs(SVIX[n as usize - 1]),
        })
    }

    /// Checks attempts (1 to 100), factor (at least 1) and waits (at most a day, the longest
    /// any duration of a rule may be).
    pub(crate) fn validate(&self) -> Result<(), String> {
        let day = super::faults::MAX_RULE_DURATION;
        let too_long = |d: &Duration| *d > day;
        match self {
            RetryPolicy::Fixed { attempts, .. } if !(1..=100).contains(attempts) => Err(format!(
                "retry attempts must be between 1 and 100, got {attempts}"
            )),
            RetryPolicy::Fixed { interval, .. } if too_long(interval) => Err(format!(
                "retry waits must be at most {}, got {}",
                humantime::format_duration(day),
                humantime::format_duration(*interval)
            )),
            RetryPolicy::Exponential {
                attempts,
                factor,
                initial,
                max,
            } => {
                if !(1..=100).contains(attempts) {
                    Err(format!(
                        "retry attempts must be between 1 and 100, got {attempts}"
                    ))
                } else if !(factor.is_finite() && *factor >= 1.0) {
                    Err(format!("retry factor must be at least 1, got {factor}"))
                } else if initial > max {
                    Err("retry initial wait is longer than max".into())
                } else if too_long(max) {
                    Err(format!(
                        "retry waits must be at most {}, got max = {}",
                        humantime::format_duration(day),
                        humantime::format_duration(*max)
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// A short description.
    pub fn describe(&self) -> String {
        let f = |d: &Duration| humantime::format_duration(*d).to_string();
        match self {
            RetryPolicy::None => "none".into(),
            RetryPolicy::Fixed { interval, attempts } => {
                format!("fixed {} x{attempts}", f(interval))
            }
            RetryPolicy::Exponential {
                initial,
                factor,
                max,
                attempts,
            } => {
                format!(
                    "exponential {}*{factor}^n cap {} x{attempts}",
                    f(initial),
                    f(max)
                )
            }
            RetryPolicy::Preset(RetryPreset::Svix) => "svix".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedules() {
        let svix = RetryPolicy::Preset(RetryPreset::Svix);
        let waits: Vec<u64> = (2..=9)
            .filter_map(|n| svix.wait_before(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(waits, vec![5, 300, 1800, 7200, 18000, 36000, 36000]);
        let exp = RetryPolicy::Exponential {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(5),
            attempts: 5,
        };
        let waits: Vec<u64> = (2..=6)
            .filter_map(|n| exp.wait_before(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 5]);
        assert_eq!(RetryPolicy::None.wait_before(2), None);
    }
}
