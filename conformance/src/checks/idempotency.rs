//! Idempotency: a result reaches the application once, and what the receiver stores is
//! the first valid result, whatever duplicates, conflicting copies or forgeries follow.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    index::{Index, TaskLens},
    registry::CheckId,
    rejection::{Defence, ungraded_why},
    verdict::CheckResult,
};
use crate::{
    runner::{FORGED_CODE, Truth},
    timeline::{CallbackKind, Entry, Event, HandledBy, Source, short},
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
    let mut reached = 0;
    let mut offenders: Vec<(&TaskLens<'_>, String, String, String)> = Vec::new();
    for t in &ix.tasks {
        let conflicting = |d: &&&Entry| {
            matches!(
                &d.event,
                Event::Delivery {
                    kind: CallbackKind::Conflicting,
                    ..
                }
            )
        };
        if !t.deliveries.iter().any(|d| conflicting(&d)) {
            continue;
        }
        let Some(truth) = t.id.and_then(|id| ix.rec.truth.get(&id)) else {
            continue;
        };
        // A copy the receiver never answered tested nothing, in the store or the application.
        if t.deliveries.iter().filter(conflicting).any(|d| {
            matches!(
                &d.event,
                Event::Delivery {
                    status: Some(_),
                    handled_by: HandledBy::Subject,
                    ..
                }
            )
        }) {
            reached += 1;
        }
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
            let actual = if replaced_store {
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
            };
            offenders.push((
                t,
                format!("{}: the conflicting copy won ({actual})", t.name()),
                format!("the first result {}", short(want)),
                actual,
            ));
        }
    }
    if let Some((t, _, expected, actual)) = offenders.first() {
        let n = offenders.len();
        let summary = if n == 1 {
            format!("{}: the conflicting copy won", t.name())
        } else {
            format!("{n} task(s): the conflicting copy won; first: {}", t.name())
        };
        // The first task's story, and the conflicting copies of every other.
        let others: BTreeSet<u64> = offenders.iter().filter_map(|o| o.0.id).collect();
        let evidence = ix.evidence_of(&[*t], |e| {
            matches!(&e.event, Event::Delivery { task, kind: CallbackKind::Conflicting, .. }
                if others.contains(task))
        });
        return c
            .fail(summary, expected.clone(), actual.clone(), evidence)
            .with_offenders(offenders.iter().map(|o| o.1.clone()).collect());
    }
    if reached == 0 {
        return c.not_graded(
            "no conflicting copy reached the receiver (each was refused or never answered)",
        );
    }
    c.ok("every conflicting copy was ignored")
}

pub(super) fn no_state_change(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::NoStateChange;
    let registered_only = ix.rec.caps.registered_only;
    let mut checked = 0;
    let mut ungraded: Vec<(&str, Defence)> = Vec::new();
    let mut offenders: Vec<StateOffender<'_, '_>> = Vec::new();
    for (id, stored) in &ix.rec.stored {
        let Some(code) = stored else { continue };
        let known = id.parse::<u64>().ok().and_then(|n| ix.rec.truth.get(&n));
        match known {
            Some(truth) => {
                let t = ix.by_id.get(&truth.task).map(|&i| &ix.tasks[i]);
                let rightful = t
                    .and_then(|t| conflicting_taken_first(t, truth))
                    .unwrap_or(truth.outcome.code());
                if code == rightful {
                    checked += 1;
                    continue;
                }
                // A forgery the receiver could not be asked to refuse (no secret, no
                // allow-list) was the first callback it accepted: what it kept is not graded.
                if let Some(d) = ungraded_forgery(ix, id, code) {
                    ungraded.push((id, d));
                    continue;
                }
                let sent_by = carriers(ix, id, code);
                let name = t.map_or_else(|| format!("task {id}"), TaskLens::name);
                offenders.push(StateOffender {
                    task: t,
                    line: format!(
                        "{name}: stores {}, not its first valid result {}{}",
                        short(code),
                        short(rightful),
                        sent_by_text(ix, &sent_by)
                    ),
                    expected: format!("stored {}", short(rightful)),
                    actual: format!("stored {}", short(code)),
                    entries: sent_by,
                });
            }
            // A receiver that accepts unregistered ids (to keep early results)
            // cannot tell an unknown id from an early one: only a registered-only
            // receiver must store nothing for ids it never asked for.
            None if registered_only => {
                let sent_by = carriers(ix, id, code);
                offenders.push(StateOffender {
                    task: None,
                    line: format!(
                        "{id}, an id the application never submitted, stores {}{}",
                        short(code),
                        sent_by_text(ix, &sent_by)
                    ),
                    expected: "nothing stored for unknown ids".into(),
                    actual: format!("stored {}", short(code)),
                    entries: sent_by,
                });
            }
            None => ungraded.push((id.as_str(), Defence::Registration)),
        }
    }
    if !offenders.is_empty() {
        return state_failure(ix, offenders);
    }
    let nothing_stored = ix.rec.stored.values().all(Option::is_none);
    if nothing_stored && !reached_subject(ix) {
        return c.not_graded(
            "no callback reached the receiver (each was refused or never answered), so nothing \
             it stored can be judged",
        );
    }
    let ok = if nothing_stored {
        format!(
            "nothing stored for any of the {} id(s) read back",
            ix.rec.stored.len()
        )
    } else {
        format!("{checked} stored result(s) are each task's first valid result")
    };
    if ungraded.is_empty() {
        return c.ok(ok);
    }
    c.not_graded(format!(
        "{ok}; also stored, not graded: {}",
        ungraded_stored(ix, &ungraded)
    ))
}

/// Whether any callback, genuine or forged, got an answer from the subject itself.
fn reached_subject(ix: &Index<'_>) -> bool {
    ix.rec.timeline.entries.iter().any(|e| {
        matches!(
            &e.event,
            Event::Delivery {
                status: Some(_),
                handled_by: HandledBy::Subject,
                ..
            } | Event::Injected {
                status: Some(_),
                ..
            }
        )
    })
}

/// What was stored where refusing it is not graded, by defence, with the flag that would
/// grade it.
fn ungraded_stored(ix: &Index<'_>, ungraded: &[(&str, Defence)]) -> String {
    let mut by_defence: BTreeMap<Defence, Vec<&str>> = BTreeMap::new();
    for (id, d) in ungraded {
        by_defence.entry(*d).or_default().push(id);
    }
    by_defence
        .iter()
        .map(|(d, ids)| {
            let what = match d {
                Defence::Registration => "results for id(s) the application never submitted",
                _ => "forged results the receiver could not be asked to refuse",
            };
            format!(
                "{} {what} ({}) ({})",
                ids.len(),
                ids.join(", "),
                ungraded_why(ix, *d)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A stored result that should not be there.
struct StateOffender<'t, 'a> {
    task: Option<&'t TaskLens<'a>>,
    line: String,
    expected: String,
    actual: String,
    /// The callbacks that carried what is stored.
    entries: Vec<&'a Entry>,
}

fn state_failure(ix: &Index<'_>, offenders: Vec<StateOffender<'_, '_>>) -> CheckResult {
    let c = CheckId::NoStateChange;
    let first = &offenders[0];
    let summary = if offenders.len() == 1 {
        first.line.clone()
    } else {
        format!(
            "{} stored result(s) are not what a first valid callback carried; first: {}",
            offenders.len(),
            first.line
        )
    };
    // The first task's story, and every callback that put something wrong in the store.
    let tasks: Vec<&TaskLens<'_>> = first.task.into_iter().collect();
    let carriers: BTreeSet<(Source, u64)> = offenders
        .iter()
        .flat_map(|o| o.entries.iter().map(|e| (e.source, e.seq)))
        .collect();
    let evidence = ix.evidence_of(&tasks, |e| carriers.contains(&(e.source, e.seq)));
    c.fail(
        summary,
        first.expected.clone(),
        first.actual.clone(),
        evidence,
    )
    .with_offenders(offenders.iter().map(|o| o.line.clone()).collect())
}

/// Every callback that carried `code` for `id` and was answered 2xx: the ones that can
/// have put it in the store (a pingback of any kind, or a forged one).
fn carriers<'a>(ix: &Index<'a>, id: &str, code: &str) -> Vec<&'a Entry> {
    ix.rec
        .timeline
        .entries
        .iter()
        .filter(|e| match &e.event {
            Event::Delivery {
                id: Some(i),
                code: Some(sent),
                code_len,
                status: Some(s),
                ..
            } => i == id && (200..300).contains(s) && carried(sent, *code_len, code),
            Event::Injected {
                id: i,
                status: Some(s),
                ..
            } => i == id && (200..300).contains(s) && code == FORGED_CODE,
            _ => false,
        })
        .collect()
}

/// Whether a journalled `code` (cut to its first characters, ending `…`, with its full
/// length) is `stored`.
fn carried(sent: &str, len: usize, stored: &str) -> bool {
    let head = sent.strip_suffix('…').unwrap_or(sent);
    stored.len() == len && stored.starts_with(head)
}

/// `; sent by the stale-id callback of task #3 (id 74000000003) at 12.300s (answered 200)`.
fn sent_by_text(ix: &Index<'_>, entries: &[&Entry]) -> String {
    let Some(e) = entries.last() else {
        return String::new();
    };
    let (what, status) = match &e.event {
        Event::Delivery {
            task, kind, status, ..
        } => {
            let of = ix
                .by_id
                .get(task)
                .map_or_else(|| format!("task {task}"), |&i| ix.tasks[i].name());
            (format!("the {} callback of {of}", kind.name()), *status)
        }
        Event::Injected {
            callback, status, ..
        } => (format!("an injected {} callback", callback.name()), *status),
        _ => return String::new(),
    };
    format!(
        "; sent by {what} at {:.3}s (answered {})",
        e.at_ms as f64 / 1000.0,
        status.map_or_else(|| "-".to_owned(), |s| s.to_string())
    )
}

/// The defence an accepted forgery of `id` carrying `code` tested, when this run does not
/// grade it.
fn ungraded_forgery(ix: &Index<'_>, id: &str, code: &str) -> Option<Defence> {
    if code != FORGED_CODE {
        return None;
    }
    ix.rec.timeline.entries.iter().find_map(|e| match &e.event {
        Event::Injected {
            callback,
            id: i,
            status: Some(s),
            ..
        } if i == id && (200..300).contains(s) => {
            let d = Defence::tested_by(*callback);
            (!d.graded(ix)).then_some(d)
        }
        _ => None,
    })
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
