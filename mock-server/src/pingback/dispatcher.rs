//! Sends pingbacks as their schedules say, and journals every attempt.
//!
//! Each finished task becomes a [`Job`]. Its planned callbacks are sent in
//! order (first attempts are awaited one after the other, so "malformed, then
//! genuine" and reorder permutations arrive in the planned order); failed
//! attempts are retried in the background under the task's retry policy, on
//! the mock's clock. Work in progress is bounded: past `queue-capacity`
//! pending jobs, new ones are shed with a warning and a journal entry, so the
//! API never waits on a slow receiver. Concurrency per receiver host is capped
//! by a semaphore.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::faults::{
    CallbackMethod, DeliveryKind, MalformedKind, PlannedDelivery, ReorderFault, RetryPolicy,
    Schedule,
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
    /// Simulated time from send to answer, in microseconds.
    pub latency_us: Option<u64>,
    /// The start of the receiver's answer body.
    pub response: Option<String>,
    /// No further attempt of this callback will follow.
    pub last_attempt: bool,
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
    /// Jobs in progress (waiting, sending or retrying).
    pub pending: usize,
}

struct Generation {
    cancel: CancellationToken,
    pending: Arc<AtomicUsize>,
    reorder: Mutex<HashMap<usize, ReorderBuffer>>,
}

#[derive(Default)]
struct ReorderBuffer {
    jobs: Vec<Job>,
    window_seq: u64,
}

struct Inner {
    http: reqwest::Client,
    clock: Clock,
    seed: u64,
    journal: Journal<DeliveryRecord>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    max_per_host: usize,
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

fn new_generation(parent: &CancellationToken) -> Arc<Generation> {
    Arc::new(Generation {
        cancel: parent.child_token(),
        pending: Arc::new(AtomicUsize::new(0)),
        reorder: Mutex::new(HashMap::new()),
    })
}

struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Dispatcher {
    /// A dispatcher for a config; stops when `cancel` fires.
    pub fn new(cfg: &Config, clock: Clock, cancel: CancellationToken) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(cfg.pingback.max_in_flight_per_host)
            .user_agent(concat!(
                "captchaai-mock/",
                env!("CARGO_PKG_VERSION"),
                " (pingback)"
            ))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Dispatcher(Arc::new(Inner {
            http,
            clock,
            seed: cfg.seed,
            journal: Journal::new(cfg.pingback.journal_capacity),
            hosts: Mutex::new(HashMap::new()),
            max_per_host: cfg.pingback.max_in_flight_per_host,
            queue_capacity: cfg.pingback.queue_capacity,
            attempt_timeout: cfg.pingback.attempt_timeout,
            generation: Mutex::new(new_generation(&cancel)),
            parent: cancel,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            shed: AtomicU64::new(0),
        }))
    }

    fn generation(&self) -> Arc<Generation> {
        self.0
            .generation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
    }

    /// Cancels everything pending and forgets the journal and totals.
    pub fn reset(&self) {
        let fresh = new_generation(&self.0.parent);
        let old = std::mem::replace(
            &mut *self.0.generation.lock().unwrap_or_else(|p| p.into_inner()),
            fresh,
        );
        old.cancel.cancel();
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

    fn admit(&self, job: &Job, gen_: &Generation) -> Option<PendingGuard> {
        let n = gen_.pending.fetch_add(1, Ordering::Relaxed);
        let guard = PendingGuard(gen_.pending.clone());
        if n >= self.0.queue_capacity {
            drop(guard);
            self.0.shed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
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
        self.0.journal.push(DeliveryRecord {
            task_id: job.task_id,
            delivery: 0,
            kind: DeliveryKind::Genuine,
            fault: Arc::from(job.schedule.fault.as_str()),
            attempt: 0,
            method: job
                .schedule
                .deliveries
                .first()
                .map_or(CallbackMethod::Get, |d| d.method),
            url: job.url.to_string(),
            id: Some(job.task_id.to_string()),
            code: Some(truncate(&job.code)),
            code_len: job.code.len(),
            scheduled_at_ms: job.finished_at.as_millis(),
            sent_at_ms: now,
            outcome,
            latency_us: None,
            response: None,
            last_attempt: true,
        });
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
            self.hold_for_reorder(job, r, guard, generation);
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let cancel = generation.cancel.clone();
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = this.run_sequence(&job, job.finished_at, &generation) => {}
            }
            drop(guard);
        });
    }

    /// Sends a job's callbacks right now and waits for the first attempts
    /// (the `early` fault); retries continue in the background.
    pub async fn deliver_now(&self, job: Job, _cfg: &Config) {
        let generation = self.generation();
        let Some(guard) = self.admit(&job, &generation) else {
            return;
        };
        let now = self.0.clock.now();
        let cancel = generation.cancel.clone();
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.run_sequence(&job, now, &generation) => {}
        }
        drop(guard);
    }

    /// One genuine callback with the default retry policy (admin "fire").
    pub fn fire_manual(&self, job: Job, cfg: &Config) {
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
        schedule.reorder = None;
        let job = Job {
            schedule: Arc::new(schedule),
            finished_at: self.0.clock.now(),
            ..job
        };
        let generation = self.generation();
        let Some(guard) = self.admit(&job, &generation) else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let cancel = generation.cancel.clone();
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = this.run_sequence(&job, job.finished_at, &generation) => {}
            }
            drop(guard);
        });
    }

    fn hold_for_reorder(
        &self,
        job: Job,
        r: ReorderFault,
        guard: PendingGuard,
        generation: Arc<Generation>,
    ) {
        let rule = job.schedule.rule.unwrap_or(usize::MAX);
        let mut buffers = generation.reorder.lock().unwrap_or_else(|p| p.into_inner());
        let buf = buffers.entry(rule).or_default();
        buf.jobs.push(job);
        drop(guard); // the buffer itself is bounded by the window
        let window_seq = buf.window_seq;
        if buf.jobs.len() >= r.window as usize {
            let jobs = std::mem::take(&mut buf.jobs);
            buf.window_seq += 1;
            drop(buffers);
            self.release(rule, window_seq, jobs, generation);
        } else if buf.jobs.len() == 1 {
            // First of a new window: release whatever gathered after max-hold.
            drop(buffers);
            let this = self.clone();
            let generation2 = generation.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = generation2.cancel.cancelled() => {}
                    _ = this.0.clock.sleep(r.max_hold) => {
                        let jobs = {
                            let mut buffers = generation2.reorder.lock().unwrap_or_else(|p| p.into_inner());
                            match buffers.get_mut(&rule) {
                                Some(b) if b.window_seq == window_seq && !b.jobs.is_empty() => {
                                    b.window_seq += 1;
                                    std::mem::take(&mut b.jobs)
                                }
                                _ => Vec::new(),
                            }
                        };
                        if !jobs.is_empty() {
                            this.release(rule, window_seq, jobs, generation2);
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
        mut jobs: Vec<Job>,
        generation: Arc<Generation>,
    ) {
        let subject = ((rule as u64) << 32) ^ window_seq;
        let mut rng = seed::stream(self.0.seed, Stream::Reorder, subject);
        let arrival: Vec<u64> = jobs.iter().map(|j| j.task_id).collect();
        seed::shuffle(&mut rng, &mut jobs);
        if jobs.len() >= 2 && jobs.iter().map(|j| j.task_id).eq(arrival.iter().copied()) {
            jobs.rotate_left(1);
        }
        tracing::info!(
            target: "captchaai_mock::pingback",
            window = window_seq,
            order = ?jobs.iter().map(|j| j.task_id).collect::<Vec<_>>(),
            "releasing reorder window"
        );
        let pending = generation.pending.clone();
        pending.fetch_add(1, Ordering::Relaxed);
        let guard = PendingGuard(pending);
        let this = self.clone();
        tokio::spawn(async move {
            let cancel = generation.cancel.clone();
            let run = async {
                for job in &jobs {
                    let now = this.0.clock.now();
                    this.run_sequence(job, now, &generation).await;
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = run => {}
            }
            drop(guard);
        });
    }

    /// Sends each planned callback at its offset from `base`; first attempts in order.
    async fn run_sequence(&self, job: &Job, base: SimTime, generation: &Arc<Generation>) {
        for (index, planned) in job.schedule.deliveries.iter().enumerate() {
            let due = base.saturating_add(planned.offset);
            self.0.clock.sleep_until(due).await;
            let retryable = !planned.kind.is_malformed() && job.schedule.retry.max_attempts() > 1;
            let outcome = self
                .attempt(job, index as u32, planned, 1, due, !retryable)
                .await;
            if retryable && outcome.is_failure() {
                let this = self.clone();
                let job = job.clone();
                let planned = planned.clone();
                let generation2 = generation.clone();
                generation.pending.fetch_add(1, Ordering::Relaxed);
                let guard = PendingGuard(generation.pending.clone());
                tokio::spawn(async move {
                    let cancel = generation2.cancel.clone();
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = this.retry_loop(&job, index as u32, &planned, due) => {}
                    }
                    drop(guard);
                });
            }
        }
    }

    async fn retry_loop(&self, job: &Job, index: u32, planned: &PlannedDelivery, mut due: SimTime) {
        let policy: &RetryPolicy = &job.schedule.retry;
        let max = policy.max_attempts();
        for n in 2..=max {
            let Some(wait) = policy.wait_before(n) else {
                return;
            };
            due = due.max(self.0.clock.now()).saturating_add(wait);
            self.0.clock.sleep_until(due).await;
            let outcome = self.attempt(job, index, planned, n, due, n == max).await;
            if !outcome.is_failure() {
                return;
            }
        }
    }

    fn host_semaphore(&self, url: &str) -> Arc<Semaphore> {
        let host = host_of(url);
        let mut hosts = self.0.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = hosts.get(host) {
            return s.clone();
        }
        let s = Arc::new(Semaphore::new(self.0.max_per_host));
        hosts.insert(host.to_owned(), s.clone());
        s
    }

    /// The `id` and `code` a planned callback carries.
    fn payload(&self, job: &Job, kind: DeliveryKind) -> (Option<String>, Option<String>) {
        let id = job.task_id.to_string();
        match kind {
            DeliveryKind::Genuine | DeliveryKind::Duplicate => {
                (Some(id), Some(job.code.to_string()))
            }
            DeliveryKind::Conflicting => (Some(id), Some(job.conflicting_code.to_string())),
            DeliveryKind::Malformed(m) => {
                let mut rng = seed::stream(self.0.seed, Stream::Dispatch, job.task_id);
                match m {
                    MalformedKind::MissingId => (None, Some(job.code.to_string())),
                    MalformedKind::MissingCode => (Some(id), None),
                    MalformedKind::NonNumericId => {
                        (Some(format!("{id}x")), Some(job.code.to_string()))
                    }
                    MalformedKind::UnknownId => {
                        let unknown = 9_000_000_000_000 + seed::below(&mut rng, 1_000_000_000);
                        (
                            Some(unknown.to_string()),
                            Some(job.conflicting_code.to_string()),
                        )
                    }
                    MalformedKind::StaleId => {
                        let earlier = job.task_id.saturating_sub(job.first_task_id);
                        let stale = if earlier == 0 {
                            job.first_task_id.saturating_sub(1)
                        } else {
                            job.first_task_id + seed::below(&mut rng, earlier)
                        };
                        (
                            Some(stale.to_string()),
                            Some(job.conflicting_code.to_string()),
                        )
                    }
                    MalformedKind::OversizedCode => {
                        (Some(id), Some("A".repeat(OVERSIZED_CODE_LEN)))
                    }
                    MalformedKind::WrongMethod => (Some(id), Some(job.code.to_string())),
                }
            }
        }
    }

    async fn attempt(
        &self,
        job: &Job,
        index: u32,
        planned: &PlannedDelivery,
        attempt: u32,
        due: SimTime,
        last: bool,
    ) -> AttemptOutcome {
        let (id, code) = self.payload(job, planned.kind);
        let mut form = String::with_capacity(32 + code.as_ref().map_or(0, String::len));
        {
            let mut ser = form_urlencoded::Serializer::new(&mut form);
            if let Some(id) = &id {
                ser.append_pair("id", id);
            }
            if let Some(code) = &code {
                ser.append_pair("code", code);
            }
            ser.finish();
        }
        let (url, request) = match planned.method {
            CallbackMethod::Get => {
                let sep = if job.url.contains('?') { '&' } else { '?' };
                let url = if form.is_empty() {
                    job.url.to_string()
                } else {
                    format!("{}{sep}{form}", job.url)
                };
                let req = self.0.http.get(&url);
                (url, req)
            }
            CallbackMethod::Post => {
                let req = self
                    .0
                    .http
                    .post(&*job.url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form);
                (job.url.to_string(), req)
            }
        };
        let semaphore = self.host_semaphore(&job.url);
        let permit = semaphore.acquire_owned().await;
        let sent_at = self.0.clock.now();
        let timeout = self.0.clock.to_real(self.0.attempt_timeout);
        let result = tokio::time::timeout(timeout, async {
            let resp = request.send().await?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, body))
        })
        .await;
        drop(permit);
        let answered_at = self.0.clock.now();
        let (outcome, response) = match result {
            Err(_) => (AttemptOutcome::Timeout, None),
            Ok(Ok((status, body))) => {
                let snippet =
                    String::from_utf8_lossy(&body[..body.len().min(MAX_BODY_SNIPPET)]).into_owned();
                let outcome = if (200..300).contains(&status) {
                    AttemptOutcome::Delivered { status }
                } else {
                    AttemptOutcome::Rejected { status }
                };
                (outcome, Some(snippet))
            }
            Ok(Err(e)) if e.is_connect() => (
                AttemptOutcome::Refused {
                    error: error_chain(&e),
                },
                None,
            ),
            Ok(Err(e)) if e.is_timeout() => (AttemptOutcome::Timeout, None),
            Ok(Err(e)) => (
                AttemptOutcome::Error {
                    error: error_chain(&e),
                },
                None,
            ),
        };
        if matches!(outcome, AttemptOutcome::Delivered { .. }) {
            self.0.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
        }
        let latency = answered_at.saturating_since(sent_at);
        let last_attempt = last || !outcome.is_failure();
        tracing::info!(
            target: "captchaai_mock::pingback",
            task = job.task_id,
            kind = planned.kind.label(),
            attempt,
            method = planned.method.as_str(),
            outcome = ?outcome,
            "pingback attempt"
        );
        let code_len = code.as_ref().map_or(0, String::len);
        self.0.journal.push(DeliveryRecord {
            task_id: job.task_id,
            delivery: index,
            kind: planned.kind,
            fault: Arc::from(job.schedule.fault.as_str()),
            attempt,
            method: planned.method,
            url,
            id,
            code: code.as_deref().map(truncate),
            code_len,
            scheduled_at_ms: due.as_millis(),
            sent_at_ms: sent_at.as_millis(),
            outcome: outcome.clone(),
            latency_us: response.as_ref().map(|_| latency.as_micros() as u64),
            response,
            last_attempt,
        });
        outcome
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= 120 {
        return s.to_owned();
    }
    let mut end = 120;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
