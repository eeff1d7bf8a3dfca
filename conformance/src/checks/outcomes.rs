//! What the application got: the run completed, no task was lost, each result is the
//! mock's ground truth or the error the scenario expects; and the informational summary.

use std::collections::BTreeMap;

use captchaai_mock::Outcome;

use super::{
    idempotency::conflicting_taken_first,
    index::{Index, TaskLens, an, secs},
    registry::CheckId,
    verdict::CheckResult,
};
use crate::{
    scenario::ExpectedOutcome,
    timeline::{AppErrorKind, Event, Source, short},
};

pub(super) fn run_completed(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::RunCompleted;
    match &ix.rec.aborted {
        None => c.ok(format!(
            "{} task(s) finished, {} of simulated time",
            ix.tasks.len(),
            secs(ix.rec.ended_at_ms)
        )),
        Some(why) => c.fail(
            why.clone(),
            "the run completes".into(),
            why.clone(),
            ix.rec
                .timeline
                .entries
                .iter()
                .rev()
                .take(20)
                .rev()
                .cloned()
                .collect(),
        ),
    }
}

pub(super) fn nothing_lost(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::NothingLost;
    let lost: Vec<&TaskLens<'_>> = ix.tasks.iter().filter(|t| t.app.is_empty()).collect();
    match lost.first() {
        None => c.ok(format!("all {} task(s) accounted for", ix.tasks.len())),
        Some(t) => c.fail(
            format!(
                "{} of {} task(s) never reached the application",
                lost.len(),
                ix.tasks.len()
            ),
            format!("{} ends in a result or an error", t.name()),
            "nothing reached the application".into(),
            ix.evidence(t),
        ),
    }
}

pub(super) fn ground_truth(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::GroundTruth;
    let mut bad = Vec::new();
    for t in &ix.tasks {
        let Some(first) = t.app.first() else { continue };
        let truth = t.id.and_then(|id| ix.rec.truth.get(&id));
        if let (Some(tr), Event::AppResult { code, .. }) = (truth, &first.event)
            && conflicting_taken_first(t, tr) == Some(code.as_str())
        {
            continue;
        }
        if let Some((e, a)) = mismatch(truth.map(|t| &t.outcome), &first.event) {
            bad.push((t, e, a));
        }
    }
    match bad.first() {
        None => c.ok(format!(
            "{} result(s) match",
            ix.tasks.iter().filter(|t| !t.app.is_empty()).count()
        )),
        Some((t, e, a)) => c.fail(
            format!(
                "{} task(s) got something other than the ground truth",
                bad.len()
            ),
            format!("{}: {e}", t.name()),
            a.clone(),
            ix.evidence(t),
        ),
    }
}

/// How what the application got first differs from the mock's decision, as (expected,
/// actual); `None` when it matches.
fn mismatch(truth: Option<&Outcome>, first: &Event) -> Option<(String, String)> {
    match (truth, first) {
        (Some(Outcome::Solved { answer, .. }), Event::AppResult { code, .. }) if code == answer => {
            None
        }
        (Some(Outcome::Solved { answer, .. }), Event::AppResult { code, .. }) => Some((
            format!("the answer {}", short(answer)),
            format!("the answer {}", short(code)),
        )),
        (Some(Outcome::Solved { answer, .. }), Event::AppError { kind, code, .. }) => Some((
            format!("the answer {}", short(answer)),
            an_error(kind, code.as_deref()),
        )),
        (Some(Outcome::Failed { code: want }), Event::AppError { kind, code, .. }) => {
            if code.as_deref() == Some(want.as_str())
                || (*kind == AppErrorKind::Unsolvable && want == "ERROR_CAPTCHA_UNSOLVABLE")
            {
                None
            } else {
                Some((
                    format!("the failure {want}"),
                    an_error(kind, code.as_deref()),
                ))
            }
        }
        (Some(Outcome::Failed { code: want }), Event::AppResult { code, .. }) => (code != want)
            .then(|| {
                (
                    format!("the failure {want}"),
                    format!("the result {}", short(code)),
                )
            }),
        (
            None,
            Event::AppError {
                kind,
                code,
                message,
                ..
            },
        ) => Some((
            "the task is accepted and solved".into(),
            format!(
                "{} before any task id: {}",
                an_error(kind, code.as_deref()),
                short(message)
            ),
        )),
        (None, _) => Some((
            "a task the mock knows".into(),
            "a result for an unknown task".into(),
        )),
        (Some(_), _) => None,
    }
}

/// `a timeout error`, `an api error (ERROR_NO_SLOT_AVAILABLE)`.
fn an_error(kind: &AppErrorKind, code: Option<&str>) -> String {
    format!(
        "{} error{}",
        an(kind.name()),
        code.map(|c| format!(" ({c})")).unwrap_or_default()
    )
}

/// The error every task must end in, for the outcomes that expect one.
pub(super) fn expected_error(o: ExpectedOutcome) -> Option<AppErrorKind> {
    match o {
        ExpectedOutcome::Timeout => Some(AppErrorKind::Timeout),
        ExpectedOutcome::InvalidKey => Some(AppErrorKind::InvalidKey),
        ExpectedOutcome::BadInput => Some(AppErrorKind::BadInput),
        ExpectedOutcome::GroundTruth => None,
    }
}

pub(super) fn expected_outcome(ix: &Index<'_>, kind: &AppErrorKind) -> CheckResult {
    let c = CheckId::ExpectedOutcome;
    let bad: Vec<&TaskLens<'_>> = ix
        .tasks
        .iter()
        .filter(|t| {
            !t.app
                .first()
                .is_some_and(|e| matches!(&e.event, Event::AppError { kind: k, .. } if k == kind))
        })
        .collect();
    let kind = kind.name();
    match bad.first() {
        None => c.ok(format!(
            "all {} task(s) ended in {} error",
            ix.tasks.len(),
            an(kind)
        )),
        Some(t) => c.fail(
            format!("{} task(s) did not end in {} error", bad.len(), an(kind)),
            format!("{} ends in {} error", t.name(), an(kind)),
            t.app
                .first()
                .map_or("nothing".into(), |e| e.to_string().trim().to_owned()),
            ix.evidence(t),
        ),
    }
}

pub(super) fn summary(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::Summary;
    let mut polls = 0;
    let mut submits = 0;
    // Counted by name, so they print in the order of their names.
    let mut attempts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut app_results = 0;
    let mut app_errors: BTreeMap<String, usize> = BTreeMap::new();
    for e in &ix.rec.timeline.entries {
        match (&e.event, e.source) {
            (Event::Poll { .. }, _) => polls += 1,
            (Event::Submit { .. }, _) => submits += 1,
            (Event::Delivery { outcome, .. }, _) => {
                *attempts.entry(outcome.name()).or_default() += 1
            }
            (Event::AppResult { .. }, Source::App) => app_results += 1,
            (Event::AppError { kind, .. }, Source::App) => {
                *app_errors.entry(kind.name().to_owned()).or_default() += 1
            }
            _ => {}
        }
    }
    let attempts: Vec<String> = attempts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let errors: Vec<String> = app_errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
    c.info(format!(
        "{submits} submit(s), {polls} poll(s), pingback attempts: {}; application: {app_results} result(s){}; {} simulated",
        if attempts.is_empty() { "none".into() } else { attempts.join(", ") },
        if errors.is_empty() { String::new() } else { format!(", errors: {}", errors.join(", ")) },
        secs(ix.rec.ended_at_ms)
    ))
}
