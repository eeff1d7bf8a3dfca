//! Duration distributions: solve times, pingback delays, retry jitter.
//!
//! The syntax is documented on [`Distribution`].

use std::time::Duration;

use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::seed;

/// A distribution of durations, sampled from a seeded stream.
///
/// The same syntax is used in the mock's TOML config, the admin API (JSON) and
/// the conformance harness's scenario files:
///
/// ```toml
/// solve-time = { fixed = "5s" }
/// solve-time = { uniform = { min = "3s", max = "8s" } }
/// solve-time = { normal = { mean = "37s", std-dev = "8s" } }   # truncated at 0
/// solve-time = { log-normal = { median = "37s", sigma = 0.4 } }
/// solve-time = "never"                                         # the task never finishes
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    rename_all = "kebab-case",
    deny_unknown_fields,
    try_from = "RawDistribution",
    into = "RawDistribution"
)]
#[schemars(with = "RawDistribution")]
// The scenario schema keeps the one-line summary; the syntax above is for rustdoc.
#[schemars(description = "A distribution of durations, sampled from a seeded stream.")]
pub enum Distribution {
    /// Always the same duration.
    Fixed(Duration),
    /// Uniform between `min` and `max` (inclusive of `min`).
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Normal with the given mean and standard deviation, truncated at zero.
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        std_dev: Duration,
    },
    /// Log-normal: `median * exp(sigma * N(0,1))`. Long right tail, like real solve times.
    LogNormal {
        /// Median.
        median: Duration,
        /// Shape (standard deviation of the underlying normal), 0 to 4.
        sigma: f64,
    },
    /// Never: the event never happens (a task that never finishes).
    Never,
}

/// The serde form of [`Distribution`]; validated into it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum RawDistribution {
    /// Always the same duration, e.g. `{ fixed = "5s" }`.
    Fixed(
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        Duration,
    ),
    /// Uniform between two durations.
    Uniform {
        /// Lower bound, e.g. `"3s"`.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        min: Duration,
        /// Upper bound, e.g. `"8s"`.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        max: Duration,
    },
    /// Normal, truncated at zero.
    #[serde(rename_all = "kebab-case")]
    Normal {
        /// Mean, e.g. `"37s"`.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        mean: Duration,
        /// Standard deviation, e.g. `"8s"`.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        std_dev: Duration,
    },
    /// Log-normal with a median and a shape.
    LogNormal {
        /// Median, e.g. `"37s"`.
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        median: Duration,
        /// Shape, 0 to 4.
        sigma: f64,
    },
    /// The event never happens.
    Never,
}

impl TryFrom<RawDistribution> for Distribution {
    type Error = String;

    fn try_from(raw: RawDistribution) -> Result<Self, String> {
        Ok(match raw {
            RawDistribution::Fixed(d) => Distribution::Fixed(d),
            RawDistribution::Uniform { min, max } => {
                if min > max {
                    return Err(format!(
                        "uniform distribution: min ({}) is greater than max ({})",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    ));
                }
                Distribution::Uniform { min, max }
            }
            RawDistribution::Normal { mean, std_dev } => Distribution::Normal { mean, std_dev },
            RawDistribution::LogNormal { median, sigma } => {
                if !(0.0..=4.0).contains(&sigma) {
                    return Err(format!(
                        "log-normal distribution: sigma must be between 0 and 4, got {sigma}"
                    ));
                }
                Distribution::LogNormal { median, sigma }
            }
            RawDistribution::Never => Distribution::Never,
        })
    }
}

impl From<Distribution> for RawDistribution {
    fn from(d: Distribution) -> Self {
        match d {
            Distribution::Fixed(d) => RawDistribution::Fixed(d),
            Distribution::Uniform { min, max } => RawDistribution::Uniform { min, max },
            Distribution::Normal { mean, std_dev } => RawDistribution::Normal { mean, std_dev },
            Distribution::LogNormal { median, sigma } => {
                RawDistribution::LogNormal { median, sigma }
            }
            Distribution::Never => RawDistribution::Never,
        }
    }
}

/// Longest duration a sample may take (a day); beyond that use `never`.
const MAX_SAMPLE: Duration = Duration::from_secs(86_400);

impl Distribution {
    /// Draws one duration; `None` means never.
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> Option<Duration> {
        let secs = match *self {
            Distribution::Fixed(d) => return Some(d),
            Distribution::Uniform { min, max } => {
                let u = seed::unit(rng);
                min.as_secs_f64() + u * (max.as_secs_f64() - min.as_secs_f64())
            }
            Distribution::Normal { mean, std_dev } => {
                mean.as_secs_f64() + std_dev.as_secs_f64() * seed::standard_normal(rng)
            }
            Distribution::LogNormal { median, sigma } => {
                median.as_secs_f64() * (sigma * seed::standard_normal(rng)).exp()
            }
            Distribution::Never => return None,
        };
        let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
        Some(Duration::from_secs_f64(secs.min(MAX_SAMPLE.as_secs_f64())))
    }

    /// A short human description, e.g. `uniform(3s..8s)`.
    pub fn describe(&self) -> String {
        let f = |d: Duration| humantime::format_duration(d).to_string();
        match *self {
            Distribution::Fixed(d) => f(d),
            Distribution::Uniform { min, max } => format!("uniform({}..{})", f(min), f(max)),
            Distribution::Normal { mean, std_dev } => format!("normal({}±{})", f(mean), f(std_dev)),
            Distribution::LogNormal { median, sigma } => {
                format!("log-normal(median {}, σ {sigma})", f(median))
            }
            Distribution::Never => "never".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{Stream, stream};

    fn parse(s: &str) -> Result<Distribution, String> {
        #[derive(Deserialize)]
        struct W {
            d: Distribution,
        }
        toml::from_str::<W>(s)
            .map(|w| w.d)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse(r#"d = { fixed = "5s" }"#).unwrap(),
            Distribution::Fixed(Duration::from_secs(5))
        );
        assert_eq!(
            parse(r#"d = { uniform = { min = "1s", max = "2s" } }"#).unwrap(),
            Distribution::Uniform {
                min: Duration::from_secs(1),
                max: Duration::from_secs(2)
            }
        );
        assert!(matches!(
            parse(r#"d = { normal = { mean = "37s", std-dev = "8s" } }"#).unwrap(),
            Distribution::Normal { .. }
        ));
        assert!(matches!(
            parse(r#"d = { log-normal = { median = "37s", sigma = 0.4 } }"#).unwrap(),
            Distribution::LogNormal { .. }
        ));
        assert_eq!(parse(r#"d = "never""#).unwrap(), Distribution::Never);
    }

    #[test]
    fn serializes_as_it_parses() {
        let d = Distribution::LogNormal {
            median: Duration::from_millis(2500),
            sigma: 0.5,
        };
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#"{"log-normal":{"median":"2s 500ms","sigma":0.5}}"#);
        assert_eq!(serde_json::from_str::<Distribution>(&json).unwrap(), d);
        assert_eq!(
            serde_json::to_string(&Distribution::Never).unwrap(),
            r#""never""#
        );
    }

    #[test]
    fn rejects_inverted_uniform_with_position() {
        let err = parse("\nd = { uniform = { min = \"9s\", max = \"2s\" } }").unwrap_err();
        assert!(err.contains("min (9s) is greater than max (2s)"), "{err}");
        assert!(err.contains("line 2"), "toml reports where: {err}");
    }

    #[test]
    fn samples_stay_in_bounds_and_repeat_per_seed() {
        let d = Distribution::Uniform {
            min: Duration::from_secs(3),
            max: Duration::from_secs(8),
        };
        let mut rng = stream(1, Stream::Solve, 1);
        for _ in 0..1000 {
            let s = d.sample(&mut rng).unwrap();
            assert!(s >= Duration::from_secs(3) && s <= Duration::from_secs(8));
        }
        let n = Distribution::Normal {
            mean: Duration::from_secs(1),
            std_dev: Duration::from_secs(5),
        };
        let mut rng = stream(1, Stream::Solve, 2);
        for _ in 0..1000 {
            assert!(n.sample(&mut rng).is_some(), "truncated, never negative");
        }
        let ln = Distribution::LogNormal {
            median: Duration::from_secs(37),
            sigma: 0.4,
        };
        let a = ln.sample(&mut stream(9, Stream::Solve, 5));
        let b = ln.sample(&mut stream(9, Stream::Solve, 5));
        assert_eq!(a, b);
        assert_eq!(Distribution::Never.sample(&mut rng), None);
    }

    #[test]
    fn log_normal_median_is_roughly_right() {
        let ln = Distribution::LogNormal {
            median: Duration::from_secs(10),
            sigma: 0.5,
        };
        let mut rng = stream(4, Stream::Solve, 0);
        let mut v: Vec<f64> = (0..2001)
            .map(|_| ln.sample(&mut rng).unwrap().as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        let median = v[1000];
        assert!((8.5..11.5).contains(&median), "median {median}");
    }
}
