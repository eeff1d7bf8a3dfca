//! Strategies: pingback with a polling fallback, pingback only, the path results take,
//! and the router's dispatch.

use super::{
    index::{Index, ms, secs},
    receiver::first_acked_genuine,
    registry::CheckId,
    verdict::CheckResult,
};
use crate::timeline::{Event, ResultPath};

pub(super) fn fallback(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::Fallback;
    let quiet = ms(ix.rec.scenario.subject.fallback_after);
    let tol = ix.tol(ix.rec.scenario.subject.fallback_after);
    let mut fell_back = 0;
    for t in &ix.tasks {
        let Some(start) = t.submitted_at else {
            continue;
        };
        let pingback_at = first_acked_genuine(t);
        if let Some(first) = t.polls.first() {
            fell_back += 1;
            if first.at_ms + tol < start + quiet {
                return c.fail(
                    format!("{} was polled before the fallback delay", t.name()),
                    format!("first poll at least {} after submit", secs(quiet)),
                    format!("first poll {} after submit", secs(first.at_ms - start)),
                    ix.evidence(t),
                );
            }
            if let Some(pb) = pingback_at
                && pb + tol < first.at_ms
                && pb < start + quiet
            {
                return c.fail(
                    format!("{} was polled although its pingback had arrived", t.name()),
                    "no polling for a task whose pingback arrived within the fallback delay".into(),
                    format!(
                        "pingback acknowledged at {}, poll at {}",
                        secs(pb),
                        secs(first.at_ms)
                    ),
                    ix.evidence(t),
                );
            }
        } else if pingback_at.is_none()
            && t.app.first().is_none_or(|e| e.at_ms > start + quiet + tol)
        {
            let finished =
                t.id.and_then(|id| ix.rec.truth.get(&id))
                    .and_then(|tr| tr.finish_at_ms);
            if finished.is_some() {
                return c.fail(
                    format!(
                        "{} never fell back to polling although no pingback arrived",
                        t.name()
                    ),
                    format!("polling from {} after submit", secs(quiet)),
                    "no poll at all".into(),
                    ix.evidence(t),
                );
            }
        }
    }
    c.ok(format!(
        "{fell_back} task(s) fell back to polling, each after {}",
        secs(quiet)
    ))
}

pub(super) fn pingback_only(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::PingbackOnly;
    match ix.tasks.iter().find(|t| !t.polls.is_empty()) {
        None => c.ok("no polls"),
        Some(t) => c.fail(
            format!("{} was polled", t.name()),
            "no polls".into(),
            format!("{} poll(s)", t.polls.len()),
            ix.evidence(t),
        ),
    }
}

pub(super) fn via(ix: &Index<'_>, want: ResultPath) -> CheckResult {
    let c = CheckId::Via;
    for t in &ix.tasks {
        let got = t.app.first().and_then(|e| match &e.event {
            Event::AppResult { via, .. } => *via,
            _ => None,
        });
        let app_at = t.app.first().map_or(u64::MAX, |e| e.at_ms);
        let polled_first = t.polls.iter().any(|p| {
            p.at_ms <= app_at
                && matches!(&p.event, Event::Poll { answer, .. } if answer.class().ends_polling())
        });
        let inferred = got.unwrap_or(if polled_first {
            ResultPath::Poll
        } else {
            ResultPath::Pingback
        });
        if t.app
            .iter()
            .any(|e| matches!(e.event, Event::AppResult { .. }))
            && inferred != want
        {
            return c.fail(
                format!("{} arrived by {}", t.name(), inferred.name()),
                format!("results by {}", want.name()),
                format!("by {}", inferred.name()),
                ix.evidence(t),
            );
        }
    }
    c.ok(format!("every result arrived by {}", want.name()))
}

pub(super) fn router(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::Router;
    for (t, w) in ix.tasks.iter().zip(&ix.rec.scenario.tasks) {
        let want = w.route.clone().unwrap_or_else(|| "default".into());
        for e in &t.app {
            if let Event::AppResult { route, .. } = &e.event
                && route.as_deref() != Some(want.as_str())
            {
                return c.fail(
                    format!("{} went to the wrong handler", t.name()),
                    format!("route {want}"),
                    format!("route {}", route.as_deref().unwrap_or("(none)")),
                    ix.evidence(t),
                );
            }
        }
    }
    c.ok("every result reached its route's handler")
}
