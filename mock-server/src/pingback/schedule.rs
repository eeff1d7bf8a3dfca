//! A task's pingback schedule: which callbacks it gets, when, with which method and retry
//! policy, compiled once, when the task is submitted, from the fault rules in effect.
//!
//! The schedule is what the admin API shows (`GET /__admin/tasks/{id}/schedule`), what the
//! harness prints before a run, and all the dispatcher needs to know about faults: it sends
//! what the schedule plans and never looks at the rules again.

use std::time::Duration;

use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    faults::{Fault, FaultRule, MalformedKind, ReorderFault, TaskFacts},
    retry::RetryPolicy,
};
use crate::{
    dist::Distribution,
    model::CallbackMethod,
    seed::{self, Stream},
};

/// What one planned callback carries.
// Not `#[non_exhaustive]`: graders map every kind of callback to what a receiver must do with
// it and should be told by the compiler when a kind is added.
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

/// Compiles a task's schedule: the first rule that fits and whose draw succeeds (the rule
/// engine, [`crate::rules`]) decides the task's fault; no rule, one genuine callback.
pub(crate) fn compile(
    seed_value: u64,
    rules: &[FaultRule],
    default_retry: &RetryPolicy,
    t: TaskFacts<'_>,
) -> Schedule {
    let mut rng = seed::stream(seed_value, Stream::Fault, t.task_id);
    let chosen = crate::rules::first_applicable(rules, &t, &mut rng);
    let mut s = Schedule {
        task_id: t.task_id,
        ordinal: t.ordinal,
        rule: chosen,
        rule_name: chosen.and_then(|i| rules[i].name.clone()),
        fault: "none".into(),
        deliveries: vec![genuine(t.method, Duration::ZERO)],
        retry: default_retry.clone(),
        early: false,
        dropped: false,
        reorder: None,
    };
    if let Some(i) = chosen {
        apply(&rules[i].fault, &mut s, t.method, &mut rng);
    }
    s
}

/// The genuine callback, `offset` after the task finishes.
fn genuine(method: CallbackMethod, offset: Duration) -> PlannedDelivery {
    PlannedDelivery {
        kind: DeliveryKind::Genuine,
        offset,
        method,
    }
}

/// Turns a plain schedule into the one a fault asks for; draws (a delay) from the task's
/// fault stream, after the rule was picked.
fn apply(fault: &Fault, s: &mut Schedule, method: CallbackMethod, rng: &mut impl Rng) {
    match fault {
        Fault::None => {}
        Fault::Delay(d) => {
            let delay = sample_or_never(d, rng);
            s.fault = format!("delay {}", humantime::format_duration(round_ms(delay)));
            s.deliveries = vec![genuine(method, delay)];
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
                    method,
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
                method.other()
            } else {
                method
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
}

fn sample_or_never(d: &Distribution, rng: &mut impl Rng) -> Duration {
    // A "never" delay is a drop in all but name; cap it at a day so the
    // schedule stays printable and the delivery still happens in long runs.
    d.sample(rng).unwrap_or(Duration::from_secs(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::TaskKind,
        pingback::faults::{DuplicateFault, OrdinalRange, RuleMatch},
    };

    fn facts(id: u64, ordinal: u64) -> TaskFacts<'static> {
        TaskFacts {
            task_id: id,
            ordinal,
            kind: TaskKind::Turnstile,
            url: "http://127.0.0.1:9/hook",
            method: CallbackMethod::Get,
        }
    }

    use crate::pingback::faults::tests::parse;

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

    /// Any rule validation accepts compiles: the longest duplicate span is a day, and huge
    /// distribution parameters draw at most a day (offsets saturate rather than overflow,
    /// which once panicked the submit that compiled them).
    #[test]
    fn extreme_durations_are_bounded() {
        assert!(
            parse("[[rules]]\nfault = { duplicate = { copies = 100, spacing = \"500000000000000000s\" } }\n")
                .is_err()
        );
        let rules =
            parse("[[rules]]\nfault = { duplicate = { copies = 100, spacing = \"864s\" } }\n")
                .unwrap();
        let s = compile(1, &rules, &RetryPolicy::None, facts(1, 1));
        assert_eq!(s.deliveries.len(), 101);
        assert_eq!(s.deliveries[100].offset, Duration::from_secs(86_400));
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
