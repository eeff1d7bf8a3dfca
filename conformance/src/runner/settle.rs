//! After the workload: let the pingbacks still scheduled (late duplicates, retries, reorder
//! windows waiting for their max-hold) play out before the run is graded.

use std::time::Duration;

use captchaai_mock::MockHandle;

use super::TimeScale;

/// Waits until the dispatcher has nothing pending and every planned callback was attempted,
/// at most three simulated days in-process (30 s real for another process), then one more
/// simulated second for the last answers to be recorded.
pub(super) async fn drain(state: &MockHandle, in_process: bool, scale: TimeScale) {
    let mut step = Duration::from_millis(100);
    let drain_for = if in_process {
        Duration::from_secs(3 * 86_400)
    } else {
        Duration::from_secs(30)
    };
    let drain_until = tokio::time::Instant::now() + drain_for;
    while tokio::time::Instant::now() < drain_until {
        if state.pingback_stats().pending == 0 && deliveries_settled(state) {
            break;
        }
        if in_process {
            tokio::time::sleep(step).await;
            step = (step * 2).min(Duration::from_secs(3600));
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(scale.real(Duration::from_secs(1))).await;
}

/// True when every finished task's planned callbacks have all been attempted
/// (or recorded as dropped or shed): nothing is still held back, for example
/// in a reorder window waiting for its max-hold.
fn deliveries_settled(state: &captchaai_mock::MockHandle) -> bool {
    use captchaai_mock::{AttemptOutcome, TaskState};
    let mut first_attempts: std::collections::HashMap<u64, usize> =
        std::collections::HashMap::new();
    for r in state.pingbacks() {
        if r.attempt <= 1 || matches!(r.outcome, AttemptOutcome::Dropped | AttemptOutcome::Shed) {
            *first_attempts.entry(r.task_id).or_default() += 1;
        }
    }
    state.tasks().iter().all(|t| {
        let Some(schedule) = &t.schedule else {
            return true;
        };
        if !matches!(t.state, TaskState::Solved | TaskState::Failed) {
            return true;
        }
        let planned = schedule.deliveries.len().max(1);
        first_attempts.get(&t.id).copied().unwrap_or(0) >= planned
    })
}
