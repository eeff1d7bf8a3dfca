//! After the workload: let the pingbacks still scheduled (late duplicates, retries, reorder
//! windows waiting for their max-hold) play out before the run is graded.

use std::{collections::HashMap, time::Duration};

use captchaai_mock::{MockHandle, TaskState, TaskView};

use super::TimeScale;
use crate::timeline::{Deliveries, DeliveryOutcome, Event};

/// How long settling waits in-process, at most (simulated time).
const DRAIN_IN_PROCESS: Duration = Duration::from_secs(3 * 86_400);
/// The longest pause between two looks at the dispatcher in-process.
const LONGEST_STEP: Duration = Duration::from_secs(3600);
/// The longest settling takes in-process: the wait, a last pause that may run past it, and
/// the second after it.
pub(super) const LONGEST_IN_PROCESS: Duration =
    DRAIN_IN_PROCESS.saturating_add(LONGEST_STEP.saturating_add(Duration::from_secs(1)));

/// Waits until the dispatcher has nothing pending and every planned callback was attempted,
/// at most three simulated days in-process (30 s real for another process), then one more
/// simulated second for the last answers to be recorded.
pub(super) async fn drain(
    state: &MockHandle,
    deliveries: &mut Deliveries,
    in_process: bool,
    scale: TimeScale,
) {
    let mut step = Duration::from_millis(100);
    let drain_for = if in_process {
        DRAIN_IN_PROCESS
    } else {
        Duration::from_secs(30)
    };
    let drain_until = tokio::time::Instant::now() + drain_for;
    let mut settling = Settling::default();
    while tokio::time::Instant::now() < drain_until {
        if state.pingback_stats().pending == 0 && settling.settled(state, deliveries) {
            break;
        }
        if in_process {
            tokio::time::sleep(step).await;
            step = (step * 2).min(LONGEST_STEP);
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(scale.real(Duration::from_secs(1))).await;
}

/// What settling has seen so far, so that each look at the mock reads only what changed
/// since the last one (the attempts journalled since, the tasks still open) and a run's
/// settling costs what its journal and tasks do once, not once per look.
#[derive(Default)]
struct Settling {
    /// Per task, its first attempts and its callbacks never sent (dropped, shed).
    first_attempts: HashMap<u64, usize>,
    /// How many tasks the mock had accepted at the last full look.
    accepted: Option<u64>,
    /// The tasks not done at the last look (unfinished, or with planned callbacks not
    /// attempted yet): the only ones that can hold settling back while no task is new.
    open: Vec<u64>,
}

impl Settling {
    /// True when every finished task's planned callbacks have all been attempted (or
    /// recorded as dropped or shed): nothing is still held back, for example in a reorder
    /// window waiting for its max-hold.
    fn settled(&mut self, state: &MockHandle, deliveries: &mut Deliveries) -> bool {
        for e in deliveries.read_new(state) {
            if let Event::Delivery {
                task,
                attempt,
                outcome,
                ..
            } = &e.event
                && (*attempt <= 1
                    || matches!(outcome, DeliveryOutcome::Dropped | DeliveryOutcome::Shed))
            {
                *self.first_attempts.entry(*task).or_default() += 1;
            }
        }
        let accepted = state.counters().submitted;
        let looked: Vec<(u64, Look)> = if self.accepted == Some(accepted) {
            // No task is new: only those still open can have changed.
            std::mem::take(&mut self.open)
                .into_iter()
                .filter_map(|id| state.task(id).map(|t| (id, self.look(&t))))
                .collect()
        } else {
            self.accepted = Some(accepted);
            state.tasks().iter().map(|t| (t.id, self.look(t))).collect()
        };
        let mut settled = true;
        self.open = looked
            .into_iter()
            .filter(|(_, look)| {
                settled &= *look != Look::Behind;
                *look != Look::Done
            })
            .map(|(id, _)| id)
            .collect();
        settled
    }

    fn look(&self, t: &TaskView) -> Look {
        let Some(schedule) = &t.schedule else {
            return Look::Done;
        };
        if !matches!(t.state, TaskState::Solved | TaskState::Failed) {
            return Look::Unfinished;
        }
        let planned = schedule.deliveries.len().max(1);
        if self.first_attempts.get(&t.id).copied().unwrap_or(0) >= planned {
            Look::Done
        } else {
            Look::Behind
        }
    }
}

/// Where a task stands for settling.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Every planned callback was attempted (or it has none): it never holds settling back.
    Done,
    /// Not finished yet: it does not hold settling back, but may once it finishes.
    Unfinished,
    /// Finished, with planned callbacks not attempted yet.
    Behind,
}
