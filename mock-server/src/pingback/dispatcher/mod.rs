//! Sends pingbacks as their schedules say, and journals every attempt.
//!
//! Each finished task becomes a [`Job`]. Its planned callbacks are sent in
//! order (the first attempt of one is done before the next is sent, so
//! "malformed, then genuine" and reorder permutations arrive in the planned
//! order); failed attempts are retried under the task's retry policy, on the
//! mock's clock.
//!
//! # Flow
//!
//! ```text
//! finisher ──enqueue──▶ admit ──(queue full)──▶ journal "shed" + warning
//!                         │
//!                         ├─ dropped ──▶ journal "dropped"
//!                         ├─ reorder ──▶ window buffer ──(full or max-hold)──▶ permuted, one by one ─┐
//!                         └─ due now? ──yes──────────────────────────────────────────────────────────┤
//!                                  └─no──▶ timer task ──(due)────────────────────────────────────────┤
//!                                                                                                    ▼
//!                              per-host lane: FIFO queue + at most max-in-flight-per-host workers
//!                                  │ attempt (per-attempt timeout) ─▶ journal + log line
//!                                  └ failed and retries left ─▶ timer task ─▶ lane
//! ```
//!
//! Work in progress is bounded: past `queue-capacity` pending jobs in all, or
//! `queue-capacity-per-host` for one receiver host, new ones are shed with a
//! warning and a journal entry, so the API never waits on a slow receiver, and
//! one host that accepts and never answers cannot take every other host's place.
//!
//! A callback aimed at the mock's own listening address is never sent (it could
//! only reach the admin API or make the mock submit to itself): it is journalled
//! as `blocked`. Every callback carries [`PINGBACK_MARKER`], which the mock's own
//! routes refuse, for the addresses it cannot recognise as its own (a DNS name,
//! another interface of a mock bound to `0.0.0.0`). Nothing blocks the finisher or a request handler except the
//! `early` fault, whose submit waits for its callback's first attempt by design
//! (first in its host's queue, within the host's cap; at most the attempt timeout).
//!
//! # Files
//!
//! - this file: the dispatcher's handle, its totals, admission (shedding) and the entry
//!   points the state calls (`enqueue`, `deliver_now`, `fire_manual`);
//! - [`lanes`]: per-host lanes, the workers that drain them, timers for sends not yet due;
//! - [`reorder`]: reorder windows, held and released permuted;
//! - [`payload`]: what each planned callback carries (`id`, `code`), malformed ones included;
//! - [`send`]: one attempt over HTTP, its outcome, its log line and journal entry;
//! - [`record`]: the outbound journal's compact entries and the [`PingbackAttempt`]s read
//!   from them.

mod lanes;
mod payload;
mod record;
mod reorder;
mod send;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub use record::{AttemptOutcome, PingbackAttempt};

use self::{
    lanes::{Lane, Work},
    payload::Delivered,
    record::{Body, Entry, Sent},
    reorder::ReorderBuffer,
};
use super::{
    retry::RetryPolicy,
    schedule::{DeliveryKind, PlannedDelivery, Schedule},
};
use crate::{
    clock::{Clock, SimTime},
    journal::Journal,
    model::CallbackMethod,
};

/// A finished task, ready for delivery.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    /// Task id.
    pub(crate) task_id: u64,
    /// Callback URL.
    pub(crate) url: Arc<str>,
    /// The compiled schedule.
    pub(crate) schedule: Arc<Schedule>,
    /// The genuine `code`: the answer or an error code.
    pub(crate) code: Arc<str>,
    /// The `code` a conflicting duplicate carries.
    pub(crate) conflicting_code: Arc<str>,
    /// The run's first task id (for stale ids).
    pub(crate) first_task_id: u64,
    /// When the task finished (offsets count from here).
    pub(crate) finished_at: SimTime,
}

/// What the dispatcher takes from the configuration (`[pingback]`, the seed, the dialect's
/// callback method).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The run's seed (reorder permutations, malformed payloads).
    pub(crate) seed: u64,
    /// The dialect's callback method.
    pub(crate) method: CallbackMethod,
    /// `pingback.retry`.
    pub(crate) default_retry: RetryPolicy,
    /// `pingback.attempt-timeout`.
    pub(crate) attempt_timeout: Duration,
    /// `pingback.max-in-flight-per-host`.
    pub(crate) max_in_flight_per_host: usize,
    /// `pingback.queue-capacity`.
    pub(crate) queue_capacity: usize,
    /// `pingback.queue-capacity-per-host` (at most `queue_capacity`).
    pub(crate) queue_capacity_per_host: usize,
    /// `pingback.journal-capacity`.
    pub(crate) journal_capacity: usize,
    /// `pingback.source-address`.
    pub(crate) source_address: Option<std::net::IpAddr>,
}

/// The dispatcher's totals since start (or the last reset): what became of the callbacks so
/// far, and how many are still in progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PingbackStats {
    /// Attempts answered 2xx.
    pub delivered: u64,
    /// Attempts that failed (non-2xx, timeout, refused, error).
    pub failed: u64,
    /// Callbacks dropped by faults.
    pub dropped: u64,
    /// Jobs shed because the queue was full.
    pub shed: u64,
    /// Jobs in progress (waiting, held in a reorder window, sending or retrying).
    pub pending: usize,
}

/// Work in progress for one reset generation: cancelling it abandons
/// everything queued, sleeping or in flight.
struct Generation {
    cancel: CancellationToken,
    pending: Arc<AtomicUsize>,
    /// Held windows by rule and its parameters: a rule replaced at run time by
    /// one with another window or max-hold starts windows of its own.
    reorder: Mutex<HashMap<(usize, u32, Duration), ReorderBuffer>>,
    lanes: Mutex<HashMap<Box<str>, Arc<Lane>>>,
    /// Tasks whose genuine callback reached the receiver: what a `stale-id`
    /// callback reuses.
    delivered: Delivered,
}

struct Inner {
    /// Built on the first send: building reads the system's CA bundle (about 10 ms), which a
    /// mock that never sends a pingback should not pay at start-up.
    http: std::sync::OnceLock<reqwest::Client>,
    /// Idle connections kept per host.
    max_idle_per_host: usize,
    /// The local address every callback leaves from (`None`: the system chooses).
    source_address: Option<std::net::IpAddr>,
    clock: Clock,
    seed: u64,
    journal: Journal<Entry>,
    max_per_host: usize,
    /// The dialect's method: for journal entries of callbacks never sent, and callbacks fired
    /// by hand.
    method: CallbackMethod,
    /// The default retry policy (`pingback.retry`), for callbacks fired by hand.
    default_retry: RetryPolicy,
    queue_capacity: usize,
    queue_capacity_per_host: usize,
    attempt_timeout: Duration,
    /// The mock's own listening address: callbacks there are never sent.
    own_address: std::sync::OnceLock<std::net::SocketAddr>,
    parent: CancellationToken,
    generation: Mutex<Arc<Generation>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    /// The mock's metrics: every journal entry is counted there too. The dispatcher owns
    /// them because it is built first and the state reaches it
    /// ([`Dispatcher::telemetry`]); the bench dispatcher gets its own.
    telemetry: crate::telemetry::Telemetry,
    dropped: AtomicU64,
    shed: AtomicU64,
}

/// The pingback sender (cheap to clone).
#[derive(Clone)]
pub(crate) struct Dispatcher(Arc<Inner>);

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Idle lanes are forgotten once this many hosts have been seen.
const MAX_IDLE_LANES: usize = 1024;

fn new_generation(parent: &CancellationToken) -> Arc<Generation> {
    Arc::new(Generation {
        cancel: parent.child_token(),
        pending: Arc::new(AtomicUsize::new(0)),
        reorder: Mutex::new(HashMap::new()),
        lanes: Mutex::new(HashMap::new()),
        delivered: Delivered::default(),
    })
}

/// Locks a mutex, ignoring poisoning: every critical section here is a
/// handful of infallible steps, so a panic elsewhere cannot leave it torn.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A job counted as pending, in all and on its host's lane, until dropped.
struct PendingGuard {
    total: Arc<AtomicUsize>,
    lane: Arc<Lane>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.total.fetch_sub(1, Ordering::Relaxed);
        self.lane.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The header every callback carries (`x-captchaai-mock-pingback: 1`): the mock's own routes
/// refuse a request that carries it, so a callback that reached the mock under a name it could
/// not recognise as its own still changes nothing.
pub(crate) const PINGBACK_MARKER: &str = "x-captchaai-mock-pingback";

impl Dispatcher {
    /// A dispatcher for a config; stops when `cancel` fires. Must be called
    /// inside a tokio runtime.
    pub(crate) fn new(cfg: &Settings, clock: Clock, cancel: CancellationToken) -> Self {
        let this = Dispatcher(Arc::new(Inner {
            http: std::sync::OnceLock::new(),
            max_idle_per_host: cfg.max_in_flight_per_host,
            source_address: cfg.source_address,
            clock,
            seed: cfg.seed,
            journal: Journal::new(cfg.journal_capacity),
            max_per_host: cfg.max_in_flight_per_host.max(1),
            method: cfg.method,
            default_retry: cfg.default_retry.clone(),
            queue_capacity: cfg.queue_capacity,
            queue_capacity_per_host: cfg
                .queue_capacity_per_host
                .clamp(1, cfg.queue_capacity.max(1)),
            attempt_timeout: cfg.attempt_timeout,
            own_address: std::sync::OnceLock::new(),
            generation: Mutex::new(new_generation(&cancel)),
            parent: cancel,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            telemetry: crate::telemetry::Telemetry::new(),
        }));
        // When the mock stops, stop sends in flight too (timers and reorder
        // holds watch the token themselves).
        let weak = Arc::downgrade(&this.0);
        let stop = this.0.parent.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            if let Some(inner) = weak.upgrade() {
                Dispatcher(inner).generation().abort_lanes();
            }
        });
        this
    }

    fn generation(&self) -> Arc<Generation> {
        lock(&self.0.generation).clone()
    }

    /// The mock's metrics (`/__admin/metrics`).
    pub(crate) fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.0.telemetry
    }

    /// Totals so far.
    pub(crate) fn stats(&self) -> PingbackStats {
        PingbackStats {
            delivered: self.0.delivered.load(Ordering::Relaxed),
            failed: self.0.failed.load(Ordering::Relaxed),
            dropped: self.0.dropped.load(Ordering::Relaxed),
            shed: self.0.shed.load(Ordering::Relaxed),
            pending: self.generation().pending.load(Ordering::Relaxed),
        }
    }

    /// Journal entries after `since`, optionally for one task, at most `limit`.
    pub(crate) fn journal(
        &self,
        since: u64,
        limit: usize,
        task: Option<u64>,
    ) -> Vec<PingbackAttempt> {
        self.0
            .journal
            .query(since, limit, |r| task.is_none_or(|t| r.task_id == t))
            .into_iter()
            .map(|n| n.entry.record(n.seq))
            .collect()
    }

    /// How many attempts after `since` the journal holds, optionally of one task.
    pub(crate) fn journal_count(&self, since: u64, task: Option<u64>) -> usize {
        self.0
            .journal
            .count(since, |r| task.is_none_or(|t| r.task_id == t))
    }

    /// Moves the oldest attempts out of the journal, at most `limit`.
    pub(crate) fn take_journal(&self, limit: usize) -> Vec<PingbackAttempt> {
        self.0
            .journal
            .take_oldest(limit)
            .into_iter()
            .map(|n| n.entry.record(n.seq))
            .collect()
    }

    /// Cancels everything pending and forgets the journal and totals.
    pub(crate) fn reset(&self) {
        let fresh = new_generation(&self.0.parent);
        let old = std::mem::replace(&mut *lock(&self.0.generation), fresh);
        old.cancel.cancel();
        old.abort_lanes();
        self.0.journal.clear();
        for c in [
            &self.0.delivered,
            &self.0.failed,
            &self.0.dropped,
            &self.0.shed,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Records the mock's own listening address (once bound): callbacks to it are blocked.
    pub(crate) fn set_own_address(&self, addr: std::net::SocketAddr) {
        let _ = self.0.own_address.set(addr);
    }

    /// Journals (and logs) a job whose URL points at the mock itself, and says so; such a
    /// job is never sent.
    fn blocked(&self, job: &Job) -> bool {
        let Some(own) = self.0.own_address.get() else {
            return false;
        };
        if !crate::url::reaches(&job.url, *own) {
            return false;
        }
        let reason = format!(
            "never sent: the URL points at the mock itself ({own}); the mock does not call itself"
        );
        tracing::warn!(
            target: "captchaai_mock::pingback",
            task = job.task_id,
            url = %job.url,
            "pingback blocked: {reason}"
        );
        self.record_unsent(job, AttemptOutcome::Blocked { reason });
        true
    }

    /// Counts a job as pending, or sheds it (journalled and logged) when the
    /// queue, or its host's share of it, is full.
    fn admit(&self, job: &Job, generation: &Generation) -> Option<PendingGuard> {
        let lane = self.lane(generation, &job.url);
        let n = generation.pending.fetch_add(1, Ordering::Relaxed);
        let on_host = lane.pending.fetch_add(1, Ordering::Relaxed);
        let guard = PendingGuard {
            total: generation.pending.clone(),
            lane,
        };
        if n >= self.0.queue_capacity {
            drop(guard);
            self.shed(
                job,
                format_args!(
                    "pingback queue full: shedding the delivery for task {} \
                     (raise pingback.queue-capacity or slow the load)",
                    job.task_id
                ),
            );
            return None;
        }
        if on_host >= self.0.queue_capacity_per_host {
            drop(guard);
            self.shed(
                job,
                format_args!(
                    "pingback queue full for {}: shedding the delivery for task {} (a slow or \
                     hanging receiver holds its share; raise pingback.queue-capacity-per-host \
                     if it is only slow)",
                    crate::url::host_of(&job.url),
                    job.task_id
                ),
            );
            return None;
        }
        Some(guard)
    }

    fn shed(&self, job: &Job, why: std::fmt::Arguments<'_>) {
        self.0.shed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "captchaai_mock::pingback",
            task = job.task_id,
            capacity = self.0.queue_capacity,
            per_host = self.0.queue_capacity_per_host,
            "{why}"
        );
        self.record_unsent(job, AttemptOutcome::Shed);
    }

    fn record_unsent(&self, job: &Job, outcome: AttemptOutcome) {
        self.0
            .telemetry
            .pingback(&job.schedule.fault, &outcome, None);
        let now = self.0.clock.now().as_millis();
        let planned = job.schedule.deliveries.first();
        self.0.journal.push(Entry {
            task_id: job.task_id,
            delivery: 0,
            kind: DeliveryKind::Genuine,
            fault: Arc::from(job.schedule.fault.as_str()),
            attempt: 0,
            method: planned.map_or(self.0.method, |d| d.method),
            url: job.url.clone(),
            id: Sent::Number(job.task_id),
            code: Sent::Shared(job.code.clone()),
            scheduled_at_ms: job
                .finished_at
                .saturating_add(planned.map_or(Duration::ZERO, |d| d.offset))
                .as_millis(),
            sent_at_ms: now,
            outcome,
            latency_us: None,
            response: Body::None,
            last_attempt: true,
        });
    }

    /// Hands over a finished task; never blocks.
    pub(crate) fn enqueue(&self, job: Job) {
        let generation = self.generation();
        if job.schedule.dropped {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::info!(target: "captchaai_mock::pingback", task = job.task_id, "pingback dropped by fault schedule");
            self.record_unsent(&job, AttemptOutcome::Dropped);
            return;
        }
        if self.blocked(&job) {
            return;
        }
        let Some(guard) = self.admit(&job, &generation) else {
            return;
        };
        if let Some(r) = job.schedule.reorder.clone() {
            // Held, it still counts as pending (against the queue capacity).
            self.hold_for_reorder((job, guard), r, generation);
            return;
        }
        self.start(job, guard, &generation, None);
    }

    fn start(
        &self,
        job: Job,
        guard: PendingGuard,
        generation: &Arc<Generation>,
        notify: Option<oneshot::Sender<()>>,
    ) {
        let base = job.finished_at;
        let due = job
            .schedule
            .deliveries
            .first()
            .map_or(base, |d| base.saturating_add(d.offset));
        let ctx = self.context(job, guard, notify);
        let work = Work::Send {
            job: ctx,
            index: 0,
            base,
            window: None,
        };
        self.push_at(due, work, generation);
    }

    /// Sends a job's callbacks right now and waits until their first
    /// attempts are done (the `early` fault); retries continue in the
    /// background. The job goes to the front of its host's queue, ahead of
    /// callbacks already waiting there (the race this fault stages is with the
    /// submit answer, not with other tasks' callbacks), still within the host's
    /// concurrency cap; the wait is bounded by the attempt timeout, so a host
    /// whose every slot hangs holds the submit answer no longer than that.
    pub(crate) async fn deliver_now(&self, job: Job) {
        let generation = self.generation();
        if self.blocked(&job) {
            return;
        }
        let Some(guard) = self.admit(&job, &generation) else {
            return;
        };
        let base = self.0.clock.now();
        let job = Job {
            finished_at: base,
            ..job
        };
        let (tx, rx) = oneshot::channel();
        let work = Work::Send {
            job: self.context(job, guard, Some(tx)),
            index: 0,
            base,
            window: None,
        };
        self.push_first(work, &generation);
        let bound = self.0.clock.to_real(self.0.attempt_timeout);
        let _ = tokio::time::timeout(bound, rx).await;
    }

    /// One genuine callback with the default retry policy (admin "fire").
    pub(crate) fn fire_manual(&self, job: Job) -> Result<(), Shed> {
        let method = job
            .schedule
            .deliveries
            .iter()
            .find(|d| d.kind == DeliveryKind::Genuine)
            .map_or(self.0.method, |d| d.method);
        let mut schedule = (*job.schedule).clone();
        schedule.fault = "manual".into();
        schedule.deliveries = vec![PlannedDelivery {
            kind: DeliveryKind::Genuine,
            offset: Duration::ZERO,
            method,
        }];
        schedule.retry = self.0.default_retry.clone();
        schedule.dropped = false;
        schedule.early = false;
        schedule.reorder = None;
        let job = Job {
            schedule: Arc::new(schedule),
            finished_at: self.0.clock.now(),
            ..job
        };
        let generation = self.generation();
        if self.blocked(&job) {
            return Ok(());
        }
        let Some(guard) = self.admit(&job, &generation) else {
            return Err(Shed);
        };
        self.start(job, guard, &generation, None);
        Ok(())
    }
}

/// A delivery was shed: the queue was full (`pingback.queue-capacity`, or
/// `pingback.queue-capacity-per-host` for its host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shed;
