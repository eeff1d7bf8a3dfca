//! The finisher: the one loop that wakes when a task with a pingback finishes (its finish
//! time is known at submission, so it sleeps until the earliest one) and hands the finished
//! tasks, as jobs, to the dispatcher. Tasks without a pingback never pass here.

use std::{cmp::Reverse, sync::Arc};

use super::{
    MockState, stream_subject, tasks::Task, tasks::needs_conflicting_code,
    tasks::unreachable_schedule,
};
use crate::{answers, clock::SimTime, config::Config, pingback::dispatcher::Job};

/// Finished tasks turned into pingback jobs per hold of the world lock.
const FINISH_BATCH: usize = 256;

impl MockState {
    /// Waits for tasks with pingbacks to finish and hands them to the dispatcher.
    pub(super) async fn finisher(self) {
        loop {
            let (due, next) = {
                let now = self.0.clock.now();
                let cfg = &*self.0.config;
                let mut w = self.world();
                let mut due = Vec::new();
                while let Some(Reverse((at, id))) = w.finish_queue.peek().copied() {
                    // Building a job draws its answers: in bounded batches,
                    // so a burst of finishing tasks never holds the world
                    // lock (and with it every API request) for long.
                    if at > now || due.len() == FINISH_BATCH {
                        break;
                    }
                    w.finish_queue.pop();
                    let Some(t) = w.tasks.get_mut(&id) else {
                        continue;
                    };
                    if t.finish_at != at {
                        continue; // a stale entry: the task was forced
                    }
                    let Some(pb) = t.pingback.as_mut() else {
                        continue;
                    };
                    if pb.fired {
                        continue;
                    }
                    pb.fired = true;
                    let t = &w.tasks[&id];
                    due.push(self.job_for(cfg, id, t, at));
                }
                (due, w.finish_queue.peek().map(|Reverse((at, _))| *at))
            };
            let full = due.len() == FINISH_BATCH;
            for job in due {
                self.0.dispatcher.enqueue(job);
            }
            if full {
                // More may be due now: let the API in, then go on.
                tokio::task::yield_now().await;
                continue;
            }
            let sleep = async {
                match next {
                    Some(t) => self.0.clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.0.cancel.cancelled() => return,
                _ = self.0.finish_notify.notified() => {}
                _ = sleep => {}
            }
        }
    }

    /// A finished task as the dispatcher's job: its URL, schedule and codes.
    pub(super) fn job_for(&self, cfg: &Config, id: u64, t: &Task, now: SimTime) -> Job {
        let pb = t.pingback.as_deref();
        let outcome = self.outcome_of(cfg, id, t);
        Job {
            task_id: id,
            url: pb.map(|p| p.url.clone()).unwrap_or_else(|| Arc::from("")),
            schedule: pb
                .map(|p| p.schedule.clone())
                .unwrap_or_else(|| Arc::new(unreachable_schedule(id, 0))),
            code: Arc::from(outcome.code()),
            // Drawn only for schedules that send it (it costs two answers).
            conflicting_code: if pb.is_some_and(|p| needs_conflicting_code(&p.schedule)) {
                Arc::from(
                    answers::conflicting_answer(cfg.seed, stream_subject(cfg, id), t.kind, t.shape)
                        .text,
                )
            } else {
                Arc::from("")
            },
            first_task_id: cfg.first_task_id,
            finished_at: now,
        }
    }

    /// Makes an early delivery (before the submit answer), bounded by the attempt timeout.
    pub(crate) async fn deliver_early(&self, job: Job) {
        self.0.dispatcher.deliver_now(job).await;
    }
}
