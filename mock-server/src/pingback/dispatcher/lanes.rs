//! Per-host lanes: every receiver host gets a FIFO queue of sends that are due and at most
//! `max-in-flight-per-host` workers draining it; sends not yet due (delays, duplicate spacing,
//! retry backoff) wait on a timer task that queues them when they fall due. A job's planned
//! callbacks go out in order, each first attempt done before the next is sent.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, atomic::AtomicUsize},
};

use tokio::{sync::oneshot, task::JoinSet};

use super::{Dispatcher, Generation, Job, MAX_IDLE_LANES, PendingGuard, lock, reorder::Held};
use crate::{
    clock::SimTime,
    url::{host_of, parse_callback},
};

/// One receiver host: a queue of sends that are due and at most
/// `max-in-flight-per-host` workers draining it.
///
/// Sends that are due go straight into the queue; only sends that must wait
/// (delays, duplicate spacing, retry backoff) get a timer task, which queues
/// them when they fall due. A burst of finished tasks therefore costs a queue
/// entry each, not a parked task each (the first design spawned a task per
/// job, parked on a per-host semaphore: 100k parked tasks for a burst of
/// 100k, each polled, woken and registered with the cancellation token).
pub(super) struct Lane {
    state: Mutex<LaneState>,
    max_workers: usize,
    /// Jobs of this host pending (admitted and not done), against
    /// `queue-capacity-per-host`.
    pub(super) pending: AtomicUsize,
    /// The last callback URL a job of this host had, parsed: the jobs of one host mostly
    /// share their URL, and parsing it (its host above all) cost a job as much as the query
    /// appended to it.
    parsed: Mutex<Option<(Arc<str>, Option<reqwest::Url>)>>,
}

impl Lane {
    /// `url` parsed for sending ([`parse_callback`]), from this lane's last one when it is
    /// the same.
    fn parsed_url(&self, url: &Arc<str>) -> Option<reqwest::Url> {
        let mut last = lock(&self.parsed);
        match &*last {
            Some((text, parsed)) if Arc::ptr_eq(text, url) || **text == **url => parsed.clone(),
            _ => {
                let parsed = parse_callback(url);
                *last = Some((url.clone(), parsed.clone()));
                parsed
            }
        }
    }
}

#[derive(Default)]
struct LaneState {
    queue: VecDeque<Work>,
    /// Workers running (finished ones leave `tasks` at the next spawn).
    workers: usize,
    /// The workers, to abort on reset. Cancelling by aborting, rather than
    /// selecting on the generation's token in every worker, keeps a lock on
    /// the token's waiter list out of every wake-up of every send.
    tasks: JoinSet<()>,
}

/// A job in the dispatcher: shared by every send and retry of it; when the
/// last of them is done the job stops counting as pending.
pub(super) struct JobCtx {
    pub(super) job: Job,
    pub(super) fault: Arc<str>,
    /// `job.url` parsed once, for every attempt to append its query to (`None`: sent as a
    /// string, see [`crate::url::parse_callback`]).
    pub(super) parsed_url: Option<reqwest::Url>,
    lane: Arc<Lane>,
    _pending: PendingGuard,
    /// Told when the first attempts of every planned callback are done
    /// (what an `early` submit waits for).
    first_attempts_done: Mutex<Option<oneshot::Sender<()>>>,
    /// Someone waits on `first_attempts_done` (saves the lock otherwise).
    awaited: bool,
}

impl JobCtx {
    fn first_attempts_done(&self) {
        if !self.awaited {
            return;
        }
        if let Some(tx) = lock(&self.first_attempts_done).take() {
            let _ = tx.send(());
        }
    }
}

/// One unit of work for a lane worker.
pub(super) enum Work {
    /// The first attempt of planned callback `index`, then the rest of the
    /// job's sequence; `window` holds the reorder-window jobs to send after it.
    Send {
        job: Arc<JobCtx>,
        index: usize,
        base: SimTime,
        window: Option<VecDeque<Held>>,
    },
    /// A retry of planned callback `index`.
    Retry {
        job: Arc<JobCtx>,
        index: usize,
        attempt: u32,
        due: SimTime,
    },
}

impl Work {
    fn lane(&self) -> &Arc<Lane> {
        match self {
            Work::Send { job, .. } | Work::Retry { job, .. } => &job.lane,
        }
    }
}

impl Generation {
    /// Aborts every lane worker, and with it every send in flight, and
    /// forgets what is queued (queued work holds its lane: left there, a
    /// lane and its backlog would keep each other alive).
    pub(super) fn abort_lanes(&self) {
        for lane in lock(&self.lanes).values() {
            let queued = {
                let mut s = lock(&lane.state);
                s.tasks.abort_all();
                std::mem::take(&mut s.queue)
            };
            drop(queued);
        }
    }
}

impl Dispatcher {
    /// The lane of a URL's host in this generation.
    pub(super) fn lane(&self, generation: &Generation, url: &str) -> Arc<Lane> {
        let host = host_of(url);
        let mut lanes = lock(&generation.lanes);
        if let Some(l) = lanes.get(host) {
            return l.clone();
        }
        if lanes.len() >= MAX_IDLE_LANES {
            // Many distinct hosts (say, a port per test): forget idle ones.
            lanes.retain(|_, l| {
                Arc::strong_count(l) > 1 || {
                    let s = lock(&l.state);
                    s.workers > 0 || !s.queue.is_empty()
                }
            });
        }
        let l = Arc::new(Lane {
            state: Mutex::new(LaneState::default()),
            max_workers: self.0.max_per_host,
            pending: AtomicUsize::new(0),
            parsed: Mutex::new(None),
        });
        lanes.insert(host.into(), l.clone());
        l
    }

    pub(super) fn context(
        &self,
        job: Job,
        guard: PendingGuard,
        notify: Option<oneshot::Sender<()>>,
    ) -> Arc<JobCtx> {
        Arc::new(JobCtx {
            fault: Arc::from(job.schedule.fault.as_str()),
            parsed_url: guard.lane.parsed_url(&job.url),
            lane: guard.lane.clone(),
            job,
            _pending: guard,
            awaited: notify.is_some(),
            first_attempts_done: Mutex::new(notify),
        })
    }

    /// Queues a piece of work on its lane, starting a worker if the lane has
    /// fewer than its cap.
    pub(super) fn push(&self, work: Work, generation: &Arc<Generation>) {
        self.enqueue_work(work, generation, false);
    }

    /// As [`Dispatcher::push`], ahead of everything queued on the lane.
    pub(super) fn push_first(&self, work: Work, generation: &Arc<Generation>) {
        self.enqueue_work(work, generation, true);
    }

    fn enqueue_work(&self, work: Work, generation: &Arc<Generation>, first: bool) {
        if generation.cancel.is_cancelled() {
            return;
        }
        let lane = work.lane().clone();
        let mut s = lock(&lane.state);
        if first {
            s.queue.push_front(work);
        } else {
            s.queue.push_back(work);
        }
        if s.workers < lane.max_workers {
            s.workers += 1;
            while s.tasks.try_join_next().is_some() {}
            let this = self.clone();
            let generation = generation.clone();
            let worker_lane = lane.clone();
            s.tasks
                .spawn(async move { this.work_lane(&worker_lane, &generation).await });
        }
    }

    /// Queues work when it falls due (at once if it already has).
    pub(super) fn push_at(&self, due: SimTime, work: Work, generation: &Arc<Generation>) {
        if due <= self.0.clock.now() {
            self.push(work, generation);
            return;
        }
        let this = self.clone();
        let generation = generation.clone();
        tokio::spawn(async move {
            let cancel = generation.cancel.clone();
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = this.0.clock.sleep_until(due) => this.push(work, &generation),
            }
        });
    }

    /// A lane worker: drains the queue, then exits.
    async fn work_lane(&self, lane: &Lane, generation: &Arc<Generation>) {
        loop {
            let work = {
                let mut s = lock(&lane.state);
                match s.queue.pop_front() {
                    Some(w) if !generation.cancel.is_cancelled() => w,
                    _ => {
                        s.workers -= 1;
                        return;
                    }
                }
            };
            match work {
                Work::Send {
                    job,
                    index,
                    base,
                    window,
                } => {
                    self.send_sequence(job, index, base, window, generation)
                        .await
                }
                Work::Retry {
                    job,
                    index,
                    attempt,
                    due,
                } => {
                    let planned = &job.job.schedule.deliveries[index];
                    let max = job.job.schedule.retry.max_attempts();
                    let outcome = self
                        .attempt(
                            &job,
                            index as u32,
                            planned,
                            attempt,
                            due,
                            attempt >= max,
                            generation,
                        )
                        .await;
                    if outcome.is_failure() {
                        self.schedule_retry(job, index, attempt + 1, due, generation);
                    }
                }
            }
        }
    }

    /// Sends planned callbacks from `index` on, first attempts one after the
    /// other; hands the rest to a timer when the next is not due yet.
    async fn send_sequence(
        &self,
        job: Arc<JobCtx>,
        mut index: usize,
        base: SimTime,
        window: Option<VecDeque<Held>>,
        generation: &Arc<Generation>,
    ) {
        let deliveries = &job.job.schedule.deliveries;
        while let Some(planned) = deliveries.get(index) {
            let due = base.saturating_add(planned.offset);
            if due > self.0.clock.now() {
                if window.is_some() {
                    // Reorder windows hold zero-offset callbacks only; a later
                    // one would otherwise let the window's order slip.
                    self.0.clock.sleep_until(due).await;
                } else {
                    let work = Work::Send {
                        job: job.clone(),
                        index,
                        base,
                        window: None,
                    };
                    self.push_at(due, work, generation);
                    return;
                }
            }
            let retryable =
                !planned.kind.is_malformed() && job.job.schedule.retry.max_attempts() > 1;
            let outcome = self
                .attempt(&job, index as u32, planned, 1, due, !retryable, generation)
                .await;
            if retryable && outcome.is_failure() {
                self.schedule_retry(job.clone(), index, 2, due, generation);
            }
            index += 1;
        }
        job.first_attempts_done();
        drop(job);
        // Next job of a released reorder window, on its own host's lane.
        if let Some(rest) = window {
            self.send_window(rest, generation);
        }
    }

    /// Sends the first job of a released reorder window now; the rest follow it, one after
    /// another, each after the previous job's first attempts.
    pub(super) fn send_window(&self, mut rest: VecDeque<Held>, generation: &Arc<Generation>) {
        let Some((next, guard)) = rest.pop_front() else {
            return;
        };
        let ctx = self.context(next, guard, None);
        let work = Work::Send {
            job: ctx,
            index: 0,
            base: self.0.clock.now(),
            window: Some(rest),
        };
        self.push(work, generation);
    }

    pub(super) fn schedule_retry(
        &self,
        job: Arc<JobCtx>,
        index: usize,
        attempt: u32,
        previous_due: SimTime,
        generation: &Arc<Generation>,
    ) {
        let Some(wait) = job.job.schedule.retry.wait_before(attempt) else {
            return;
        };
        // Backoff counts from the failure (a timed-out attempt ends later
        // than it was due), on the mock's clock.
        let due = previous_due.max(self.0.clock.now()).saturating_add(wait);
        let work = Work::Retry {
            job,
            index,
            attempt,
            due,
        };
        self.push_at(due, work, generation);
    }
}
