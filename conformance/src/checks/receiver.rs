//! The receiver, graded from the HTTP side: valid callbacks acknowledged, invalid ones
//! rejected, acknowledged results stored, and the results URL readable. What cannot be
//! graded for a subject (unknown ids without registration, forgeries without a secret) is
//! said, never passed as OK.

use std::collections::BTreeMap;

use super::{
    index::{Index, TaskLens, an},
    registry::CheckId,
    verdict::{CheckResult, Verdict},
};
use crate::timeline::{CallbackKind, DeliveryOutcome, Event, Expected, HandledBy};

/// What `ack-valid` has seen so far.
struct Acks<'t, 'a> {
    /// Valid callbacks answered 2xx.
    acked: usize,
    /// The slowest answer, in real milliseconds.
    slowest: f64,
    /// The first answer that is allowed but not ideal, with its task.
    non_strict: Option<(&'t TaskLens<'a>, String)>,
}

pub(super) fn ack_valid(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::AckValid;
    let budget_ms = ix.rec.caps.latency_budget.map(|b| b.as_secs_f64() * 1000.0);
    let mut acks = Acks {
        acked: 0,
        slowest: 0.0,
        non_strict: None,
    };
    for t in &ix.tasks {
        if let Err(failed) = task_acks(ix, t, budget_ms, &mut acks) {
            return failed;
        }
    }
    let Acks {
        acked,
        slowest,
        non_strict,
    } = acks;
    match non_strict {
        Some((t, why)) => c.verdict(
            Verdict::NonStrict,
            why.clone(),
            "2xx for duplicates, identical ones answered as the first".into(),
            why,
            ix.evidence(t),
        ),
        None if budget_ms.is_some() => c.ok(format!(
            "{acked} valid callback(s) acknowledged, slowest in {slowest:.0} ms"
        )),
        None => c.ok(format!("{acked} valid callback(s) acknowledged")),
    }
}

/// Grades the answers to one task's valid callbacks (within the latency budget, 2xx, an
/// identical duplicate as the first); `Err` is the failure.
fn task_acks<'t, 'a>(
    ix: &Index<'_>,
    t: &'t TaskLens<'a>,
    budget_ms: Option<f64>,
    acks: &mut Acks<'t, 'a>,
) -> Result<(), CheckResult> {
    let c = CheckId::AckValid;
    let latency_env = ix.rec.scenario.receiver.latency.is_some();
    // An identical duplicate should be answered as the genuine callback was.
    let genuine_status = genuine_ack_status(t);
    for d in &t.deliveries {
        let Event::Delivery {
            kind,
            status,
            outcome,
            handled_by,
            latency_ms,
            ..
        } = &d.event
        else {
            continue;
        };
        if !kind.is_valid() || *handled_by == HandledBy::Env {
            continue;
        }
        let kind = *kind;
        // Only an answer is acknowledged late; a timeout or refusal is judged below.
        let real_ms = latency_ms
            .filter(|_| status.is_some())
            .map(|l| l / ix.rec.time_scale);
        if let (Some(ms), Some(budget)) = (real_ms, budget_ms) {
            acks.slowest = acks.slowest.max(ms);
            if ms > budget {
                return Err(c.fail(
                    format!(
                        "{}: {} callback took {ms:.0} ms to acknowledge",
                        t.name(),
                        an(kind.name())
                    ),
                    format!("an answer within {budget:.0} ms"),
                    format!("{ms:.0} ms"),
                    ix.evidence(t),
                ));
            }
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
                return Err(c.fail(
                    format!(
                        "{}: {} callback was answered {s}",
                        t.name(),
                        an(kind.name())
                    ),
                    "2xx for every valid callback (409 tolerated for duplicates)".into(),
                    format!("HTTP {s}"),
                    ix.evidence(t),
                ));
            }
            None if !outcome.was_sent() => {}
            None if latency_env && *outcome == DeliveryOutcome::Timeout => {}
            None => {
                return Err(c.fail(
                    format!(
                        "{}: {} callback got no answer ({})",
                        t.name(),
                        an(kind.name()),
                        outcome.name()
                    ),
                    "an answer within the sender's timeout".into(),
                    outcome.name().to_owned(),
                    ix.evidence(t),
                ));
            }
        }
    }
    Ok(())
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

pub(super) fn reject_invalid(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::RejectInvalid;
    let registered_only = ix.rec.caps.registered_only;
    let secret = ix.rec.caps.secret;
    let mut rejected = 0;
    // Invalid callbacks accepted where this subject cannot be asked to refuse
    // them (unknown ids without registration, spoofs without a secret).
    let mut ungraded: BTreeMap<String, usize> = BTreeMap::new();
    for e in &ix.rec.timeline.entries {
        // `must_reject`: refusing it is graded; `conditional`: it would be, with
        // registration (unknown ids) or a shared secret (forgeries).
        let (what, status, must_reject, conditional) = match &e.event {
            Event::Delivery {
                kind,
                status,
                handled_by: HandledBy::Subject,
                ..
            } => {
                let what = kind.name().to_owned();
                match kind.expected() {
                    Expected::Acknowledge => continue,
                    Expected::Reject => (what, *status, true, false),
                    Expected::RejectIfRegisteredOnly => (what, *status, registered_only, true),
                    // A stale id is a well-formed callback for a finished task, and the
                    // other HTTP method may be accepted: grade only that they do not fail.
                    Expected::NoCrash => (what, *status, false, false),
                }
            }
            Event::Injected {
                callback, status, ..
            } => {
                let must = match callback {
                    crate::scenario::InjectedCallback::UnknownId => registered_only,
                    _ => secret,
                };
                (format!("injected {}", callback.name()), *status, must, true)
            }
            _ => continue,
        };
        let evidence = || {
            let task = e.task();
            ix.tasks
                .iter()
                .find(|t| t.id.is_some() && t.id == task)
                .map_or_else(|| vec![e.clone()], |t| ix.evidence(t))
        };
        match status {
            Some(s) if (400..500).contains(&s) => rejected += 1,
            Some(s) if s >= 500 => {
                return c.fail(
                    format!("{} callback crashed the receiver ({s})", an(&what)),
                    "a 4xx answer".into(),
                    format!("HTTP {s}"),
                    evidence(),
                );
            }
            Some(s) if must_reject => {
                return c.fail(
                    format!("{} callback was accepted ({s})", an(&what)),
                    "a 4xx answer".into(),
                    format!("HTTP {s}"),
                    evidence(),
                );
            }
            Some(_) if conditional => *ungraded.entry(what).or_default() += 1,
            _ => {}
        }
    }
    if ungraded.is_empty() {
        return c.ok(format!("{rejected} invalid callback(s) rejected"));
    }
    let accepted: Vec<String> = ungraded
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    c.info(format!(
        "{rejected} invalid callback(s) rejected; accepted, not graded: {} ({})",
        accepted.join(", "),
        ungraded_why(ix)
    ))
}

/// Why accepting unknown-id or spoofed callbacks is not graded for this run.
pub(super) fn ungraded_why(ix: &Index<'_>) -> &'static str {
    if ix.rec.caps.in_process {
        return match (ix.rec.caps.registered_only, ix.rec.caps.secret) {
            (false, _) => {
                "the scenario sets registered-only = false: an unknown id looks like an early one"
            }
            (true, false) => "the scenario sets secret = false",
            (true, true) => "",
        };
    }
    match (ix.rec.caps.registered_only, ix.rec.caps.secret) {
        (false, false) => {
            "the receiver is not told which ids are registered (--register-url) and its URL carries no secret"
        }
        (false, true) => {
            "the receiver is not told which ids are registered (--register-url), so an unknown id looks like an early one"
        }
        (true, false) => "the callback URL carries no shared secret to check",
        (true, true) => "",
    }
}

pub(super) fn receiver_kept(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::ReceiverKept;
    let mut kept = 0;
    for t in &ix.tasks {
        let Some(id) = t.id else { continue };
        if first_acked_genuine(t).is_none() {
            continue;
        }
        match ix.rec.stored.get(&id.to_string()) {
            Some(Some(_)) => kept += 1,
            _ => {
                return c.fail(
                    format!(
                        "{}: its callback was acknowledged but nothing is stored",
                        t.name()
                    ),
                    "the acknowledged result is stored".into(),
                    "nothing stored".into(),
                    ix.evidence(t),
                );
            }
        }
    }
    c.ok(format!("{kept} acknowledged result(s) stored"))
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
