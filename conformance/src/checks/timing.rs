//! Timing: how exact a timing check can be (to the millisecond on one paused clock, wider
//! for another process with its own clock), and the `deadline` check.

use std::time::Duration;

use super::{
    index::{Index, TaskLens, ms, secs},
    registry::CheckId,
    verdict::CheckResult,
};
use crate::timeline::{AppErrorKind, Event};

/// How exact timing checks can be.
impl Index<'_> {
    /// Tolerance on a duration `d`, in milliseconds.
    pub(super) fn tol(&self, d: Duration) -> u64 {
        // In-process runs share one paused clock: times are exact but for
        // client jitter. Another process sleeps on its own clock, scaled: allow
        // for scheduling and loopback latency (50 ms real) times the time scale.
        if self.rec.caps.in_process {
            50.max(d.as_millis() as u64 / 20)
        } else {
            ((50.0 * self.rec.time_scale) as u64).max(d.as_millis() as u64 / 10)
        }
    }

    /// Tolerance on a deadline: wider for another process, whose per-sleep
    /// jitter (the official SDK adds up to 1 s to every sleep) accumulates.
    pub(super) fn deadline_tol(&self, d: Duration) -> u64 {
        if self.rec.caps.in_process {
            self.tol(d)
        } else {
            self.tol(d).max(d.as_millis() as u64 / 4)
        }
    }
}

pub(super) fn deadline(ix: &Index<'_>) -> Option<CheckResult> {
    let c = CheckId::Deadline;
    let d = ix.rec.scenario.subject.deadline;
    let never: Vec<&TaskLens<'_>> = ix
        .tasks
        .iter()
        .filter(|t| {
            t.id.and_then(|id| ix.rec.truth.get(&id))
                .is_some_and(|tr| tr.finish_at_ms.is_none())
        })
        .collect();
    if never.is_empty() {
        return None;
    }
    let tol = ix.deadline_tol(d);
    for t in &never {
        let start = t.submitted_at.unwrap_or(0);
        let timeout = t.app.iter().find_map(|e| match &e.event {
            Event::AppError {
                kind: AppErrorKind::Timeout,
                ..
            } => Some(e.at_ms),
            _ => None,
        });
        let want = format!(
            "{}: a timeout error {} after submit (±{})",
            t.name(),
            secs(ms(d)),
            secs(tol)
        );
        match timeout {
            None => {
                return Some(c.fail(
                    "a never-finishing task did not time out",
                    want,
                    "no timeout error".into(),
                    ix.evidence(t),
                ));
            }
            Some(at) => {
                let took = at.saturating_sub(start);
                if took > ms(d) + tol || took + tol < ms(d) {
                    return Some(c.fail(
                        "a timeout came at the wrong time",
                        want,
                        format!("a timeout {} after submit", secs(took)),
                        ix.evidence(t),
                    ));
                }
            }
        }
    }
    Some(c.ok(format!(
        "{} never-finishing task(s) timed out after {}",
        never.len(),
        secs(ms(d))
    )))
}
