//! Idempotency: a result reaches the application once, and what the receiver stores is
//! the first valid result, whatever duplicates, conflicting copies or forgeries follow.

use super::{
    index::{Index, TaskLens},
    receiver::ungraded_why,
    registry::CheckId,
    verdict::CheckResult,
};
use crate::{
    runner::Truth,
    timeline::{CallbackKind, Entry, Event, HandledBy, short},
};

pub(super) fn exactly_once(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::ExactlyOnce;
    let dup: Vec<&TaskLens<'_>> = ix.tasks.iter().filter(|t| t.app.len() > 1).collect();
    match dup.first() {
        None => c.ok(format!("{} task(s), none delivered twice", ix.tasks.len())),
        Some(t) => c.fail(
            format!(
                "{} task(s) reached the application more than once",
                dup.len()
            ),
            format!("{} delivered to the application once", t.name()),
            format!("delivered {} times", t.app.len()),
            ix.evidence(t),
        ),
    }
}

pub(super) fn first_wins(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::FirstWins;
    for t in &ix.tasks {
        if !t.deliveries.iter().any(|d| {
            matches!(
                &d.event,
                Event::Delivery {
                    kind: CallbackKind::Conflicting,
                    ..
                }
            )
        }) {
            continue;
        }
        let Some(truth) = t.id.and_then(|id| ix.rec.truth.get(&id)) else {
            continue;
        };
        let want = conflicting_taken_first(t, truth).unwrap_or(truth.outcome.code());
        let app_codes: Vec<String> = t
            .app
            .iter()
            .filter_map(|e| match &e.event {
                Event::AppResult { code, .. } => Some(code.clone()),
                Event::AppError { code, .. } => code.clone(),
                _ => None,
            })
            .collect();
        let stored =
            t.id.and_then(|id| ix.rec.stored.get(&id.to_string()).cloned().flatten());
        let replaced_app = app_codes.iter().any(|c| c != want);
        let replaced_store = stored.as_deref().is_some_and(|s| s != want);
        if replaced_app || replaced_store {
            return c.fail(
                format!("{}: the conflicting copy won", t.name()),
                format!("the first result {}", short(want)),
                if replaced_store {
                    format!("stored {}", short(stored.as_deref().unwrap_or("")))
                } else {
                    format!(
                        "the application got {}",
                        app_codes
                            .iter()
                            .map(|c| short(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                ix.evidence(t),
            );
        }
    }
    c.ok("every conflicting copy was ignored")
}

pub(super) fn no_state_change(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::NoStateChange;
    let registered_only = ix.rec.caps.registered_only;
    let mut checked = 0;
    let mut ungraded = Vec::new();
    for (id, stored) in &ix.rec.stored {
        let Some(code) = stored else { continue };
        let known = id.parse::<u64>().ok().and_then(|n| ix.rec.truth.get(&n));
        match known {
            Some(truth) => {
                checked += 1;
                let t = ix.by_id.get(&truth.task).map(|&i| &ix.tasks[i]);
                let rightful = t
                    .and_then(|t| conflicting_taken_first(t, truth))
                    .unwrap_or(truth.outcome.code());
                if code != rightful {
                    return c.fail(
                        format!("task {id} holds a code that is not its first valid result"),
                        format!("stored {}", short(rightful)),
                        format!("stored {}", short(code)),
                        t.map_or_else(Vec::new, |t| ix.evidence(t)),
                    );
                }
            }
            // A receiver that accepts unregistered ids (to keep early results)
            // cannot tell an unknown id from an early one: only a registered-only
            // receiver must store nothing for ids it never asked for.
            None if registered_only => {
                let evidence: Vec<Entry> = ix
                    .rec
                    .timeline
                    .entries
                    .iter()
                    .filter(|e| match &e.event {
                        Event::Delivery { id: Some(i), .. }
                        | Event::Received { id: Some(i), .. } => i == id,
                        Event::Injected { id: i, .. } => i == id,
                        _ => false,
                    })
                    .cloned()
                    .collect();
                return c.fail(
                    format!("a result was stored for {id}, an id the application never submitted"),
                    "nothing stored for unknown ids".into(),
                    format!("stored {}", short(code)),
                    evidence,
                );
            }
            None => ungraded.push(id.as_str()),
        }
    }
    if !ungraded.is_empty() {
        return c.info(format!(
            "{checked} stored result(s) are each task's first valid result; also stored, not graded: \
             results for {} id(s) the application never submitted ({}) ({})",
            ungraded.len(),
            ungraded.join(", "),
            ungraded_why(ix)
        ));
    }
    c.ok(format!(
        "{checked} stored result(s) are each task's first valid result"
    ))
}

/// The conflicting copy's code, when that copy was the first valid callback the subject took:
/// the genuine one never reached it (failed in front of it by the scenario's receiver faults,
/// or dropped), so keeping the conflicting code is all a correct subject can do.
pub(super) fn conflicting_taken_first<'r>(t: &TaskLens<'_>, truth: &'r Truth) -> Option<&'r str> {
    let first = t.deliveries.iter().find_map(|d| match &d.event {
        Event::Delivery {
            kind,
            status: Some(s),
            handled_by: HandledBy::Subject,
            ..
        } if kind.is_valid() && (200..300).contains(s) => Some(*kind),
        _ => None,
    })?;
    (first == CallbackKind::Conflicting)
        .then_some(truth.conflicting_code.as_deref())
        .flatten()
}
