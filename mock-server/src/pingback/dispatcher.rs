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
//! Work in progress is bounded: past `queue-capacity` pending jobs, new ones
//! are shed with a warning and a journal entry, so the API never waits on a
//! slow receiver. Nothing blocks the finisher or a request handler except the
//! `early` fault, whose submit waits for its callback's first attempt by design
//! (first in its host's queue, within the host's cap; at most the attempt timeout).

use std::{
    borrow::Cow,
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio::{sync::oneshot, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::faults::{
    CallbackMethod, DeliveryKind, MalformedKind, PlannedDelivery, ReorderFault, Schedule,
};
use crate::{
    clock::{Clock, SimTime},
    config::Config,
    journal::{Journal, Numbered},
    seed::{self, Stream},
    state::host_of,
};

/// A finished task, ready for delivery.
#[derive(Clone, Debug)]
pub struct Job {
    /// Task id.
    pub task_id: u64,
    /// Callback URL.
    pub url: Arc<str>,
    /// The compiled schedule.
    pub schedule: Arc<Schedule>,
    /// The genuine `code`: the answer or an error code.
    pub code: Arc<str>,
    /// The `code` a conflicting duplicate carries.
    pub conflicting_code: Arc<str>,
    /// The run's first task id (for stale ids).
    pub first_task_id: u64,
    /// When the task finished (offsets count from here).
    pub finished_at: SimTime,
}

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered {
        /// HTTP status.
        status: u16,
    },
    /// The receiver answered something else.
    Rejected {
        /// HTTP status.
        status: u16,
    },
    /// No answer within the per-attempt timeout.
    Timeout,
    /// Connection refused or reset before an answer.
    Refused {
        /// The error.
        error: String,
    },
    /// Any other transport error.
    Error {
        /// The error.
        error: String,
    },
    /// Dropped by the fault schedule: never sent.
    Dropped,
    /// Shed because the dispatcher's queue was full: never sent.
    Shed,
}

/// As the log line prints it: `delivered 200`, `rejected 500`, `timeout`, `refused: ...`.
impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptOutcome::Delivered { status } => write!(f, "delivered {status}"),
            AttemptOutcome::Rejected { status } => write!(f, "rejected {status}"),
            AttemptOutcome::Timeout => f.write_str("timeout"),
            AttemptOutcome::Refused { error } => write!(f, "refused: {error}"),
            AttemptOutcome::Error { error } => write!(f, "error: {error}"),
            AttemptOutcome::Dropped => f.write_str("dropped"),
            AttemptOutcome::Shed => f.write_str("shed"),
        }
    }
}

impl AttemptOutcome {
    /// True when the receiver got the request and answered.
    pub fn reached_receiver(&self) -> bool {
        matches!(
            self,
            AttemptOutcome::Delivered { .. } | AttemptOutcome::Rejected { .. }
        )
    }

    /// True when a retry policy may try again.
    fn is_failure(&self) -> bool {
        matches!(
            self,
            AttemptOutcome::Rejected { .. }
                | AttemptOutcome::Timeout
                | AttemptOutcome::Refused { .. }
                | AttemptOutcome::Error { .. }
        )
    }

    /// The HTTP status, if the receiver answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Delivered { status } | AttemptOutcome::Rejected { status } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// One journalled delivery attempt.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    /// Task id.
    pub task_id: u64,
    /// Index of the planned callback in the task's schedule.
    pub delivery: u32,
    /// What the callback carries.
    pub kind: DeliveryKind,
    /// The task's fault, as compiled.
    pub fault: Arc<str>,
    /// Attempt number (1 = first).
    pub attempt: u32,
    /// HTTP method.
    pub method: CallbackMethod,
    /// The URL requested (with the query for GET).
    pub url: String,
    /// The `id` sent, if any.
    pub id: Option<String>,
    /// The `code` sent (truncated to 120 characters), if any.
    pub code: Option<String>,
    /// Length of the `code` sent.
    pub code_len: usize,
    /// Simulated ms when the attempt was due.
    pub scheduled_at_ms: u64,
    /// Simulated ms when it was sent.
    pub sent_at_ms: u64,
    /// What happened.
    pub outcome: AttemptOutcome,
    /// Simulated time from send to the answer, or to the failure (the attempt timeout, a
    /// refused or broken connection), in microseconds; `None` for a callback never sent
    /// (dropped, shed).
    pub latency_us: Option<u64>,
    /// The start of the receiver's answer body.
    pub response: Option<String>,
    /// No further attempt of this callback will follow.
    pub last_attempt: bool,
}

/// A journal entry as kept: the strings it names are shared with its job,
/// so an attempt costs the journal no allocation and evicting an entry frees
/// next to nothing. [`DeliveryRecord`]s are built from it when read.
///
/// (Keeping owned records, the URL with its query and the shortened code
/// copied per attempt, cost a fifth of the dispatcher's CPU time at 100k
/// callbacks: every push evicted an entry whose half-dozen allocations,
/// made thousands of attempts earlier and often on another thread, had gone
/// cold.)
#[derive(Clone, Debug)]
struct Entry {
    task_id: u64,
    delivery: u32,
    kind: DeliveryKind,
    fault: Arc<str>,
    attempt: u32,
    method: CallbackMethod,
    /// The callback URL as submitted.
    url: Arc<str>,
    id: Sent,
    code: Sent,
    scheduled_at_ms: u64,
    sent_at_ms: u64,
    outcome: AttemptOutcome,
    latency_us: Option<u64>,
    response: Body,
    last_attempt: bool,
}

/// A parameter value as sent.
#[derive(Clone, Debug)]
enum Sent {
    /// Left out.
    Absent,
    /// A number (task ids, real or not).
    Number(u64),
    /// A string shared with the job (its code, or the conflicting one).
    Shared(Arc<str>),
    /// Anything else (a non-numeric id).
    Text(Box<str>),
    /// That many `A`s (an oversized code).
    Filler(usize),
}

impl Sent {
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Sent::Absent => None,
            Sent::Number(n) => Some(Cow::Owned(n.to_string())),
            Sent::Shared(s) => Some(Cow::Borrowed(s)),
            Sent::Text(s) => Some(Cow::Borrowed(s)),
            Sent::Filler(n) => Some(Cow::Owned("A".repeat(*n))),
        }
    }

    fn len(&self) -> usize {
        match self {
            Sent::Absent => 0,
            Sent::Number(n) => n.checked_ilog10().map_or(1, |d| d as usize + 1),
            Sent::Shared(s) => s.len(),
            Sent::Text(s) => s.len(),
            Sent::Filler(n) => *n,
        }
    }
}

/// The start of a receiver's answer, the usual ones without an allocation.
#[derive(Clone, Debug)]
enum Body {
    /// No answer.
    None,
    /// An answer with an empty body.
    Empty,
    /// `OK`.
    Ok,
    /// Anything else, up to [`MAX_BODY_SNIPPET`] bytes.
    Other(Box<str>),
}

impl Body {
    fn from_bytes(body: &[u8]) -> Body {
        match body {
            b"" => Body::Empty,
            b"OK" => Body::Ok,
            _ => Body::Other(
                String::from_utf8_lossy(&body[..body.len().min(MAX_BODY_SNIPPET)]).into(),
            ),
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Body::None => None,
            Body::Empty => Some(String::new()),
            Body::Ok => Some("OK".into()),
            Body::Other(s) => Some(s.to_string()),
        }
    }
}

impl Entry {
    fn record(&self) -> DeliveryRecord {
        let id = self.id.text();
        let code = self.code.text();
        let url = match self.method {
            // Attempt 0 was never sent (dropped, shed): the URL as submitted.
            CallbackMethod::Get if self.attempt > 0 => {
                with_query(&self.url, &form("", "", id.as_deref(), code.as_deref()))
            }
            _ => self.url.to_string(),
        };
        DeliveryRecord {
            task_id: self.task_id,
            delivery: self.delivery,
            kind: self.kind,
            fault: self.fault.clone(),
            attempt: self.attempt,
            method: self.method,
            url: if url.len() > MAX_JOURNAL_URL {
                truncate_to(&url, MAX_JOURNAL_URL)
            } else {
                url
            },
            id: id.map(Cow::into_owned),
            code: code.as_deref().map(truncate),
            code_len: self.code.len(),
            scheduled_at_ms: self.scheduled_at_ms,
            sent_at_ms: self.sent_at_ms,
            outcome: self.outcome.clone(),
            latency_us: self.latency_us,
            response: self.response.text(),
            last_attempt: self.last_attempt,
        }
    }
}

/// Dispatcher totals.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DispatcherStats {
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

/// The last [`STALE_CANDIDATES`] tasks whose genuine callback was
/// delivered, in a ring written without a lock (every delivery writes it,
/// from every worker thread).
struct Delivered {
    written: AtomicU64,
    ring: [AtomicU64; STALE_CANDIDATES],
}

impl Default for Delivered {
    fn default() -> Self {
        Delivered {
            written: AtomicU64::new(0),
            ring: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Delivered {
    fn push(&self, task_id: u64) {
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        self.ring[(n % STALE_CANDIDATES as u64) as usize].store(task_id, Ordering::Relaxed);
    }

    /// One of them, chosen by `rng`; `None` before the first delivery.
    fn pick(&self, rng: &mut impl rand::Rng) -> Option<u64> {
        let filled = self
            .written
            .load(Ordering::Relaxed)
            .min(STALE_CANDIDATES as u64);
        if filled == 0 {
            return None;
        }
        let i = seed::below(rng, filled) as usize;
        // (Zero: a slot claimed on another thread but not written yet.)
        Some(self.ring[i].load(Ordering::Relaxed)).filter(|id| *id != 0)
    }
}

impl Generation {
    /// Aborts every lane worker, and with it every send in flight, and
    /// forgets what is queued (queued work holds its lane: left there, a
    /// lane and its backlog would keep each other alive).
    fn abort_lanes(&self) {
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

/// A job held in a reorder window, still counted as pending.
type Held = (Job, PendingGuard);

#[derive(Default)]
struct ReorderBuffer {
    jobs: Vec<Held>,
    window_seq: u64,
}

/// One receiver host: a queue of sends that are due and at most
/// `max-in-flight-per-host` workers draining it.
///
/// Sends that are due go straight into the queue; only sends that must wait
/// (delays, duplicate spacing, retry backoff) get a timer task, which queues
/// them when they fall due. A burst of finished tasks therefore costs a queue
/// entry each, not a parked task each (the first design spawned a task per
/// job, parked on a per-host semaphore: 100k parked tasks for a burst of
/// 100k, each polled, woken and registered with the cancellation token).
struct Lane {
    state: Mutex<LaneState>,
    max_workers: usize,
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
struct JobCtx {
    job: Job,
    fault: Arc<str>,
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
enum Work {
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

struct Inner {
    /// Built on the first send: building reads the system's CA bundle (about 10 ms), which a
    /// mock that never sends a pingback should not pay at start-up.
    http: std::sync::OnceLock<reqwest::Client>,
    /// Idle connections kept per host.
    max_idle_per_host: usize,
    clock: Clock,
    seed: u64,
    journal: Journal<Entry>,
    max_per_host: usize,
    /// The dialect's method, for journal entries of callbacks never sent.
    method: CallbackMethod,
    queue_capacity: usize,
    attempt_timeout: Duration,
    parent: CancellationToken,
    generation: Mutex<Arc<Generation>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    shed: AtomicU64,
}

/// The pingback sender (cheap to clone).
#[derive(Clone)]
pub struct Dispatcher(Arc<Inner>);

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

const MAX_BODY_SNIPPET: usize = 200;
const OVERSIZED_CODE_LEN: usize = 100_000;
/// Longest URL the `http` crate (and so reqwest, and hyper servers) accepts
/// is 65 534 bytes; an oversized code in a GET query stays just under it, or
/// it could not be sent at all.
const MAX_GET_URL: usize = 65_000;
/// Longest transport error kept in a journal entry (reqwest's errors quote
/// the whole URL).
const MAX_JOURNAL_ERROR: usize = 512;
/// Longest URL kept in a journal entry (an oversized GET is 100 kB).
const MAX_JOURNAL_URL: usize = 2048;
/// Recently delivered tasks a `stale-id` callback picks from.
const STALE_CANDIDATES: usize = 64;
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

struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Inner {
    /// The HTTP client pingbacks are sent with.
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(self.max_idle_per_host)
                .user_agent(concat!(
                    "captchaai-mock/",
                    env!("CARGO_PKG_VERSION"),
                    " (pingback)"
                ))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        })
    }
}

impl Dispatcher {
    /// A dispatcher for a config; stops when `cancel` fires. Must be called
    /// inside a tokio runtime.
    pub fn new(cfg: &Config, clock: Clock, cancel: CancellationToken) -> Self {
        let this = Dispatcher(Arc::new(Inner {
            http: std::sync::OnceLock::new(),
            max_idle_per_host: cfg.pingback.max_in_flight_per_host,
            clock,
            seed: cfg.seed,
            journal: Journal::new(cfg.pingback.journal_capacity),
            max_per_host: cfg.pingback.max_in_flight_per_host.max(1),
            method: match cfg.dialect {
                crate::config::Dialect::Captchaai => CallbackMethod::Get,
                crate::config::Dialect::TwoCaptcha => CallbackMethod::Post,
            },
            queue_capacity: cfg.pingback.queue_capacity,
            attempt_timeout: cfg.pingback.attempt_timeout,
            generation: Mutex::new(new_generation(&cancel)),
            parent: cancel,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            shed: AtomicU64::new(0),
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

    /// Totals so far.
    pub fn stats(&self) -> DispatcherStats {
        DispatcherStats {
            delivered: self.0.delivered.load(Ordering::Relaxed),
            failed: self.0.failed.load(Ordering::Relaxed),
            dropped: self.0.dropped.load(Ordering::Relaxed),
            shed: self.0.shed.load(Ordering::Relaxed),
            pending: self.generation().pending.load(Ordering::Relaxed),
        }
    }

    /// Journal entries after `since`, optionally for one task.
    pub fn journal(
        &self,
        since: u64,
        limit: usize,
        task: Option<u64>,
    ) -> Vec<Numbered<DeliveryRecord>> {
        self.0
            .journal
            .query(since, limit, |r| task.is_none_or(|t| r.task_id == t))
            .into_iter()
            .map(|n| Numbered {
                seq: n.seq,
                entry: n.entry.record(),
            })
            .collect()
    }

    /// Cancels everything pending and forgets the journal and totals.
    pub fn reset(&self) {
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

    /// Counts a job as pending, or sheds it (journalled and logged) when the
    /// queue is full.
    fn admit(&self, job: &Job, generation: &Generation) -> Option<PendingGuard> {
        let n = generation.pending.fetch_add(1, Ordering::Relaxed);
        let guard = PendingGuard(generation.pending.clone());
        if n >= self.0.queue_capacity {
            drop(guard);
            self.0.shed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "captchaai_mock::pingback",
                task = job.task_id,
                capacity = self.0.queue_capacity,
                "pingback queue full: shedding the delivery for task {} (raise pingback.queue-capacity or slow the load)",
                job.task_id
            );
            self.record_unsent(job, AttemptOutcome::Shed);
            return None;
        }
        Some(guard)
    }

    fn record_unsent(&self, job: &Job, outcome: AttemptOutcome) {
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

    /// The lane of a URL's host in this generation.
    fn lane(&self, generation: &Generation, url: &str) -> Arc<Lane> {
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
        });
        lanes.insert(host.into(), l.clone());
        l
    }

    fn context(
        &self,
        job: Job,
        guard: PendingGuard,
        generation: &Generation,
        notify: Option<oneshot::Sender<()>>,
    ) -> Arc<JobCtx> {
        Arc::new(JobCtx {
            fault: Arc::from(job.schedule.fault.as_str()),
            lane: self.lane(generation, &job.url),
            job,
            _pending: guard,
            awaited: notify.is_some(),
            first_attempts_done: Mutex::new(notify),
        })
    }

    /// Queues a piece of work on its lane, starting a worker if the lane has
    /// fewer than its cap.
    fn push(&self, work: Work, generation: &Arc<Generation>) {
        self.enqueue_work(work, generation, false);
    }

    /// As [`Dispatcher::push`], ahead of everything queued on the lane.
    fn push_first(&self, work: Work, generation: &Arc<Generation>) {
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
    fn push_at(&self, due: SimTime, work: Work, generation: &Arc<Generation>) {
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
    fn send_window(&self, mut rest: VecDeque<Held>, generation: &Arc<Generation>) {
        let Some((next, guard)) = rest.pop_front() else {
            return;
        };
        let ctx = self.context(next, guard, generation, None);
        let work = Work::Send {
            job: ctx,
            index: 0,
            base: self.0.clock.now(),
            window: Some(rest),
        };
        self.push(work, generation);
    }

    fn schedule_retry(
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

    /// Hands over a finished task; never blocks.
    pub fn enqueue(&self, job: Job) {
        let generation = self.generation();
        if job.schedule.dropped {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::info!(target: "captchaai_mock::pingback", task = job.task_id, "pingback dropped by fault schedule");
            self.record_unsent(&job, AttemptOutcome::Dropped);
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
        let ctx = self.context(job, guard, generation, notify);
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
    pub async fn deliver_now(&self, job: Job, _cfg: &Config) {
        let generation = self.generation();
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
            job: self.context(job, guard, &generation, Some(tx)),
            index: 0,
            base,
            window: None,
        };
        self.push_first(work, &generation);
        let bound = self.0.clock.to_real(self.0.attempt_timeout);
        let _ = tokio::time::timeout(bound, rx).await;
    }

    /// One genuine callback with the default retry policy (admin "fire").
    pub fn fire_manual(&self, job: Job, cfg: &Config) -> Result<(), Shed> {
        let method = job
            .schedule
            .deliveries
            .iter()
            .find(|d| d.kind == DeliveryKind::Genuine)
            .map_or(
                match cfg.dialect {
                    crate::config::Dialect::Captchaai => CallbackMethod::Get,
                    crate::config::Dialect::TwoCaptcha => CallbackMethod::Post,
                },
                |d| d.method,
            );
        let mut schedule = (*job.schedule).clone();
        schedule.fault = "manual".into();
        schedule.deliveries = vec![PlannedDelivery {
            kind: DeliveryKind::Genuine,
            offset: Duration::ZERO,
            method,
        }];
        schedule.retry = cfg.pingback.retry.clone();
        schedule.dropped = false;
        schedule.early = false;
        schedule.reorder = None;
        let job = Job {
            schedule: Arc::new(schedule),
            finished_at: self.0.clock.now(),
            ..job
        };
        let generation = self.generation();
        let Some(guard) = self.admit(&job, &generation) else {
            return Err(Shed);
        };
        self.start(job, guard, &generation, None);
        Ok(())
    }

    fn hold_for_reorder(&self, job: Held, r: ReorderFault, generation: Arc<Generation>) {
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

    /// The `id` and `code` a planned callback carries.
    fn payload(
        &self,
        job: &Job,
        planned: &PlannedDelivery,
        generation: &Generation,
    ) -> (Sent, Sent) {
        let id = Sent::Number(job.task_id);
        let code = || Sent::Shared(job.code.clone());
        let conflicting = || Sent::Shared(job.conflicting_code.clone());
        match planned.kind {
            DeliveryKind::Genuine | DeliveryKind::Duplicate => (id, code()),
            DeliveryKind::Conflicting => (id, conflicting()),
            DeliveryKind::Malformed(m) => {
                let mut rng = seed::stream(self.0.seed, Stream::Dispatch, job.task_id);
                match m {
                    MalformedKind::MissingId => (Sent::Absent, code()),
                    MalformedKind::MissingCode => (id, Sent::Absent),
                    MalformedKind::NonNumericId => {
                        (Sent::Text(format!("{}x", job.task_id).into()), code())
                    }
                    MalformedKind::UnknownId => {
                        // Far above anything this run can issue (a trillion
                        // tasks), whatever the configured first id.
                        let unknown = job
                            .first_task_id
                            .saturating_add(1_000_000_000_000)
                            .saturating_add(seed::below(&mut rng, 1_000_000_000));
                        (Sent::Number(unknown), conflicting())
                    }
                    MalformedKind::StaleId => {
                        // A task whose result the receiver already has: a
                        // task merely earlier might not be delivered yet, and
                        // its "stale" callback would then come first.
                        // None yet: the id just below the first, never
                        // issued, which looks just as stale.
                        let stale = generation
                            .delivered
                            .pick(&mut rng)
                            .unwrap_or(job.first_task_id.saturating_sub(1));
                        (Sent::Number(stale), conflicting())
                    }
                    MalformedKind::OversizedCode => {
                        let len = match planned.method {
                            CallbackMethod::Post => OVERSIZED_CODE_LEN,
                            // Room for the URL, `?id=<20 digits>&code=`.
                            CallbackMethod::Get => OVERSIZED_CODE_LEN
                                .min(MAX_GET_URL.saturating_sub(job.url.len() + 40)),
                        };
                        (id, Sent::Filler(len))
                    }
                    MalformedKind::WrongMethod => (id, code()),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one attempt's facts, all needed
    async fn attempt(
        &self,
        ctx: &JobCtx,
        index: u32,
        planned: &PlannedDelivery,
        attempt: u32,
        due: SimTime,
        last: bool,
        generation: &Generation,
    ) -> AttemptOutcome {
        let job = &ctx.job;
        let (sent_id, sent_code) = self.payload(job, planned, generation);
        let (id, code) = (sent_id.text(), sent_code.text());
        let (id, code) = (id.as_deref(), code.as_deref());
        let request = match planned.method {
            CallbackMethod::Get if job.url.contains('#') => self
                .0
                .http()
                .get(with_query(&job.url, &form("", "", id, code))),
            CallbackMethod::Get => {
                let sep = query_separator(&job.url);
                self.0.http().get(form(&job.url, sep, id, code))
            }
            CallbackMethod::Post => self
                .0
                .http()
                .post(&*job.url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form("", "", id, code)),
        };
        let sent_at = self.0.clock.now();
        let timeout = self.0.clock.to_real(self.0.attempt_timeout);
        let result = tokio::time::timeout(timeout, async {
            let resp = request.send().await?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, body))
        })
        .await;
        let answered_at = self.0.clock.now();
        let (outcome, response) = match result {
            Err(_) => (AttemptOutcome::Timeout, Body::None),
            Ok(Ok((status, body))) => {
                let outcome = if (200..300).contains(&status) {
                    AttemptOutcome::Delivered { status }
                } else {
                    AttemptOutcome::Rejected { status }
                };
                (outcome, Body::from_bytes(&body))
            }
            Ok(Err(e)) if e.is_connect() => (
                AttemptOutcome::Refused {
                    error: error_chain(&e),
                },
                Body::None,
            ),
            Ok(Err(e)) if e.is_timeout() => (AttemptOutcome::Timeout, Body::None),
            Ok(Err(e)) => (
                AttemptOutcome::Error {
                    error: error_chain(&e),
                },
                Body::None,
            ),
        };
        if matches!(outcome, AttemptOutcome::Delivered { .. }) {
            self.0.delivered.fetch_add(1, Ordering::Relaxed);
            if planned.kind == DeliveryKind::Genuine {
                generation.delivered.push(job.task_id);
            }
        } else {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
        }
        let latency = answered_at.saturating_since(sent_at);
        let last_attempt = last || !outcome.is_failure();
        tracing::info!(
            target: "captchaai_mock::pingback",
            task = job.task_id,
            kind = planned.kind.label(),
            fault = %ctx.fault,
            attempt,
            method = planned.method.as_str(),
            url = %job.url,
            outcome = %outcome,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "pingback attempt"
        );
        self.0.journal.push(Entry {
            task_id: job.task_id,
            delivery: index,
            kind: planned.kind,
            fault: ctx.fault.clone(),
            attempt,
            method: planned.method,
            url: job.url.clone(),
            id: sent_id,
            code: sent_code,
            scheduled_at_ms: due.as_millis(),
            sent_at_ms: sent_at.as_millis(),
            outcome: outcome.clone(),
            latency_us: Some(latency.as_micros() as u64),
            response,
            last_attempt,
        });
        outcome
    }
}

/// A delivery was shed: the queue was full (`pingback.queue-capacity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shed;

/// `base`, `sep`, then `id` and `code` form-encoded: a GET's URL in one
/// allocation, or (with empty `base` and `sep`) a POST's body.
fn form(base: &str, sep: &str, id: Option<&str>, code: Option<&str>) -> String {
    let start = base.len() + sep.len();
    let code_len = code.map_or(0, str::len);
    let mut out = String::with_capacity(start + 32 + code_len + code_len / 4);
    out.push_str(base);
    out.push_str(sep);
    let mut ser = form_urlencoded::Serializer::for_suffix(&mut out, start);
    if let Some(id) = id {
        ser.append_pair("id", id);
    }
    if let Some(code) = code {
        ser.append_pair("code", code);
    }
    ser.finish();
    out
}

/// What goes between a callback URL (without a fragment) and more query
/// parameters.
fn query_separator(url: &str) -> &'static str {
    if !url.contains('?') {
        "?"
    } else if url.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    }
}

/// The callback URL with `id`/`code` appended to its query: after existing
/// parameters, before any fragment (which is never sent, and would swallow
/// the parameters if they came after it).
fn with_query(url: &str, form: &str) -> String {
    let (base, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    if form.is_empty() {
        return url.to_owned();
    }
    let sep = query_separator(base);
    let mut out = String::with_capacity(base.len() + 1 + form.len() + fragment.len());
    out.push_str(base);
    out.push_str(sep);
    out.push_str(form);
    out.push_str(fragment);
    out
}

fn truncate(s: &str) -> String {
    truncate_to(s, 120)
}

fn truncate_to(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + '…'.len_utf8());
    out.push_str(&s[..end]);
    out.push('…');
    out
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    if s.len() > MAX_JOURNAL_ERROR {
        s = truncate_to(&s, MAX_JOURNAL_ERROR);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_goes_after_existing_parameters_and_before_the_fragment() {
        assert_eq!(with_query("http://h/p", "id=1"), "http://h/p?id=1");
        assert_eq!(with_query("http://h/p?t=a", "id=1"), "http://h/p?t=a&id=1");
        assert_eq!(with_query("http://h/p?", "id=1"), "http://h/p?id=1");
        assert_eq!(with_query("http://h/p?t=a&", "id=1"), "http://h/p?t=a&id=1");
        assert_eq!(
            with_query("http://h/p?t=a#frag", "id=1"),
            "http://h/p?t=a&id=1#frag"
        );
        assert_eq!(with_query("http://h/p#f?x", "id=1"), "http://h/p?id=1#f?x");
    }

    #[test]
    fn sent_values_read_back_as_sent() {
        for n in [0u64, 7, 9, 10, 99, 100, 74_000_000_001, u64::MAX] {
            let s = Sent::Number(n);
            assert_eq!(s.text().unwrap(), n.to_string());
            assert_eq!(s.len(), n.to_string().len());
        }
        assert_eq!(Sent::Filler(3).text().unwrap(), "AAA");
        assert_eq!(Sent::Absent.text(), None);
        assert_eq!(
            form("http://h/p", "?", Some("1"), Some("a b&c")),
            "http://h/p?id=1&code=a+b%26c"
        );
        assert_eq!(form("", "", None, Some("x")), "code=x");
    }

    #[test]
    fn long_values_are_cut_at_a_char_boundary() {
        assert_eq!(truncate_to("abc", 5), "abc");
        assert_eq!(truncate_to("abcdef", 3), "abc…");
        assert_eq!(truncate_to("aé", 2), "a…");
    }
}
