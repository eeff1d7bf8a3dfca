//! Polling etiquette: the SDK's initial wait and interval, no poll after the result, at
//! most the allowed polls, and no retry of an answer that cannot heal.

use std::time::Duration;

use super::{
    index::{Index, TaskLens, ms, secs},
    registry::CheckId,
    verdict::{CheckResult, Verdict},
};
use crate::timeline::{Entry, Event};

/// Initial wait and poll interval of the official SDK's table (protocol.md §3).
fn sdk_timing(kind: &str) -> (Duration, Duration) {
    let initial = match kind {
        "normal" | "grid" | "bls" => 1,
        "recaptcha-v2" | "recaptcha-v2-enterprise" | "cloudflare-challenge" | "geetest" => 15,
        _ => 10,
    };
    (Duration::from_secs(initial), Duration::from_secs(5))
}

pub(super) fn poll_etiquette(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::PollEtiquette;
    let mut early = Vec::new();
    for t in &ix.tasks {
        let (Some(id), Some(start)) = (t.id, t.submitted_at) else {
            continue;
        };
        let kind = ix.rec.truth.get(&id).map_or("normal", |tr| tr.kind);
        let (initial, interval) = sdk_timing(kind);
        let tol = ix.tol(interval);
        for w in t.polls.windows(2) {
            let gap = w[1].at_ms.saturating_sub(w[0].at_ms);
            if gap + tol < ms(interval) {
                return c.fail(
                    format!("{} was polled {} apart", t.name(), secs(gap)),
                    format!("polls at least {} apart", secs(ms(interval))),
                    format!("two polls {} apart", secs(gap)),
                    ix.evidence(t),
                );
            }
        }
        if let Some(first) = t.polls.first() {
            let after = first.at_ms.saturating_sub(start);
            if after + ix.tol(initial) < ms(initial) {
                early.push((t, after, initial));
            }
        }
    }
    match early.first() {
        None => c.ok("every poll respected the initial wait and the interval"),
        Some((t, after, initial)) => c.verdict(
            Verdict::NonStrict,
            format!(
                "{} task(s) polled once before the initial wait (allowed: 2captcha-python does it)",
                early.len()
            ),
            format!(
                "first poll of {} at least {} after submit",
                t.name(),
                secs(ms(*initial))
            ),
            format!("first poll {} after submit", secs(*after)),
            ix.evidence(t),
        ),
    }
}

pub(super) fn result_in_at(t: &TaskLens<'_>) -> Option<u64> {
    let polled = t.polls.iter().find_map(|p| match &p.event {
        Event::Poll { answer, .. } if answer.class().ends_polling() => Some(p.at_ms),
        _ => None,
    });
    let app = t.app.first().map(|e| e.at_ms);
    match (polled, app) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn polling_stops(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::PollingStops;
    for t in &ix.tasks {
        let Some(done) = result_in_at(t) else {
            continue;
        };
        let extra: Vec<&&Entry> = t
            .polls
            .iter()
            .filter(|p| p.at_ms > done + ix.tol(Duration::ZERO))
            .collect();
        if let Some(p) = extra.first() {
            return c.fail(
                format!(
                    "{} was polled {} time(s) after its result was in",
                    t.name(),
                    extra.len()
                ),
                format!("no poll after {}", secs(done)),
                format!("a poll at {}", secs(p.at_ms)),
                ix.evidence(t),
            );
        }
    }
    c.ok("polling stopped as soon as each result was in")
}

pub(super) fn max_polls(ix: &Index<'_>, max: u32) -> CheckResult {
    let c = CheckId::MaxPolls;
    match ix.tasks.iter().find(|t| t.polls.len() > max as usize) {
        None => c.ok(format!("at most {max} poll(s) per task")),
        Some(t) => c.fail(
            format!("{} was polled {} times", t.name(), t.polls.len()),
            format!("at most {max}"),
            t.polls.len().to_string(),
            ix.evidence(t),
        ),
    }
}

pub(super) fn no_fatal_retry(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::NoFatalRetry;
    let submits = ix.submits();
    let polls = ix
        .rec
        .timeline
        .entries
        .iter()
        .filter(|e| matches!(e.event, Event::Poll { .. }))
        .count();
    if submits.len() <= ix.tasks.len() && polls == 0 {
        c.ok(format!(
            "{} submit(s) for {} task(s), no polls",
            submits.len(),
            ix.tasks.len()
        ))
    } else {
        c.fail(
            "a fatal answer was retried",
            format!("at most {} submit(s) and no polls", ix.tasks.len()),
            format!("{} submit(s), {polls} poll(s)", submits.len()),
            submits.into_iter().cloned().collect(),
        )
    }
}
