//! Reorder windows: jobs of a `reorder` fault are held, per rule, until `window` of them have
//! gathered or the first has waited `max-hold`, then released in a seeded permutation that is
//! never the arrival order, one job after the other (each after the previous job's first
//! attempts), so the receiver sees task B's result before task A's.

use std::sync::Arc;

use super::{Dispatcher, Generation, Job, PendingGuard, lock};
use crate::{
    pingback::faults::ReorderFault,
    seed::{self, Stream},
};

/// A job held in a reorder window, still counted as pending.
pub(super) type Held = (Job, PendingGuard);

#[derive(Default)]
pub(super) struct ReorderBuffer {
    jobs: Vec<Held>,
    window_seq: u64,
}

impl Dispatcher {
    pub(super) fn hold_for_reorder(&self, job: Held, r: ReorderFault, generation: Arc<Generation>) {
        let rule = job.0.schedule.rule.unwrap_or(usize::MAX);
        let key = (rule, r.window, r.max_hold);
        let mut buffers = lock(&generation.reorder);
        let buf = buffers.entry(key).or_default();
        buf.jobs.push(job);
        let window_seq = buf.window_seq;
        if buf.jobs.len() >= r.window as usize {
            let jobs = std::mem::take(&mut buf.jobs);
            buf.window_seq += 1;
            drop(buffers);
            self.release(rule, window_seq, jobs, &generation);
        } else if buf.jobs.len() == 1 {
            // First of a new window: release whatever gathered after max-hold.
            drop(buffers);
            let this = self.clone();
            tokio::spawn(async move {
                let cancel = generation.cancel.clone();
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = this.0.clock.sleep(r.max_hold) => {
                        let jobs = {
                            let mut buffers = lock(&generation.reorder);
                            match buffers.get_mut(&key) {
                                Some(b) if b.window_seq == window_seq && !b.jobs.is_empty() => {
                                    b.window_seq += 1;
                                    std::mem::take(&mut b.jobs)
                                }
                                _ => Vec::new(),
                            }
                        };
                        if !jobs.is_empty() {
                            this.release(rule, window_seq, jobs, &generation);
                        }
                    }
                }
            });
        }
    }

    /// Sends a released reorder window, one job after another, in a seeded
    /// permutation that is never the arrival order when the window has two or more.
    fn release(
        &self,
        rule: usize,
        window_seq: u64,
        mut jobs: Vec<Held>,
        generation: &Arc<Generation>,
    ) {
        let subject = ((rule as u64) << 32) ^ window_seq;
        let mut rng = seed::stream(self.0.seed, Stream::Reorder, subject);
        let arrival: Vec<u64> = jobs.iter().map(|(j, _)| j.task_id).collect();
        seed::shuffle(&mut rng, &mut jobs);
        if jobs.len() >= 2
            && jobs
                .iter()
                .map(|(j, _)| j.task_id)
                .eq(arrival.iter().copied())
        {
            jobs.rotate_left(1);
        }
        tracing::info!(
            target: "captchaai_mock::pingback",
            window = window_seq,
            order = ?jobs.iter().map(|(j, _)| j.task_id).collect::<Vec<_>>(),
            "releasing reorder window"
        );
        self.send_window(jobs.into(), generation);
    }
}
