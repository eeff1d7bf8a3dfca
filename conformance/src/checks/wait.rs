//! The application's long poll, on replicas of one endpoint: a waiter on one replica is
//! woken by a result acknowledged on another (`wait-woken`). The harness opens the wait
//! (`--wait-url`) as soon as a task has its id, on another replica than its callback's, and
//! the relay in front of the replicas records which replica acknowledged each callback.

use std::collections::BTreeSet;

use super::{
    index::{Index, TaskLens},
    registry::CheckId,
    verdict::CheckResult,
};
use crate::{
    report::ms_text,
    timeline::{Entry, Event, short},
};

/// What the flag that grades the check looks like.
const WAIT_URL_HINT: &str = "--wait-url 'http://HOST/results/{id}?wait=30s' (once per replica) \
     grades it: the harness opens that long poll on another replica than the callback's, \
     before the callback is sent";

/// One task's wait, as the timeline shows it.
struct TaskWait<'a> {
    opened: &'a Entry,
    replica: usize,
    ended: Option<&'a Entry>,
}

fn task_wait<'a>(ix: &Index<'a>, id: u64) -> Option<TaskWait<'a>> {
    let mut wait: Option<TaskWait<'a>> = None;
    for e in &ix.rec.timeline.entries {
        match &e.event {
            Event::WaitOpened { task, replica } if *task == id && wait.is_none() => {
                wait = Some(TaskWait {
                    opened: e,
                    replica: *replica,
                    ended: None,
                });
            }
            Event::Waited { task, .. } if *task == id => {
                if let Some(w) = wait.as_mut() {
                    w.ended.get_or_insert(e);
                }
            }
            _ => {}
        }
    }
    wait
}

/// The first callback for `id` a replica `on` accepts acknowledged (2xx), as the relay
/// recorded it: when the answer reached the harness, and the replica.
fn first_ack<'a>(
    ix: &Index<'a>,
    id: u64,
    on: impl Fn(usize) -> bool,
) -> Option<(&'a Entry, usize)> {
    let id = id.to_string();
    ix.rec.timeline.entries.iter().find_map(|e| match &e.event {
        Event::Received {
            id: Some(i),
            status,
            replica: Some(r),
            ..
        } if *i == id && (200..300).contains(status) && on(*r) => Some((e, *r)),
        _ => None,
    })
}

/// What a failing task adds to the check.
struct Offender<'t, 'a> {
    task: &'t TaskLens<'a>,
    line: String,
    expected: String,
    actual: String,
}

pub(super) fn wait_woken(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::WaitWoken;
    if !ix.rec.caps.waits {
        return c.not_graded(format!(
            "the application's long poll was not opened: {WAIT_URL_HINT}"
        ));
    }
    let budget = ix.rec.caps.latency_budget.unwrap_or_default();
    let budget_ms = budget.as_secs_f64() * 1000.0;
    let scale = ix.rec.time_scale;
    let (mut woken, mut worst_ms) = (0usize, 0f64);
    let mut ungraded: Vec<String> = Vec::new();
    let mut offenders: Vec<Offender<'_, '_>> = Vec::new();
    for t in &ix.tasks {
        let Some(id) = t.id else { continue };
        let Some(wait) = task_wait(ix, id) else {
            ungraded.push(format!("{}: no long poll was opened", t.name()));
            continue;
        };
        let Some((ack, acked_on)) = first_ack(ix, id, |r| r != wait.replica) else {
            ungraded.push(format!(
                "{}: no callback was acknowledged on another replica than the waiter's ({})",
                t.name(),
                wait.replica
            ));
            continue;
        };
        // A wait opened after the callback was sent tests a read, not a wake-up.
        let first_sent = t.deliveries.iter().map(|d| d.at_ms).min();
        if first_sent.is_some_and(|sent| wait.opened.at_ms > sent) {
            ungraded.push(format!(
                "{}: the long poll was opened after the callback was sent",
                t.name()
            ));
            continue;
        }
        // A callback the waiter's own replica acknowledged before the wait ended (a duplicate
        // or a retry that landed there) could have woken it locally: that proves nothing
        // about the replicas sharing their state.
        let woken_by = wait.ended.map_or(u64::MAX, |e| e.at_ms);
        if let Some((own, _)) = first_ack(ix, id, |r| r == wait.replica)
            && own.at_ms <= woken_by
        {
            ungraded.push(format!(
                "{}: a callback was acknowledged on the waiter's own replica ({}) before the \
                 long poll ended, so a local result could have woken it",
                t.name(),
                wait.replica
            ));
            continue;
        }
        let code = ix.rec.truth.get(&id).map(|truth| truth.outcome.code());
        let place = format!(
            "{}: the long poll on replica {}, its result acknowledged on replica {acked_on}",
            t.name(),
            wait.replica
        );
        let Some(ended) = wait.ended else {
            offenders.push(Offender {
                task: t,
                line: format!("{place}, never ended"),
                expected: format!("the code within {}", ms_text(budget_ms)),
                actual: "no answer".into(),
            });
            continue;
        };
        let after_ms = ended.at_ms.saturating_sub(ack.at_ms) as f64 / scale;
        let Event::Waited {
            status,
            code: answered,
            error,
            ..
        } = &ended.event
        else {
            continue;
        };
        let expected = format!(
            "200 with {} within {} of the acknowledgement",
            code.map_or_else(|| "the code".to_owned(), short),
            ms_text(budget_ms)
        );
        match (status, answered) {
            (Some(200), Some(got)) if code.is_some_and(|c| short(c) == *got) => {
                if after_ms > budget_ms {
                    offenders.push(Offender {
                        task: t,
                        line: format!(
                            "{place}, answered {} after the acknowledgement, over the {} budget",
                            ms_text(after_ms),
                            ms_text(budget_ms)
                        ),
                        expected,
                        actual: format!("200 after {}", ms_text(after_ms)),
                    });
                } else {
                    woken += 1;
                    worst_ms = worst_ms.max(after_ms);
                }
            }
            (Some(200), got) => offenders.push(Offender {
                task: t,
                line: format!(
                    "{place}, answered another code ({})",
                    got.as_deref().unwrap_or("∅")
                ),
                expected,
                actual: format!("200 with {}", got.as_deref().unwrap_or("∅")),
            }),
            (Some(s), _) => offenders.push(Offender {
                task: t,
                line: format!(
                    "{place}, was never woken: it answered {s} {} after the acknowledgement",
                    ms_text(after_ms)
                ),
                expected,
                actual: format!("HTTP {s}"),
            }),
            (None, _) => offenders.push(Offender {
                task: t,
                line: format!(
                    "{place}, was never woken ({})",
                    error.as_deref().unwrap_or("no answer")
                ),
                expected,
                actual: "no answer".into(),
            }),
        }
    }
    if let Some(first) = offenders.first() {
        let n = offenders.len();
        let summary = if n == 1 {
            first.line.clone()
        } else {
            format!(
                "{n} waiter(s) not woken in time ({woken} were); first: {}",
                first.line
            )
        };
        let tasks: BTreeSet<u64> = offenders.iter().filter_map(|o| o.task.id).collect();
        let evidence = ix.evidence_of(
            &[first.task],
            |e| matches!(&e.event, Event::Waited { task, .. } if tasks.contains(task)),
        );
        return c
            .fail(
                summary,
                first.expected.clone(),
                first.actual.clone(),
                evidence,
            )
            .with_offenders(offenders.into_iter().map(|o| o.line).collect());
    }
    if woken == 0 {
        return c.not_graded(format!(
            "no waiter could be graded: {}",
            ungraded.first().map_or("no task", String::as_str)
        ));
    }
    let ok = format!(
        "{woken} long poll(s) on another replica answered the code within {} of its \
         acknowledgement (slowest {})",
        ms_text(budget_ms),
        ms_text(worst_ms)
    );
    if ungraded.is_empty() {
        c.ok(ok)
    } else {
        c.not_graded(format!(
            "{ok}; not graded: {} ({} in all)",
            ungraded[0],
            ungraded.len()
        ))
    }
}
