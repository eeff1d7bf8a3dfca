//! Pingback fault rules and the per-task schedules compiled from them.
//!
//! This is the one place the rule syntax is documented; the mock's TOML config
//! (`[[pingback.rules]]`), the admin API (`PUT /__admin/pingback/rules`, JSON of
//! the same shape) and the conformance harness's scenario files
//! (`[[faults]]`) all use it.
//!
//! # Rules
//!
//! Rules are ordered. For each task, the first rule whose `match` fits the task
//! and whose `probability` draw succeeds decides its fault; later rules are not
//! consulted. A task no rule picks is delivered once, normally.
//!
//! ```toml
//! [[pingback.rules]]
//! name = "slow recaptcha"                      # optional, shown in journals
//! probability = 0.3                            # 0 to 1, default 1
//! match = { methods = ["recaptcha-v2"], tasks = { from = 1, to = 50 }, url = "/hook" }
//! fault = { delay = { log-normal = { median = "2s", sigma = 0.5 } } }
//! ```
//!
//! `match` (all parts optional, all must fit): `methods` lists task kinds
//! (`normal`, `grid`, `bls`, `recaptcha-v2`, `recaptcha-v2-enterprise`,
//! `recaptcha-v3`, `recaptcha-v3-enterprise`, `turnstile`,
//! `cloudflare-challenge`, `geetest`, `captchafox`, `friendly-captcha`,
//! `lemin`, `hcaptcha`); `tasks` is an inclusive range of submission ordinals
//! (the first accepted task of a run is 1); `url` is a substring of the
//! callback URL.
//!
//! # Faults
//!
//! | `fault =` | effect |
//! |---|---|
//! | `"none"` | deliver normally (carve an exception out of later rules) |
//! | `{ delay = <distribution> }` | deliver after a delay drawn from `fixed`, `uniform`, `normal`, `log-normal` |
//! | `{ duplicate = { copies = 2, spacing = "1s", conflicting = false } }` | the genuine callback, then `copies` more, `spacing` apart; with `conflicting = true` the first copy carries a different `code` |
//! | `"drop"` | never delivered (polling still works) |
//! | `{ reorder = { window = 5, max-hold = "30s" } }` | hold deliveries until `window` have gathered (or `max-hold` passed), then release them in a seeded permutation |
//! | `"early"` | the task finishes at once and the callback reaches the receiver before the `in.php` answer reaches the client |
//! | `{ malformed = "<kind>" }` | a malformed callback first, then the genuine one; kinds: `missing-id`, `missing-code`, `non-numeric-id`, `unknown-id`, `stale-id`, `oversized-code`, `wrong-method` |
//! | `{ retry = <policy> }` | deliver normally, with this retry policy instead of the default |
//!
//! Malformed callbacks, in detail: `missing-id` and `missing-code` leave the
//! parameter out; `non-numeric-id` sends `id=<id>x`; `unknown-id` an id the
//! run never issued; `stale-id` the id of a task whose genuine callback was
//! already delivered (one of the last 64; while there is none, the id just
//! below the first, never issued), both with a plausible code that is not the
//! answer; `oversized-code` a `code` of 100 000 characters in a POST body, and
//! in a GET query as long as a URL may be (just under 64 KiB in all, the
//! `http` crate's limit; many servers answer 414 past 8 KiB already);
//! `wrong-method` the genuine callback with the other HTTP method. Malformed
//! callbacks are never retried.
//!
//! # Retry policies
//!
//! When the receiver answers non-2xx, exceeds the per-attempt timeout, or
//! refuses the connection, the policy decides whether and when to try again.
//! Each wait counts from the end of the failed attempt (a timed-out attempt
//! ends at the timeout). Waits run on the mock's clock, so long schedules take
//! moments under a time scale or the paused clock.
//!
//! | `retry =` | attempts |
//! |---|---|
//! | `"none"` (default) | one |
//! | `{ fixed = { interval = "5s", attempts = 3 } }` | `attempts` in all, `interval` apart |
//! | `{ exponential = { initial = "1s", factor = 2.0, max = "1m", attempts = 8 } }` | waits `initial`, `initial*factor`, ... capped at `max` |
//! | `{ preset = "svix" }` | Svix's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h |
//!
//! # Determinism
//!
//! A task's schedule is compiled when it is submitted, from a random stream
//! seeded by (run seed, task id): the same seed and the same submissions give
//! the same schedules whatever the concurrency.

use std::time::Duration;

use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    dist::Distribution,
    methods::TaskKind,
    seed::{self, Stream},
};

/// One ordered fault rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    rename_all = "kebab-case",
    try_from = "RawFaultRule",
    into = "RawFaultRule"
)]
#[schemars(with = "RawFaultRule")]
pub struct FaultRule {
    /// A name for journals and reports.
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
pub struct RawFaultRule {
    /// A name for journals and reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Chance that the rule applies to a matching task, 0 to 1 (default 1).
    #[serde(default = "one")]
    pub probability: f64,
    /// Which tasks the rule may apply to (default: all).
    #[serde(default, rename = "match")]
    pub matches: RuleMatch,
    /// What happens to the task's pingback.
    pub fault: Fault,
}

fn one() -> f64 {
    1.0
}

impl TryFrom<RawFaultRule> for FaultRule {
    type Error = String;

    fn try_from(r: RawFaultRule) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&r.probability) {
            return Err(format!(
                "probability must be between 0 and 1, got {}",
                r.probability
            ));
        }
        if let Some(t) = &r.matches.tasks
            && (t.from == 0 || t.from > t.to)
        {
            return Err(format!(
                "match.tasks: need 1 <= from <= to, got from = {}, to = {}",
                t.from, t.to
            ));
        }
        r.fault.validate()?;
        Ok(FaultRule {
            name: r.name,
            probability: r.probability,
            matches: r.matches,
            fault: r.fault,
        })
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

/// An inclusive range of task ordinals (1 = the first accepted task).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OrdinalRange {
    /// First ordinal.
    pub from: u64,
    /// Last ordinal.
    pub to: u64,
}

/// What a rule does to a task's pingback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
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

impl Fault {
    /// The fault's name, as journals show it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Delay(_) => "delay",
            Fault::Duplicate(d) if d.conflicting => "conflicting-duplicate",
            Fault::Duplicate(_) => "duplicate",
            Fault::Drop => "drop",
            Fault::Reorder(_) => "reorder",
            Fault::Early => "early",
            Fault::Malformed(_) => "malformed",
            Fault::Retry(_) => "retry",
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Fault::Duplicate(d) if !(1..=100).contains(&d.copies) => Err(format!(
                "duplicate.copies must be between 1 and 100, got {}",
                d.copies
            )),
            Fault::Reorder(r) if !(2..=10_000).contains(&r.window) => Err(format!(
                "reorder.window must be between 2 and 10000, got {}",
                r.window
            )),
            Fault::Reorder(r) if r.max_hold.is_zero() => {
                Err("reorder.max-hold must be above zero".into())
            }
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
    /// Time between consecutive callbacks.
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
    /// Longest a delivery is held waiting for the window to fill.
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

/// When to try a failed delivery again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
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

    /// Checks attempts, factor and waits.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            RetryPolicy::Fixed { attempts, .. } if !(1..=100).contains(attempts) => Err(format!(
                "retry attempts must be between 1 and 100, got {attempts}"
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

/// HTTP method of a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CallbackMethod {
    /// `GET url?id=..&code=..` (CaptchaAI).
    Get,
    /// `POST url` with a form body (2captcha).
    Post,
}

impl CallbackMethod {
    /// The other method.
    pub fn other(self) -> Self {
        match self {
            CallbackMethod::Get => CallbackMethod::Post,
            CallbackMethod::Post => CallbackMethod::Get,
        }
    }

    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackMethod::Get => "GET",
            CallbackMethod::Post => "POST",
        }
    }
}

/// What one planned callback carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryKind {
    /// The task's real id and code.
    Genuine,
    /// An identical replay of the genuine callback.
    Duplicate,
    /// The same id with a different code.
    Conflicting,
    /// A malformed callback.
    Malformed(MalformedKind),
}

impl DeliveryKind {
    /// The name journals show.
    pub fn label(self) -> &'static str {
        match self {
            DeliveryKind::Genuine => "genuine",
            DeliveryKind::Duplicate => "duplicate",
            DeliveryKind::Conflicting => "conflicting",
            DeliveryKind::Malformed(k) => k.name(),
        }
    }

    /// True for callbacks a correct receiver must reject.
    pub fn is_malformed(self) -> bool {
        matches!(self, DeliveryKind::Malformed(_))
    }
}

/// One planned callback of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedDelivery {
    /// What it carries.
    pub kind: DeliveryKind,
    /// When, after the task finishes.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub offset: Duration,
    /// HTTP method.
    pub method: CallbackMethod,
}

/// A task's compiled pingback schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    /// The task.
    pub task_id: u64,
    /// Its submission ordinal (1 = first).
    pub ordinal: u64,
    /// Index of the rule that applied, if any.
    pub rule: Option<usize>,
    /// Name of that rule, if it has one.
    pub rule_name: Option<String>,
    /// The fault applied.
    pub fault: String,
    /// Planned callbacks, in send order (empty when dropped).
    pub deliveries: Vec<PlannedDelivery>,
    /// Retry policy for failed attempts.
    pub retry: RetryPolicy,
    /// The callback races the submit answer.
    pub early: bool,
    /// Never delivered.
    pub dropped: bool,
    /// Held for a reorder window.
    pub reorder: Option<ReorderFault>,
}

impl Schedule {
    /// One line for logs and reports.
    pub fn describe(&self) -> String {
        let rule = match (&self.rule, &self.rule_name) {
            (Some(i), Some(n)) => format!("rule {} ({n})", i + 1),
            (Some(i), None) => format!("rule {}", i + 1),
            _ => "no rule".into(),
        };
        let plan: Vec<String> = self
            .deliveries
            .iter()
            .map(|d| {
                format!(
                    "{}@+{}",
                    d.kind.label(),
                    humantime::format_duration(round_ms(d.offset))
                )
            })
            .collect();
        format!(
            "task {} (#{}) {rule}: {} [{}] retry {}",
            self.task_id,
            self.ordinal,
            self.fault,
            plan.join(", "),
            self.retry.describe()
        )
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// What the compiler knows about a task.
#[derive(Clone, Copy, Debug)]
pub struct TaskFacts<'a> {
    /// Task id.
    pub task_id: u64,
    /// Submission ordinal.
    pub ordinal: u64,
    /// Kind.
    pub kind: TaskKind,
    /// Callback URL.
    pub url: &'a str,
    /// The dialect's callback method.
    pub method: CallbackMethod,
}

fn rule_fits(rule: &FaultRule, t: &TaskFacts<'_>) -> bool {
    let m = &rule.matches;
    (m.methods.is_empty() || m.methods.contains(&t.kind))
        && m.tasks.is_none_or(|r| (r.from..=r.to).contains(&t.ordinal))
        && m.url.as_deref().is_none_or(|u| t.url.contains(u))
}

/// Compiles a task's schedule: first matching rule whose draw succeeds wins.
pub fn compile(
    seed_value: u64,
    rules: &[FaultRule],
    default_retry: &RetryPolicy,
    t: TaskFacts<'_>,
) -> Schedule {
    let mut rng = seed::stream(seed_value, Stream::Fault, t.task_id);
    let mut chosen = None;
    for (i, rule) in rules.iter().enumerate() {
        if rule_fits(rule, &t) && seed::chance(&mut rng, rule.probability) {
            chosen = Some(i);
            break;
        }
    }
    let genuine = |offset| PlannedDelivery {
        kind: DeliveryKind::Genuine,
        offset,
        method: t.method,
    };
    let mut s = Schedule {
        task_id: t.task_id,
        ordinal: t.ordinal,
        rule: chosen,
        rule_name: chosen.and_then(|i| rules[i].name.clone()),
        fault: "none".into(),
        deliveries: vec![genuine(Duration::ZERO)],
        retry: default_retry.clone(),
        early: false,
        dropped: false,
        reorder: None,
    };
    let Some(i) = chosen else { return s };
    match &rules[i].fault {
        Fault::None => {}
        Fault::Delay(d) => {
            let delay = sample_or_never(d, &mut rng);
            s.fault = format!("delay {}", humantime::format_duration(round_ms(delay)));
            s.deliveries = vec![genuine(delay)];
        }
        Fault::Duplicate(d) => {
            s.fault = format!(
                "{} x{} every {}",
                if d.conflicting {
                    "conflicting duplicate"
                } else {
                    "duplicate"
                },
                d.copies,
                humantime::format_duration(d.spacing)
            );
            for c in 1..=d.copies {
                let kind = if d.conflicting && c == 1 {
                    DeliveryKind::Conflicting
                } else {
                    DeliveryKind::Duplicate
                };
                s.deliveries.push(PlannedDelivery {
                    kind,
                    offset: d.spacing.saturating_mul(c),
                    method: t.method,
                });
            }
        }
        Fault::Drop => {
            s.fault = "drop".into();
            s.dropped = true;
            s.deliveries.clear();
        }
        Fault::Reorder(r) => {
            s.fault = format!("reorder window {}", r.window);
            s.reorder = Some(r.clone());
        }
        Fault::Early => {
            s.fault = "early".into();
            s.early = true;
        }
        Fault::Malformed(k) => {
            s.fault = format!("malformed {}", k.name());
            let method = if *k == MalformedKind::WrongMethod {
                t.method.other()
            } else {
                t.method
            };
            s.deliveries.insert(
                0,
                PlannedDelivery {
                    kind: DeliveryKind::Malformed(*k),
                    offset: Duration::ZERO,
                    method,
                },
            );
        }
        Fault::Retry(p) => {
            s.fault = format!("retry {}", p.describe());
            s.retry = p.clone();
        }
    }
    s
}

fn sample_or_never(d: &Distribution, rng: &mut impl Rng) -> Duration {
    // A "never" delay is a drop in all but name; cap it at a day so the
    // schedule stays printable and the delivery still happens in long runs.
    d.sample(rng).unwrap_or(Duration::from_secs(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: u64, ordinal: u64) -> TaskFacts<'static> {
        TaskFacts {
            task_id: id,
            ordinal,
            kind: TaskKind::Turnstile,
            url: "http://127.0.0.1:9/hook",
            method: CallbackMethod::Get,
        }
    }

    fn parse(s: &str) -> Result<Vec<FaultRule>, String> {
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

    #[test]
    fn first_applicable_rule_wins_and_compiles_deterministically() {
        let rules = vec![
            FaultRule::always(Fault::Drop).matching(RuleMatch {
                tasks: Some(OrdinalRange { from: 2, to: 2 }),
                ..Default::default()
            }),
            FaultRule::always(Fault::Duplicate(DuplicateFault {
                copies: 2,
                spacing: Duration::from_secs(1),
                conflicting: true,
            })),
        ];
        let s1 = compile(7, &rules, &RetryPolicy::None, facts(100, 1));
        assert_eq!(s1.rule, Some(1));
        let kinds: Vec<_> = s1
            .deliveries
            .iter()
            .map(|d| (d.kind, d.offset.as_secs()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (DeliveryKind::Genuine, 0),
                (DeliveryKind::Conflicting, 1),
                (DeliveryKind::Duplicate, 2)
            ]
        );
        let s2 = compile(7, &rules, &RetryPolicy::None, facts(101, 2));
        assert!(s2.dropped && s2.deliveries.is_empty());
        assert_eq!(s1, compile(7, &rules, &RetryPolicy::None, facts(100, 1)));
    }

    /// Any rule validation accepts compiles: absurd spacings saturate instead
    /// of overflowing (which panicked the submit that compiled them).
    #[test]
    fn extreme_durations_saturate() {
        let rules = parse(
            "[[rules]]\nfault = { duplicate = { copies = 100, spacing = \"500000000000000000s\" } }\n",
        )
        .unwrap();
        let s = compile(1, &rules, &RetryPolicy::None, facts(1, 1));
        assert_eq!(s.deliveries.len(), 101);
        assert_eq!(s.deliveries[100].offset, Duration::MAX);
        let rules = parse(
            "[[rules]]\nfault = { delay = { log-normal = { median = \"18000000000000000000s\", sigma = 3.0 } } }\n",
        )
        .unwrap();
        for i in 0..50 {
            let s = compile(1, &rules, &RetryPolicy::None, facts(i, i + 1));
            assert!(s.deliveries[0].offset <= Duration::from_secs(86_400));
        }
    }

    #[test]
    fn probabilities_are_roughly_honoured_per_task_stream() {
        let rules = vec![FaultRule::always(Fault::Drop).with_probability(0.3)];
        let dropped = (0..2000)
            .filter(|i| compile(11, &rules, &RetryPolicy::None, facts(*i, *i + 1)).dropped)
            .count();
        assert!((500..700).contains(&dropped), "{dropped}");
    }

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

    #[test]
    fn malformed_goes_first_then_genuine() {
        let rules = vec![FaultRule::always(Fault::Malformed(
            MalformedKind::WrongMethod,
        ))];
        let s = compile(1, &rules, &RetryPolicy::None, facts(5, 1));
        assert_eq!(s.deliveries.len(), 2);
        assert_eq!(
            s.deliveries[0].kind,
            DeliveryKind::Malformed(MalformedKind::WrongMethod)
        );
        assert_eq!(s.deliveries[0].method, CallbackMethod::Post);
        assert_eq!(s.deliveries[1].kind, DeliveryKind::Genuine);
    }
}
