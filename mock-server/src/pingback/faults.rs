//! Pingback fault rules: what a rule matches and what it does to a task's pingback.
//!
//! One rule syntax for three front ends: the mock's TOML config (`[[pingback.rules]]`),
//! the admin API (`PUT /__admin/pingback/rules`, JSON of the same shape) and the
//! conformance harness's scenario files (`[[faults]]`). The rule engine ([`crate::rules`]) picks a task's rule;
//! [`super::schedule`] compiles the rule into the task's schedule; [`super::retry`] holds the
//! retry policies.
//!
//! The syntax is documented on [`FaultRule`] (the crate's docs show it), once.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::retry::RetryPolicy;
use crate::{
    dist::Distribution,
    model::TaskKind,
    rules::{self, OrdinalRange},
};

/// One ordered fault rule, in the syntax the mock's TOML config (`[[pingback.rules]]`), the
/// admin API (`PUT /__admin/pingback/rules`, JSON of the same shape) and the conformance
/// harness's scenario files (`[[faults]]`) share.
///
/// # Rules
///
/// Rules are ordered. For each task, the first rule whose `match` fits the task
/// and whose `probability` draw succeeds decides its fault; later rules are not
/// consulted. A task no rule picks is delivered once, normally.
///
/// ```toml
/// [[pingback.rules]]
/// name = "slow recaptcha"                      # optional (100 characters at most), shown in journals
/// probability = 0.3                            # 0 to 1, default 1
/// match = { methods = ["recaptcha-v2"], tasks = { from = 1, to = 50 }, url = "/hook" }
/// fault = { delay = { log-normal = { median = "2s", sigma = 0.5 } } }
/// ```
///
/// `match` (all parts optional, all must fit): `methods` lists task kinds
/// (`normal`, `grid`, `bls`, `recaptcha-v2`, `recaptcha-v2-enterprise`,
/// `recaptcha-v3`, `recaptcha-v3-enterprise`, `turnstile`,
/// `cloudflare-challenge`, `geetest`, `captchafox`, `friendly-captcha`,
/// `lemin`, `hcaptcha`, `geetest-v4`, `coordinates`); `tasks` is an
/// inclusive range of submission ordinals (the first accepted task of a run
/// is 1); `url` is a substring of the callback URL.
///
/// # Faults
///
/// | `fault =` | effect |
/// |---|---|
/// | `"none"` | deliver normally (carve an exception out of later rules) |
/// | `{ delay = <distribution> }` | deliver after a delay drawn from `fixed`, `uniform`, `normal`, `log-normal` |
/// | `{ duplicate = { copies = 2, spacing = "1s", conflicting = false } }` | the genuine callback, then `copies` more (1 to 100), `spacing` apart (at least 1 ms; `copies` x `spacing` at most a day); with `conflicting = true` the first copy carries a different `code` |
/// | `"drop"` | never delivered (polling still works) |
/// | `{ reorder = { window = 5, max-hold = "30s" } }` | hold deliveries until `window` (2 to 10 000) have gathered (or `max-hold`, above zero and at most a day, passed), then release them in a seeded permutation |
/// | `"early"` | the task finishes at once and the callback reaches the receiver before the `in.php` answer reaches the client |
/// | `{ malformed = "<kind>" }` | a malformed callback first, then the genuine one; kinds: `missing-id`, `missing-code`, `non-numeric-id`, `unknown-id`, `stale-id`, `oversized-code`, `wrong-method` |
/// | `{ retry = <policy> }` | deliver normally, with this retry policy instead of the default |
///
/// Every duration in a rule is at most a day (a delay's draw is cut there): a pending
/// callback holds a place in the dispatcher's queue. The TOML config, the admin API and
/// scenario files check rules with the same function, so the bounds and the messages are
/// the same everywhere.
///
/// Malformed callbacks, in detail: `missing-id` and `missing-code` leave the
/// parameter out; `non-numeric-id` sends `id=<id>x`; `unknown-id` an id the
/// run never issued; `stale-id` the id of a task whose genuine callback was
/// already delivered (one of the last 64; while there is none, the id just
/// below the first, never issued), both with a plausible code that is not the
/// answer; `oversized-code` a `code` of 100 000 characters in a POST body, and
/// in a GET query as long as a URL may be (just under 64 KiB in all, the
/// `http` crate's limit; many servers answer 414 past 8 KiB already);
/// `wrong-method` the genuine callback with the other HTTP method. Malformed
/// callbacks are never retried.
///
/// # Retry policies
///
/// When the receiver answers non-2xx, exceeds the per-attempt timeout, or
/// refuses the connection, the policy decides whether and when to try again.
/// Each wait counts from the end of the failed attempt (a timed-out attempt
/// ends at the timeout). Waits run on the mock's clock, so long schedules take
/// moments under a time scale or the paused clock.
///
/// | `retry =` | attempts |
/// |---|---|
/// | `"none"` (default) | one |
/// | `{ fixed = { interval = "5s", attempts = 3 } }` | `attempts` in all (1 to 100), `interval` apart (at most a day) |
/// | `{ exponential = { initial = "1s", factor = 2.0, max = "1m", attempts = 8 } }` | waits `initial`, `initial*factor`, ... capped at `max` (at most a day) |
/// | `{ preset = "svix" }` | Svix's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h |
///
/// # Determinism
///
/// A task's schedule is compiled when it is submitted, from a random stream
/// seeded by (run seed, task id): the same seed and the same submissions give
/// the same schedules whatever the concurrency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    try_from = "RawFaultRule",
    into = "RawFaultRule"
)]
#[schemars(with = "RawFaultRule")]
// The scenario schema keeps the one-line summary; the syntax above is for rustdoc.
#[schemars(description = "One ordered fault rule.")]
pub struct FaultRule {
    /// A name for journals and reports (at most 100 characters).
    pub name: Option<String>,
    /// Chance that the rule applies to a matching task.
    pub probability: f64,
    /// Which tasks the rule may apply to.
    pub matches: RuleMatch,
    /// What happens to the task's pingback.
    pub fault: Fault,
}

/// The serde form of [`FaultRule`].
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFaultRule {
    /// A name for journals and reports (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Chance that the rule applies to a matching task, 0 to 1 (default 1).
    #[serde(default = "one")]
    probability: f64,
    /// Which tasks the rule may apply to (default: all).
    #[serde(default, rename = "match")]
    matches: RuleMatch,
    /// What happens to the task's pingback.
    fault: Fault,
}

fn one() -> f64 {
    1.0
}

impl TryFrom<RawFaultRule> for FaultRule {
    type Error = String;

    fn try_from(r: RawFaultRule) -> Result<Self, String> {
        let rule = FaultRule {
            name: r.name,
            probability: r.probability,
            matches: r.matches,
            fault: r.fault,
        };
        rule.validate()?;
        Ok(rule)
    }
}

impl From<FaultRule> for RawFaultRule {
    fn from(r: FaultRule) -> Self {
        RawFaultRule {
            name: r.name,
            probability: r.probability,
            matches: r.matches,
            fault: r.fault,
        }
    }
}

impl FaultRule {
    /// Checks the rule as every front end must (TOML, the admin API's JSON, a rule built in
    /// Rust): the probability, the ordinal range and the fault's parameters. The message
    /// names the offending key (`duplicate.copies must be ...`), which config errors point at.
    pub(crate) fn validate(&self) -> Result<(), String> {
        rules::check_probability(self.probability)?;
        rules::check_name(self.name.as_deref())?;
        if let Some(t) = &self.matches.tasks {
            t.validate("match.tasks")?;
        }
        self.fault.validate()
    }

    /// A rule that always applies.
    pub fn always(fault: Fault) -> Self {
        FaultRule {
            name: None,
            probability: 1.0,
            matches: RuleMatch::default(),
            fault,
        }
    }

    /// The same rule with a probability.
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// The same rule restricted to some tasks.
    pub fn matching(mut self, m: RuleMatch) -> Self {
        self.matches = m;
        self
    }

    /// The same rule with a name (shown in schedules, journals and reports).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Which tasks a rule may apply to; every given part must fit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleMatch {
    /// Task kinds; empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<TaskKind>,
    /// Submission ordinals, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<OrdinalRange>,
    /// A substring of the callback URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a rule does to a task's pingback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Fault {
    /// Deliver normally.
    None,
    /// Deliver after a random delay.
    Delay(Distribution),
    /// Deliver, then deliver copies.
    Duplicate(DuplicateFault),
    /// Never deliver.
    Drop,
    /// Hold a window of deliveries and release them permuted.
    Reorder(ReorderFault),
    /// Deliver before the submit answer reaches the client.
    Early,
    /// Send a malformed callback, then the genuine one.
    Malformed(MalformedKind),
    /// Deliver with this retry policy.
    Retry(RetryPolicy),
}

/// The longest any duration of a rule may be (see [`rules::MAX_RULE_DURATION`]): a delay's
/// draw (see [`Distribution`]), a reorder's hold, the span of a task's duplicates, a retry's
/// wait. A pending callback holds a place in the dispatcher's queue, so none may wait longer.
pub(crate) use crate::rules::MAX_RULE_DURATION;

/// The shortest spacing of duplicates: a task's copies never go out faster than a thousand a
/// second.
const MIN_SPACING: Duration = Duration::from_millis(1);

impl Fault {
    fn validate(&self) -> Result<(), String> {
        let day = humantime::format_duration(MAX_RULE_DURATION);
        match self {
            Fault::Duplicate(d) if !(1..=100).contains(&d.copies) => Err(format!(
                "duplicate.copies must be between 1 and 100, got {}",
                d.copies
            )),
            Fault::Duplicate(d) if d.spacing < MIN_SPACING => Err(format!(
                "duplicate.spacing must be at least {}, got {}",
                humantime::format_duration(MIN_SPACING),
                humantime::format_duration(d.spacing)
            )),
            Fault::Duplicate(d) if d.spacing.saturating_mul(d.copies) > MAX_RULE_DURATION => {
                Err(format!(
                    "duplicate: copies x spacing must be at most {day}, got {} x {}",
                    d.copies,
                    humantime::format_duration(d.spacing)
                ))
            }
            Fault::Reorder(r) if !(2..=10_000).contains(&r.window) => Err(format!(
                "reorder.window must be between 2 and 10000, got {}",
                r.window
            )),
            Fault::Reorder(r) if r.max_hold.is_zero() => {
                Err("reorder.max-hold must be above zero".into())
            }
            Fault::Reorder(r) if r.max_hold > MAX_RULE_DURATION => Err(format!(
                "reorder.max-hold must be at most {day}, got {}",
                humantime::format_duration(r.max_hold)
            )),
            Fault::Retry(p) => p.validate(),
            _ => Ok(()),
        }
    }
}

/// Parameters of a duplicate fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DuplicateFault {
    /// Copies after the genuine callback (1 to 100).
    #[serde(default = "one_u32")]
    pub copies: u32,
    /// Time between consecutive callbacks (at least 1 ms; `copies` x `spacing` at most a day).
    #[serde(default = "one_second", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub spacing: Duration,
    /// The first copy carries a different `code` for the same id.
    #[serde(default)]
    pub conflicting: bool,
}

/// Parameters of a reorder fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReorderFault {
    /// Deliveries gathered before release (2 to 10000).
    #[serde(default = "five")]
    pub window: u32,
    /// Longest a delivery is held waiting for the window to fill (above zero, at most a day).
    #[serde(default = "thirty_seconds", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_hold: Duration,
}

fn one_u32() -> u32 {
    1
}
fn five() -> u32 {
    5
}
fn one_second() -> Duration {
    Duration::from_secs(1)
}
fn thirty_seconds() -> Duration {
    Duration::from_secs(30)
}

/// Kinds of malformed callback.
// Not `#[non_exhaustive]`: graders map every kind of callback to what a receiver must do with
// it and should be told by the compiler when a kind is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MalformedKind {
    /// No `id` parameter.
    MissingId,
    /// No `code` parameter.
    MissingCode,
    /// `id` is not a number.
    NonNumericId,
    /// An id the mock never issued.
    UnknownId,
    /// The id of an earlier task whose result was already delivered, with a different code.
    StaleId,
    /// A `code` of 100 000 characters.
    OversizedCode,
    /// The genuine callback with the other HTTP method (POST in the captchaai dialect, GET in 2captcha).
    WrongMethod,
}

impl MalformedKind {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            MalformedKind::MissingId => "missing-id",
            MalformedKind::MissingCode => "missing-code",
            MalformedKind::NonNumericId => "non-numeric-id",
            MalformedKind::UnknownId => "unknown-id",
            MalformedKind::StaleId => "stale-id",
            MalformedKind::OversizedCode => "oversized-code",
            MalformedKind::WrongMethod => "wrong-method",
        }
    }
}

/// What a fault rule's `match` is checked against: the facts of one task.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskFacts<'a> {
    /// Task id (its stream subject: see `state::stream_subject`).
    pub(crate) task_id: u64,
    /// Submission ordinal.
    pub(crate) ordinal: u64,
    /// Kind.
    pub(crate) kind: TaskKind,
    /// Callback URL.
    pub(crate) url: &'a str,
    /// The dialect's callback method.
    pub(crate) method: crate::model::CallbackMethod,
}

impl rules::Rule for FaultRule {
    type Subject<'a> = TaskFacts<'a>;

    fn fits(&self, t: &TaskFacts<'_>) -> bool {
        let m = &self.matches;
        (m.methods.is_empty() || m.methods.contains(&t.kind))
            && m.tasks.is_none_or(|r| (r.from..=r.to).contains(&t.ordinal))
            && m.url.as_deref().is_none_or(|u| t.url.contains(u))
    }

    fn probability(&self) -> f64 {
        self.probability
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn parse(s: &str) -> Result<Vec<FaultRule>, String> {
        #[derive(Deserialize)]
        struct W {
            rules: Vec<FaultRule>,
        }
        toml::from_str::<W>(s)
            .map(|w| w.rules)
            .map_err(|e| e.to_string())
    }
    #[test]
    fn every_fault_parses() {
        let rules = parse(
            r#"
[[rules]]
name = "d"
probability = 0.5
match = { methods = ["turnstile"], tasks = { from = 1, to = 3 }, url = "/hook" }
fault = { delay = { fixed = "2s" } }
[[rules]]
fault = { duplicate = { copies = 2, spacing = "500ms", conflicting = true } }
[[rules]]
fault = "drop"
[[rules]]
fault = { reorder = { window = 4 } }
[[rules]]
fault = "early"
[[rules]]
fault = { malformed = "stale-id" }
[[rules]]
fault = { retry = { preset = "svix" } }
[[rules]]
fault = { retry = { exponential = { initial = "1s", max = "1m", attempts = 5 } } }
[[rules]]
fault = "none"
"#,
        )
        .unwrap();
        assert_eq!(rules.len(), 9);
        assert_eq!(
            rules[3].fault,
            Fault::Reorder(ReorderFault {
                window: 4,
                max_hold: Duration::from_secs(30)
            })
        );
    }

    #[test]
    fn durations_are_bounded() {
        for (fault, message) in [
            (
                r#"{ reorder = { window = 5, max-hold = "1000000years" } }"#,
                "reorder.max-hold must be at most 1day",
            ),
            (
                r#"{ duplicate = { copies = 100, spacing = "0s" } }"#,
                "duplicate.spacing must be at least 1ms, got 0s",
            ),
            (
                r#"{ duplicate = { copies = 100, spacing = "15m" } }"#,
                "duplicate: copies x spacing must be at most 1day, got 100 x 15m",
            ),
            (
                r#"{ retry = { fixed = { interval = "2days", attempts = 2 } } }"#,
                "retry waits must be at most 1day",
            ),
        ] {
            let e = parse(&format!("[[rules]]\nfault = {fault}\n")).unwrap_err();
            assert!(e.contains(message), "{fault}: {e}");
        }
        let long = format!(
            "[[rules]]\nname = \"{}\"\nfault = \"drop\"\n",
            "n".repeat(101)
        );
        assert!(
            parse(&long)
                .unwrap_err()
                .contains("name must be at most 100 characters")
        );
        let ok = r#"{ duplicate = { copies = 100, spacing = "14m" } }"#;
        assert!(parse(&format!("[[rules]]\nfault = {ok}\n")).is_ok());
    }

    #[test]
    fn invalid_rules_are_explained() {
        let e = parse("[[rules]]\nprobability = 1.5\nfault = \"drop\"\n").unwrap_err();
        assert!(e.contains("probability must be between 0 and 1"), "{e}");
        let e = parse("[[rules]]\nfault = { duplicate = { copies = 0 } }\n").unwrap_err();
        assert!(e.contains("copies must be between 1 and 100"), "{e}");
        let e = parse("[[rules]]\nfault = \"dorp\"\n").unwrap_err();
        assert!(e.contains("dorp"), "{e}");
        let e = parse("[[rules]]\nfualt = \"drop\"\n").unwrap_err();
        assert!(e.contains("fualt"), "{e}");
    }
}
