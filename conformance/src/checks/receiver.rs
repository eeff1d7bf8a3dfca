//! The receiver, graded from the HTTP side: valid callbacks acknowledged in time,
//! acknowledged results stored, and the results URL readable; and how fast it answered.
//! What it must refuse is in `rejection`.

use std::collections::BTreeSet;

use super::{
    index::{Index, TaskLens, an},
    registry::CheckId,
    verdict::{CheckResult, Verdict},
};
use crate::{
    report::{ms_text, nearest_rank},
    runner::RunRecord,
    timeline::{CallbackKind, DeliveryOutcome, Entry, Event, HandledBy, Source},
};

/// Whether the answer to a pingback attempt is the subject's to be graded on: a valid
/// callback that was sent, answered by the subject rather than by a receiver-side fault of
/// the scenario, and not held past the sender's timeout by the scenario's own latency.
fn graded_ack(rec: &RunRecord, e: &Entry) -> bool {
    let Event::Delivery {
        kind,
        outcome,
        handled_by,
        ..
    } = &e.event
    else {
        return false;
    };
    let latency_env = rec.scenario.receiver.latency.is_some();
    kind.is_valid()
        && *handled_by == HandledBy::Subject
        && outcome.was_sent()
        && !(latency_env && *outcome == DeliveryOutcome::Timeout)
}

/// `ack-valid` applies when some valid callback's answer is the subject's to be graded on
/// (not when every one was dropped, or answered by the scenario's receiver-side faults).
pub(super) fn acks_apply(ix: &Index<'_>) -> bool {
    ix.rec
        .timeline
        .entries
        .iter()
        .any(|e| graded_ack(ix.rec, e))
}

/// How long the subject took to answer each valid callback it answered, in real
/// milliseconds, sorted: the latency a report states.
pub(crate) fn answer_times(rec: &RunRecord) -> Vec<f64> {
    let mut v: Vec<f64> = rec
        .timeline
        .entries
        .iter()
        .filter(|e| graded_ack(rec, e))
        .filter_map(|e| match &e.event {
            Event::Delivery {
                status: Some(_),
                latency_ms: Some(l),
                ..
            } => Some(l / rec.time_scale),
            _ => None,
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// What `ack-valid` has seen so far.
#[derive(Default)]
struct Acks<'t, 'a> {
    /// Valid callbacks answered 2xx.
    acked: usize,
    /// Answered later than the latency budget.
    late: usize,
    /// Answered neither 2xx nor (for a copy) 409.
    refused: usize,
    /// Not answered at all.
    unanswered: usize,
    /// Every failure: its task, the attempt, what went wrong, what was expected and seen.
    offenders: Vec<(&'t TaskLens<'a>, &'a Entry, String, String, String)>,
    /// The first answer that is allowed but not ideal, with its task.
    non_strict: Option<(&'t TaskLens<'a>, String)>,
}

pub(super) fn ack_valid(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::AckValid;
    let mut acks = Acks::default();
    for t in &ix.tasks {
        task_acks(ix, t, &mut acks);
    }
    let budget = ix.rec.caps.latency_budget;
    if let Some((t, _, summary, expected, actual)) = acks.offenders.first() {
        let n = acks.offenders.len();
        let summary = if n == 1 {
            summary.clone()
        } else {
            let parts: Vec<String> = [
                (acks.late, "late"),
                (acks.refused, "answered neither 2xx nor 409"),
                (acks.unanswered, "not answered"),
            ]
            .iter()
            .filter(|(k, _)| *k > 0)
            .map(|(k, what)| format!("{k} {what}"))
            .collect();
            format!(
                "{n} valid callback(s) not acknowledged as required ({}); {} acknowledged in time; first: {summary}",
                parts.join(", "),
                acks.acked
            )
        };
        // The first offender's story, and every other offending attempt.
        let attempts: BTreeSet<(Source, u64)> = acks
            .offenders
            .iter()
            .map(|o| (o.1.source, o.1.seq))
            .collect();
        let evidence = ix.evidence_of(&[*t], |e| attempts.contains(&(e.source, e.seq)));
        return c
            .fail(summary, expected.clone(), actual.clone(), evidence)
            .with_offenders(acks.offenders.iter().map(|o| o.2.clone()).collect());
    }
    match acks.non_strict {
        Some((t, why)) => c.verdict(
            Verdict::NonStrict,
            why.clone(),
            "2xx for duplicates, identical ones answered as the first".into(),
            why,
            ix.evidence(t),
        ),
        None => match budget {
            Some(b) => {
                let times = answer_times(ix.rec);
                let q = |q| ms_text(nearest_rank(&times, q).unwrap_or(0.0));
                c.ok(format!(
                    "{} valid callback(s) acknowledged within the {} budget: p50 {}, p99 {}, max {}",
                    acks.acked,
                    ms_text(b.as_secs_f64() * 1000.0),
                    q(0.5),
                    q(0.99),
                    q(1.0)
                ))
            }
            None => c.ok(format!("{} valid callback(s) acknowledged", acks.acked)),
        },
    }
}

/// The sender's timeout, as a failure states it: `10s` in-process, `1s real (10s
/// simulated)` for a receiver in another process.
fn sender_timeout(ix: &Index<'_>) -> String {
    let sim = ix.rec.scenario.mock.pingback.attempt_timeout.as_secs_f64() * 1000.0;
    if ix.rec.caps.in_process {
        ms_text(sim)
    } else {
        format!(
            "{} real ({} simulated)",
            ms_text(sim / ix.rec.time_scale),
            ms_text(sim)
        )
    }
}

/// Grades the answers to one task's valid callbacks (within the latency budget, 2xx, an
/// identical duplicate as the first), noting every failure.
fn task_acks<'t, 'a>(ix: &Index<'_>, t: &'t TaskLens<'a>, acks: &mut Acks<'t, 'a>) {
    let budget_ms = ix.rec.caps.latency_budget.map(|b| b.as_secs_f64() * 1000.0);
    // An identical duplicate should be answered as the genuine callback was.
    let genuine_status = genuine_ack_status(t);
    for d in &t.deliveries {
        if !graded_ack(ix.rec, d) {
            continue;
        }
        let Event::Delivery {
            kind,
            status,
            outcome,
            latency_ms,
            attempt,
            ..
        } = &d.event
        else {
            continue;
        };
        let kind = *kind;
        let what = format!(
            "{}: {} callback (attempt {attempt})",
            t.name(),
            an(kind.name())
        );
        // Only an answer is acknowledged late; a timeout or refusal is judged below.
        let real_ms = latency_ms
            .filter(|_| status.is_some())
            .map(|l| l / ix.rec.time_scale);
        if let (Some(ms), Some(budget)) = (real_ms, budget_ms)
            && ms > budget
        {
            acks.late += 1;
            acks.offenders.push((
                t,
                d,
                format!(
                    "{what} was answered in {}, over the {} budget",
                    ms_text(ms),
                    ms_text(budget)
                ),
                format!("an answer within {} (--latency-budget)", ms_text(budget)),
                ms_text(ms),
            ));
            continue;
        }
        match status {
            Some(s) if (200..300).contains(s) => {
                acks.acked += 1;
                if let Some(first) = genuine_status
                    && kind == CallbackKind::Duplicate
                    && *s != first
                {
                    acks.non_strict.get_or_insert((
                        t,
                        format!("an identical duplicate answered {s}, the first callback {first}"),
                    ));
                }
            }
            Some(409) if kind != CallbackKind::Genuine => {
                acks.non_strict
                    .get_or_insert((t, format!("{} answered 409", kind.name())));
            }
            Some(s) => {
                acks.refused += 1;
                acks.offenders.push((
                    t,
                    d,
                    format!("{what} was answered {s}"),
                    "2xx for every valid callback (409 tolerated for duplicates)".into(),
                    format!("HTTP {s}"),
                ));
            }
            None => {
                acks.unanswered += 1;
                let why = match outcome {
                    DeliveryOutcome::Timeout => {
                        format!(
                            "no answer within the sender's timeout of {}",
                            sender_timeout(ix)
                        )
                    }
                    other => format!("no answer ({})", other.name()),
                };
                acks.offenders.push((
                    t,
                    d,
                    format!("{what} got {why}"),
                    format!(
                        "an answer within the sender's timeout of {}",
                        sender_timeout(ix)
                    ),
                    outcome.name().to_owned(),
                ));
            }
        }
    }
}

/// The status the first acknowledged genuine callback of a task was answered with.
fn genuine_ack_status(t: &TaskLens<'_>) -> Option<u16> {
    t.deliveries.iter().find_map(|d| match &d.event {
        Event::Delivery {
            kind: CallbackKind::Genuine,
            status: Some(s),
            ..
        } if (200..300).contains(s) => Some(*s),
        _ => None,
    })
}

pub(super) fn receiver_kept(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::ReceiverKept;
    let mut kept = 0;
    let mut lost: Vec<&TaskLens<'_>> = Vec::new();
    for t in &ix.tasks {
        let Some(id) = t.id else { continue };
        if first_acked_genuine(t).is_none() {
            continue;
        }
        match ix.rec.stored.get(&id.to_string()) {
            Some(Some(_)) => kept += 1,
            _ => lost.push(t),
        }
    }
    match lost.first() {
        Some(t) => {
            let offenders: Vec<String> = lost
                .iter()
                .map(|t| {
                    format!(
                        "{}: its callback was acknowledged but nothing is stored",
                        t.name()
                    )
                })
                .collect();
            let summary = if lost.len() == 1 {
                offenders[0].clone()
            } else {
                format!(
                    "{} acknowledged result(s) are not stored ({kept} are); first: {}",
                    lost.len(),
                    offenders[0]
                )
            };
            // The first task's story, and the acknowledged callback of every other.
            let acked: BTreeSet<u64> = lost.iter().filter_map(|t| t.id).collect();
            let evidence = ix.evidence_of(&[*t], |e| {
                matches!(&e.event, Event::Delivery { task, status: Some(s), .. }
                    if acked.contains(task) && (200..300).contains(s))
            });
            c.fail(
                summary,
                "the acknowledged result is stored".into(),
                "nothing stored".into(),
                evidence,
            )
            .with_offenders(offenders)
        }
        None if kept == 0 => c.not_graded(
            "no valid callback was acknowledged, so there was nothing the receiver had to keep",
        ),
        None => c.ok(format!("{kept} acknowledged result(s) stored")),
    }
}

/// The results URL could not be read: what the receiver stored is unknown, so the storage
/// checks are not graded, and this says why.
pub(super) fn results_readable(why: &str) -> CheckResult {
    let c = CheckId::ResultsReadable;
    c.fail(
        format!("the results URL could not be read ({why}); storage was not graded"),
        "200 with the stored code, or 404".into(),
        why.to_owned(),
        Vec::new(),
    )
}

pub(super) fn first_acked_genuine(t: &TaskLens<'_>) -> Option<u64> {
    t.deliveries.iter().find_map(|d| match &d.event {
        Event::Delivery {
            kind: CallbackKind::Genuine | CallbackKind::Duplicate,
            status: Some(s),
            handled_by: HandledBy::Subject,
            ..
        } if (200..300).contains(s) => Some(d.at_ms),
        _ => None,
    })
}
