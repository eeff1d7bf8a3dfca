//! Hooks for this crate's own benchmarks (the `bench` feature; hidden, not an API): the
//! pingback dispatcher without the API in front of it, fed finished tasks as the state's
//! finisher feeds it, so `benches/pingback_delivery.rs` measures delivery alone, and the
//! receiver's replicas bench (`receiver/benches/replicas.rs`) drives receivers with it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{
    clock::{Clock, SimTime},
    config::Config,
    model::TaskKind,
    pingback::{
        dispatcher::{Dispatcher, Job, PingbackAttempt, PingbackStats},
        faults::{FaultRule, TaskFacts},
        schedule,
    },
    state::needs_conflicting_code,
};

/// A dispatcher on its own clock (time scale 1), stopped when dropped.
#[derive(Debug)]
pub struct BenchDispatcher {
    dispatcher: Dispatcher,
    clock: Clock,
    config: Config,
    cancel: CancellationToken,
}

/// A finished task, ready to hand over.
#[derive(Clone, Debug)]
pub struct FinishedTask(Job);

impl FinishedTask {
    /// Its schedule has the `early` fault: the submit handler awaits its delivery.
    pub fn is_early(&self) -> bool {
        self.0.schedule.early
    }
}

impl BenchDispatcher {
    /// A dispatcher for this configuration. Must be called inside a tokio runtime.
    pub fn new(config: &Config) -> Self {
        let clock = Clock::new(1.0);
        let cancel = CancellationToken::new();
        BenchDispatcher {
            dispatcher: Dispatcher::new(
                &config.dispatcher_settings(),
                clock.clone(),
                cancel.clone(),
            ),
            clock,
            config: config.clone(),
            cancel,
        }
    }

    /// `n` finished turnstile tasks with callbacks to `url` under `rules`, as the state
    /// would hand them over (`code(i)` the answer of the i-th, `code(i + n)` its conflicting
    /// one when its schedule sends one), and the number of callbacks their schedules plan.
    pub fn finished_tasks(
        &self,
        url: &str,
        rules: &[FaultRule],
        n: u64,
        code: impl Fn(u64) -> String,
    ) -> (Vec<FinishedTask>, u64) {
        self.finished_tasks_spread(&[url], rules, n, code)
    }

    /// As [`BenchDispatcher::finished_tasks`], the i-th task's callbacks going to
    /// `urls[i % urls.len()]` (the replicas of one receiver, each a host of its own).
    pub fn finished_tasks_spread(
        &self,
        urls: &[&str],
        rules: &[FaultRule],
        n: u64,
        code: impl Fn(u64) -> String,
    ) -> (Vec<FinishedTask>, u64) {
        let cfg = &self.config;
        let urls: Vec<Arc<str>> = urls.iter().map(|u| Arc::from(*u)).collect();
        let mut expected = 0;
        let jobs = (0..n)
            .map(|i| {
                let url = &urls[i as usize % urls.len().max(1)];
                let task_id = cfg.first_task_id + i;
                let schedule = schedule::compile(
                    cfg.seed,
                    rules,
                    &cfg.pingback.retry,
                    TaskFacts {
                        task_id,
                        ordinal: i + 1,
                        kind: TaskKind::Turnstile,
                        url,
                        method: cfg.dialect.callback_method(),
                    },
                );
                expected += schedule.deliveries.len() as u64;
                // The state draws a conflicting code only when it is sent.
                let conflicting = if needs_conflicting_code(&schedule) {
                    code(i + n)
                } else {
                    String::new()
                };
                FinishedTask(Job {
                    task_id,
                    url: url.clone(),
                    schedule: Arc::new(schedule),
                    code: Arc::from(code(i)),
                    conflicting_code: Arc::from(conflicting),
                    first_task_id: cfg.first_task_id,
                    finished_at: SimTime::ZERO,
                })
            })
            .collect();
        (jobs, expected)
    }

    /// Hands a task over as the finisher does, finished now; never blocks.
    pub fn enqueue(&self, task: FinishedTask) {
        let job = Job {
            finished_at: self.clock.now(),
            ..task.0
        };
        self.dispatcher.enqueue(job);
    }

    /// Delivers an `early` task's callbacks now and waits for their first attempts, as the
    /// submit handler does.
    pub async fn deliver_now(&self, task: FinishedTask) {
        self.dispatcher.deliver_now(task.0).await;
    }

    /// The dispatcher's totals.
    pub fn stats(&self) -> PingbackStats {
        self.dispatcher.stats()
    }

    /// Moves the oldest attempts (at most `limit`) out of the outbound journal: a bench
    /// that reads the journal as the run goes keeps the dispatcher's memory flat.
    pub fn take_attempts(&self, limit: usize) -> Vec<PingbackAttempt> {
        self.dispatcher.take_journal(limit)
    }

    /// The whole outbound journal.
    pub fn attempts(&self) -> Vec<PingbackAttempt> {
        self.dispatcher.journal(0, usize::MAX, None)
    }
}

impl Drop for BenchDispatcher {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
