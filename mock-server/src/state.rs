//! The service's state: accounts, threads, tasks, and what the API reads.
//!
//! Tasks are lazily evaluated: at submission the mock draws the task's solve
//! time and fate from its seeded stream and stores when it finishes; a task
//! is "solved" from that moment on without any timer firing. Only tasks with a
//! pingback are put on a finish queue that wakes the dispatcher. This keeps a
//! pending task at well under 200 bytes, so a million of them fit easily.
//!
//! Threads are modelled per account as a heap of "slot free at" times, one
//! entry per busy slot: admission in `zero-balance`/`no-slot` mode needs a
//! free slot; in `queue` mode a task takes the earliest slot to free, which
//! makes the account an exact FIFO queue with `threads` servers.

use std::{
    borrow::Cow,
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, RwLock},
    time::Duration,
};

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    answers::{self, Answer},
    clock::{Clock, SimTime},
    config::{BusyMode, Config, Dialect},
    journal::{Journal, Numbered},
    limits::Limiter,
    methods::{AnswerShape, Submission, TaskKind},
    pingback::{
        Dispatcher,
        dispatcher::{DeliveryRecord, Job},
        faults::{self, CallbackMethod, FaultRule, Schedule, TaskFacts},
    },
    seed::{self, Stream},
    wire::Code,
};

/// How a task ended or will end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Solved with this answer.
    Solved {
        /// The `request` value.
        answer: String,
        /// The `user_agent` field, if the kind has one.
        user_agent: Option<String>,
    },
    /// Failed with this code (`ERROR_CAPTCHA_UNSOLVABLE` unless forced otherwise).
    Failed {
        /// The error code.
        code: String,
    },
}

impl Outcome {
    /// The pingback `code`: the answer, or the error code.
    pub fn code(&self) -> &str {
        match self {
            Outcome::Solved { answer, .. } => answer,
            Outcome::Failed { code } => code,
        }
    }
}

/// A task's state at some moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Waiting for a thread (`queue` busy mode).
    Queued,
    /// Being solved.
    Pending,
    /// Solved.
    Solved,
    /// Failed.
    Failed,
}

#[derive(Debug)]
enum Forced {
    Solved(Option<String>),
    Failed(Code),
}

#[derive(Debug)]
struct TaskPingback {
    url: Arc<str>,
    schedule: Arc<Schedule>,
    fired: bool,
}

/// One stored task, kept small: a million pending tasks must fit in memory.
#[derive(Debug)]
struct Task {
    account: u32,
    kind: TaskKind,
    unsolvable: bool,
    report: u8,
    shape: AnswerShape,
    submitted_at: SimTime,
    started_at: SimTime,
    finish_at: SimTime,
    pingback: Option<Box<TaskPingback>>,
    forced: Option<Box<Forced>>,
}

impl Task {
    fn state(&self, now: SimTime) -> TaskState {
        if now >= self.finish_at && !self.finish_at.is_never() {
            if self.failed() {
                TaskState::Failed
            } else {
                TaskState::Solved
            }
        } else if now < self.started_at {
            TaskState::Queued
        } else {
            TaskState::Pending
        }
    }

    fn failed(&self) -> bool {
        match self.forced.as_deref() {
            Some(Forced::Failed(_)) => true,
            Some(Forced::Solved(_)) => false,
            None => self.unsolvable,
        }
    }
}

#[derive(Debug)]
struct Account {
    key: String,
    threads: u32,
    balance: f64,
    /// Free-at time of each busy slot, with the task holding it.
    slots: BinaryHeap<Reverse<(SimTime, u64)>>,
    slots_dirty: bool,
    pingback_hosts: Vec<String>,
}

impl Account {
    /// Drops slots that are free at `now` and returns how many are busy.
    fn busy(&mut self, now: SimTime, tasks: &HashMap<u64, Task>) -> usize {
        if self.slots_dirty {
            // A forced task released its thread early: recompute free times.
            let entries: Vec<(SimTime, u64)> = self
                .slots
                .drain()
                .map(|Reverse((t, id))| {
                    (tasks.get(&id).map_or(t, |task| task.finish_at.min(t)), id)
                })
                .collect();
            self.slots = entries.into_iter().map(Reverse).collect();
            self.slots_dirty = false;
        }
        while let Some(Reverse((free_at, _))) = self.slots.peek() {
            if *free_at <= now {
                self.slots.pop();
            } else {
                break;
            }
        }
        self.slots.len()
    }
}

struct World {
    tasks: HashMap<u64, Task>,
    accounts: Vec<Account>,
    next_id: u64,
    expiry: BinaryHeap<Reverse<(SimTime, u64)>>,
    finish_queue: BinaryHeap<Reverse<(SimTime, u64)>>,
    counters: Counters,
    /// reCAPTCHA cookies to hand back (2captcha), for the few tasks that sent them.
    cookies: HashMap<u64, (Box<str>, bool)>,
}

/// Running totals, for `/__admin/health` and benchmarks.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counters {
    /// Tasks accepted.
    pub submitted: u64,
    /// Submits rejected because every thread was busy.
    pub busy_rejections: u64,
    /// Tasks expired and forgotten.
    pub expired: u64,
}

/// One inbound request, as the journal keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct InboundEntry {
    /// Simulated milliseconds since start.
    pub at_ms: u64,
    /// `in.php` or `res.php`.
    pub endpoint: &'static str,
    /// HTTP method.
    pub http_method: Cow<'static, str>,
    /// Body encoding: `query`, `form`, `multipart` or `json`.
    pub encoding: &'static str,
    /// `action` for res.php, `method` for in.php.
    pub action: Option<Cow<'static, str>>,
    /// The task the request concerns (new id for a submit).
    pub task_id: Option<u64>,
    /// Parameters (long values summarised when read).
    pub params: crate::params::JournalParams,
    /// The answer in plain form (`OK|...`, `CAPCHA_NOT_READY`, ...).
    pub answer: Cow<'static, str>,
    /// The client's address, when known.
    pub remote: Option<SocketAddr>,
}

/// A task as the admin API and the harness see it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskView {
    /// Task id.
    pub id: u64,
    /// Submission ordinal (1 = first since start or reset).
    pub ordinal: u64,
    /// The account's key.
    pub key: String,
    /// Kind.
    pub kind: TaskKind,
    /// State now.
    pub state: TaskState,
    /// Simulated ms at submission.
    pub submitted_at_ms: u64,
    /// Simulated ms when a thread took it.
    pub started_at_ms: Option<u64>,
    /// Simulated ms when it finishes (`None`: never).
    pub finish_at_ms: Option<u64>,
    /// What it ends with (ground truth), even before it finishes.
    pub outcome: Outcome,
    /// `good` or `bad` once reported.
    pub report: Option<&'static str>,
    /// Pingback URL.
    pub pingback: Option<String>,
    /// Compiled pingback schedule.
    pub schedule: Option<Schedule>,
    /// Forced by the admin API.
    pub forced: bool,
    /// reCAPTCHA cookies handed back with the answer (2captcha), as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<String>,
    /// Hand the cookies back as a JSON object (`json_cookies=1`).
    #[serde(skip)]
    pub json_cookies: bool,
}

/// Why a submission was refused (besides parameter errors).
pub type SubmitResult = Result<Submitted, Code>;

/// An accepted submission.
#[derive(Debug)]
pub struct Submitted {
    /// New task id.
    pub id: u64,
    /// A delivery to make before answering (the `early` fault).
    pub early: Option<Job>,
}

/// Everything shared by handlers, the dispatcher and the admin API.
pub struct Inner {
    /// Fixed for the life of the state (`reset` goes back to it), so it is
    /// read without a lock: every request reads it.
    config: Arc<Config>,
    /// Account index by key, from the config; as fixed as the config, and
    /// read without the world lock by every request.
    keys: HashMap<String, u32>,
    rules: RwLock<Arc<Vec<FaultRule>>>,
    world: Mutex<World>,
    clock: Clock,
    inbound: Journal<InboundEntry>,
    dispatcher: Dispatcher,
    finish_notify: Notify,
    cancel: CancellationToken,
    api_requests: std::sync::atomic::AtomicU64,
    /// Rate-limit counters (only touched when `[api.rate-limits]` is configured).
    limiter: Limiter,
}

/// A handle on one mock's state (cheap to clone).
#[derive(Clone)]
pub struct MockState(Arc<Inner>);

impl std::fmt::Debug for MockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockState")
            .field("now", &self.0.clock.now())
            .finish_non_exhaustive()
    }
}

fn world_for(cfg: &Config) -> World {
    let accounts: Vec<Account> = cfg
        .effective_accounts()
        .into_iter()
        .map(|a| Account {
            key: a.key,
            threads: a.threads,
            balance: a.balance,
            slots: BinaryHeap::new(),
            slots_dirty: false,
            pingback_hosts: Vec::new(),
        })
        .collect();
    World {
        tasks: HashMap::new(),
        accounts,
        next_id: cfg.first_task_id,
        expiry: BinaryHeap::new(),
        finish_queue: BinaryHeap::new(),
        counters: Counters::default(),
        cookies: HashMap::new(),
    }
}

fn keys_for(world: &World) -> HashMap<String, u32> {
    world
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.key.clone(), i as u32))
        .collect()
}

/// The key check shared by both endpoints.
pub enum KeyCheck {
    /// Key is fine: account index.
    Ok(u32),
    /// The error to answer.
    Err(Code),
}

impl MockState {
    /// Builds the state for a validated config. Must be called inside a tokio runtime.
    pub fn new(config: Config, cancel: CancellationToken) -> Self {
        let clock = Clock::new(config.time_scale);
        let dispatcher = Dispatcher::new(&config, clock.clone(), cancel.child_token());
        let world = world_for(&config);
        let inner = Inner {
            rules: RwLock::new(Arc::new(config.pingback.rules.clone())),
            inbound: Journal::new(config.journal.capacity),
            keys: keys_for(&world),
            config: Arc::new(config),
            world: Mutex::new(world),
            clock,
            dispatcher,
            finish_notify: Notify::new(),
            cancel,
            api_requests: std::sync::atomic::AtomicU64::new(0),
            limiter: Limiter::default(),
        };
        let state = MockState(Arc::new(inner));
        let s = state.clone();
        tokio::spawn(async move { s.finisher().await });
        state
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // Every mutation of World completes before its guard drops; a panic in
        // between would be a bug we'd rather keep serving through.
        self.0.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration in effect.
    pub fn config(&self) -> Arc<Config> {
        self.0.config.clone()
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The pingback dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.0.dispatcher
    }

    /// Simulated time since start.
    pub fn now(&self) -> Duration {
        self.0.clock.now().as_duration()
    }

    /// The API keys in effect (the first is the default).
    pub fn keys(&self) -> Vec<String> {
        self.world()
            .accounts
            .iter()
            .map(|a| a.key.clone())
            .collect()
    }

    /// Checks a key as both endpoints do.
    pub fn check_key(&self, key: Option<&str>) -> KeyCheck {
        let Some(key) = key else {
            return KeyCheck::Err(Code::WrongUserKey);
        };
        if key.len() < 32 || key.chars().count() != 32 {
            return KeyCheck::Err(Code::WrongUserKey);
        }
        // Most mocks have a handful of keys: comparing 32 bytes a few times is
        // cheaper than hashing them (this runs for every request).
        let found = if self.0.keys.len() <= 16 {
            self.0
                .keys
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, i)| *i)
        } else {
            self.0.keys.get(key).copied()
        };
        match found {
            Some(i) => KeyCheck::Ok(i),
            None => KeyCheck::Err(Code::KeyDoesNotExist),
        }
    }

    /// Checks a request's key as [`MockState::check_key`] does, and applies the configured
    /// rate-limit penalties ([`crate::limits`]): `IP_BANNED` for a banned address (a bad key
    /// counts towards the ban), `MAX_USER_TURN` for a submit burst (`submit`), `ERROR: 1005`
    /// for a key that polls far more than it submits.
    pub fn admit(&self, key: Option<&str>, remote: Option<SocketAddr>, submit: bool) -> KeyCheck {
        let limits = &self.0.config.api.rate_limits;
        if !limits.any() {
            return self.check_key(key);
        }
        let now = self.now();
        let ip = remote.map(|r| r.ip());
        let limiter = &self.0.limiter;
        if let Some(code) = limiter.check_address(limits, ip, now) {
            return KeyCheck::Err(code);
        }
        match self.check_key(key) {
            KeyCheck::Err(code) => {
                limiter.bad_key(limits, ip, now);
                KeyCheck::Err(code)
            }
            KeyCheck::Ok(account) => {
                let penalty = if submit {
                    limiter.submit(limits, account, now)
                } else {
                    limiter.poll(limits, account, now)
                };
                penalty.map_or(KeyCheck::Ok(account), KeyCheck::Err)
            }
        }
    }

    /// Records an inbound request.
    pub fn journal_inbound(&self, entry: InboundEntry) {
        self.0.inbound.push(entry);
    }

    /// Inbound journal entries after `since`, optionally for one task or endpoint.
    pub fn inbound(
        &self,
        since: u64,
        limit: usize,
        task: Option<u64>,
        endpoint: Option<&str>,
    ) -> Vec<Numbered<InboundEntry>> {
        self.0.inbound.query(since, limit, |e| {
            task.is_none_or(|t| e.task_id == Some(t)) && endpoint.is_none_or(|ep| e.endpoint == ep)
        })
    }

    /// Outbound delivery attempts after `since`, optionally for one task.
    pub fn deliveries(
        &self,
        since: u64,
        limit: usize,
        task: Option<u64>,
    ) -> Vec<Numbered<DeliveryRecord>> {
        self.0.dispatcher.journal(since, limit, task)
    }

    /// The ordered fault rules in effect.
    pub fn rules(&self) -> Arc<Vec<FaultRule>> {
        self.0
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the fault rules; tasks submitted from now on use them.
    pub fn set_rules(&self, rules: Vec<FaultRule>) {
        *self.0.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
    }

    /// Back to the state at start-up: no tasks, empty journals, ids and
    /// ordinals from the start, fault rules from the config, pending
    /// deliveries cancelled.
    pub fn reset(&self) {
        let cfg = &*self.0.config;
        *self.world() = world_for(cfg);
        self.0
            .api_requests
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.set_rules(cfg.pingback.rules.clone());
        self.0.inbound.clear();
        self.0.limiter.clear();
        self.0.dispatcher.reset();
        self.0.finish_notify.notify_one();
    }

    /// Draws the transient API fault for the next request, if any: the
    /// seeded stream is indexed by the request's arrival number, so a run with
    /// the same requests in the same order gets the same faults.
    pub fn api_fault(&self, submit: bool) -> Option<ApiFault> {
        let cfg = &*self.0.config;
        let api = &cfg.api;
        if api.http_error_rate <= 0.0 && (!submit || api.server_error_rate <= 0.0) {
            return None;
        }
        let n = self
            .0
            .api_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rng = seed::stream(cfg.seed, Stream::Api, n);
        if seed::chance(&mut rng, api.http_error_rate) {
            return Some(ApiFault::Http503);
        }
        if submit && seed::chance(&mut rng, api.server_error_rate) {
            return Some(ApiFault::ServerError);
        }
        None
    }

    /// The `code` a conflicting duplicate of task `id` carries, when its pingback schedule
    /// sends one (ground truth for graders: what a receiver that never saw the genuine
    /// callback may rightly keep).
    pub fn conflicting_code(&self, id: u64) -> Option<String> {
        let cfg = &*self.0.config;
        let world = self.world();
        let t = world.tasks.get(&id)?;
        let pb = t.pingback.as_deref()?;
        needs_conflicting_code(&pb.schedule).then(|| {
            answers::conflicting_answer(cfg.seed, stream_subject(cfg, id), t.kind, t.shape).text
        })
    }

    /// Running totals.
    pub fn counters(&self) -> Counters {
        self.world().counters
    }

    /// Number of stored tasks.
    pub fn task_count(&self) -> usize {
        self.world().tasks.len()
    }

    fn expire(world: &mut World, now: SimTime, budget: usize) {
        for _ in 0..budget {
            let Some(Reverse((at, id))) = world.expiry.peek().copied() else {
                break;
            };
            if at > now {
                break;
            }
            world.expiry.pop();
            // A forced task has two entries: count it once.
            if world.tasks.remove(&id).is_some() {
                world.counters.expired += 1;
                world.cookies.remove(&id);
            }
        }
    }

    /// Accepts a validated submission for an account.
    pub fn submit(&self, account: u32, sub: Submission) -> SubmitResult {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let rules = self.rules();
        let mut w = self.world();
        Self::expire(&mut w, now, 64);
        if w.tasks.len() >= cfg.solving.max_tasks {
            return Err(Code::NoSlotAvailable);
        }
        let id = w.next_id;
        let ordinal = id - cfg.first_task_id + 1;

        let subject = stream_subject(cfg, id);
        let (unsolvable, solve) = fate(cfg, id, sub.kind);

        let schedule = sub.pingback.as_deref().map(|url| {
            let method = match cfg.dialect {
                Dialect::Captchaai => CallbackMethod::Get,
                Dialect::TwoCaptcha => CallbackMethod::Post,
            };
            // Compiled from the task's stream subject, then labelled with its real id.
            let mut s = faults::compile(
                cfg.seed,
                &rules,
                &cfg.pingback.retry,
                TaskFacts {
                    task_id: subject,
                    ordinal,
                    kind: sub.kind,
                    url,
                    method,
                },
            );
            s.task_id = id;
            s
        });
        let early = schedule.as_ref().is_some_and(|s| s.early);

        // Threads.
        let World {
            accounts, tasks, ..
        } = &mut *w;
        let acct = &mut accounts[account as usize];
        if cfg.dialect == Dialect::TwoCaptcha {
            if let Some(url) = &sub.pingback
                && !acct
                    .pingback_hosts
                    .iter()
                    .any(|h| registration_covers(h, host_of(url)))
            {
                return Err(Code::IpAddres);
            }
            // Admission cannot depend on the task's hidden fate: every submit
            // needs the price; only solved tasks are charged (below).
            if acct.balance < sub.kind.price() {
                return Err(Code::ZeroBalance);
            }
        }
        if acct.threads == 0 {
            return Err(Code::KeyDoesNotExist);
        }
        let busy = acct.busy(now, tasks);
        let (started_at, finish_at) = if early {
            // The early race needs the result now: the task is done at once.
            (now, now)
        } else if busy < acct.threads as usize {
            (now, solve.map_or(SimTime::NEVER, |d| now.saturating_add(d)))
        } else {
            match cfg.busy_threads {
                BusyMode::ZeroBalance | BusyMode::NoSlot => {
                    w.counters.busy_rejections += 1;
                    return Err(if cfg.busy_threads == BusyMode::NoSlot {
                        Code::NoSlotAvailable
                    } else {
                        Code::ZeroBalance
                    });
                }
                BusyMode::Queue => {
                    let Reverse((free_at, _)) = acct.slots.pop().unwrap_or(Reverse((now, 0)));
                    let start = free_at.max(now);
                    (
                        start,
                        match (start.is_never(), solve) {
                            (true, _) | (_, None) => SimTime::NEVER,
                            (false, Some(d)) => start.saturating_add(d),
                        },
                    )
                }
            }
        };
        if !early {
            acct.slots.push(Reverse((finish_at, id)));
        }
        if cfg.dialect == Dialect::TwoCaptcha && !unsolvable {
            acct.balance -= sub.kind.price();
        }

        let pingback = sub.pingback.map(|url| {
            Box::new(TaskPingback {
                url: Arc::from(url),
                schedule: Arc::new(schedule.unwrap_or_else(|| unreachable_schedule(id, ordinal))),
                fired: early,
            })
        });
        let has_pingback = pingback.is_some();
        let task = Task {
            account,
            kind: sub.kind,
            unsolvable,
            report: 0,
            shape: sub.shape,
            submitted_at: now,
            started_at,
            finish_at,
            pingback,
            forced: None,
        };
        w.tasks.insert(id, task);
        if let Some((text, json)) = sub.cookies {
            w.cookies.insert(id, (text.into_boxed_str(), json));
        }
        w.next_id += 1;
        w.counters.submitted += 1;
        if !finish_at.is_never() {
            w.expiry.push(Reverse((
                finish_at.saturating_add(cfg.solving.result_ttl),
                id,
            )));
        }
        let early_job = if early {
            w.tasks.get(&id).map(|t| self.job_for(cfg, id, t, now))
        } else {
            if has_pingback && !finish_at.is_never() {
                w.finish_queue.push(Reverse((finish_at, id)));
                drop(w);
                self.0.finish_notify.notify_one();
            }
            None
        };
        Ok(Submitted {
            id,
            early: early_job,
        })
    }

    fn outcome_of(&self, cfg: &Config, id: u64, t: &Task) -> Outcome {
        match t.forced.as_deref() {
            Some(Forced::Failed(code)) => Outcome::Failed {
                code: code.as_str().to_owned(),
            },
            Some(Forced::Solved(Some(answer))) => Outcome::Solved {
                answer: answer.clone(),
                user_agent: answers::answer(cfg.seed, stream_subject(cfg, id), t.kind, t.shape)
                    .user_agent
                    .map(str::to_owned),
            },
            _ if t.unsolvable && t.forced.is_none() => Outcome::Failed {
                code: Code::CaptchaUnsolvable.as_str().to_owned(),
            },
            _ => {
                let Answer { text, user_agent } =
                    answers::answer(cfg.seed, stream_subject(cfg, id), t.kind, t.shape);
                Outcome::Solved {
                    answer: text,
                    user_agent: user_agent.map(str::to_owned),
                }
            }
        }
    }

    fn job_for(&self, cfg: &Config, id: u64, t: &Task, now: SimTime) -> Job {
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

    /// What `res.php?action=get` says about a task of this account.
    pub fn get(&self, account: u32, id: u64) -> Result<Outcome, Code> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let t = w
            .tasks
            .get(&id)
            .filter(|t| t.account == account)
            .ok_or(Code::WrongCaptchaId)?;
        match t.state(now) {
            TaskState::Queued | TaskState::Pending => Err(Code::NotReady),
            TaskState::Solved | TaskState::Failed => Ok(self.outcome_of(cfg, id, t)),
        }
    }

    /// The price charged for a task (2captcha `get2`).
    pub fn price(&self, account: u32, id: u64) -> Option<f64> {
        let w = self.world();
        w.tasks
            .get(&id)
            .filter(|t| t.account == account)
            .map(|t| t.kind.price())
    }

    /// `reportgood` / `reportbad`.
    pub fn report(&self, account: u32, id: u64, good: bool) -> Code {
        let now = self.0.clock.now();
        let mut w = self.world();
        let Some(t) = w.tasks.get_mut(&id).filter(|t| t.account == account) else {
            return Code::ReportNotRecorded;
        };
        if !matches!(t.state(now), TaskState::Solved | TaskState::Failed) {
            return Code::ReportNotRecorded;
        }
        if t.report != 0 {
            return Code::DuplicateReport;
        }
        t.report = if good { 1 } else { 2 };
        Code::ReportRecorded
    }

    /// `(threads, working_threads)` of an account.
    pub fn threads(&self, account: u32) -> (u32, u32) {
        let now = self.0.clock.now();
        let mut w = self.world();
        let World {
            accounts, tasks, ..
        } = &mut *w;
        let a = &mut accounts[account as usize];
        let busy = a.busy(now, tasks) as u32;
        (a.threads, busy.min(a.threads))
    }

    /// Balance of an account.
    pub fn balance(&self, account: u32) -> f64 {
        self.world().accounts[account as usize].balance
    }

    /// 2captcha `add_pingback`.
    pub fn add_pingback_host(&self, account: u32, addr: &str) {
        let host = host_of(addr).to_owned();
        let mut w = self.world();
        let hosts = &mut w.accounts[account as usize].pingback_hosts;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }

    /// 2captcha `get_pingback`.
    pub fn pingback_hosts(&self, account: u32) -> Vec<String> {
        self.world().accounts[account as usize]
            .pingback_hosts
            .clone()
    }

    /// 2captcha `del_pingback` (`all` clears every host).
    pub fn del_pingback_host(&self, account: u32, addr: &str) {
        let mut w = self.world();
        let hosts = &mut w.accounts[account as usize].pingback_hosts;
        if addr == "all" {
            hosts.clear();
        } else {
            let host = host_of(addr);
            hosts.retain(|h| h != host);
        }
    }

    /// One task, as the admin API shows it.
    pub fn task(&self, id: u64) -> Option<TaskView> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let t = w.tasks.get(&id)?;
        Some(self.view(cfg, &w, id, t, now))
    }

    /// Every stored task, in id order, at most `limit`.
    pub fn tasks(&self, limit: usize) -> Vec<TaskView> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let mut ids: Vec<u64> = w.tasks.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .take(limit)
            .filter_map(|id| w.tasks.get(&id).map(|t| self.view(cfg, &w, id, t, now)))
            .collect()
    }

    fn view(&self, cfg: &Config, w: &World, id: u64, t: &Task, now: SimTime) -> TaskView {
        let cookies = w.cookies.get(&id);
        TaskView {
            id,
            ordinal: id.saturating_sub(cfg.first_task_id) + 1,
            key: w.accounts[t.account as usize].key.clone(),
            kind: t.kind,
            state: t.state(now),
            submitted_at_ms: t.submitted_at.as_millis(),
            started_at_ms: (!t.started_at.is_never()).then(|| t.started_at.as_millis()),
            finish_at_ms: (!t.finish_at.is_never()).then(|| t.finish_at.as_millis()),
            outcome: self.outcome_of(cfg, id, t),
            report: match t.report {
                1 => Some("good"),
                2 => Some("bad"),
                _ => None,
            },
            pingback: t.pingback.as_ref().map(|p| p.url.to_string()),
            schedule: t.pingback.as_ref().map(|p| (*p.schedule).clone()),
            forced: t.forced.is_some(),
            cookies: cookies.map(|(c, _)| c.to_string()),
            json_cookies: cookies.is_some_and(|(_, json)| *json),
        }
    }

    /// Forces a task that has not finished to finish now, solved (with its
    /// own or a given answer) or failed (with a code). Its pingback, if any,
    /// fires as scheduled. The thread it held goes to the next queued task
    /// (`queue` busy mode), and so on down the queue.
    pub fn force(&self, id: u64, result: ForceResult) -> Result<TaskView, ForceError> {
        let now = self.0.clock.now();
        let cfg = &*self.0.config;
        let mut w = self.world();
        let t = w.tasks.get_mut(&id).ok_or(ForceError::NotFound)?;
        if !t.finish_at.is_never() && t.finish_at <= now {
            return Err(ForceError::Finished);
        }
        t.forced = Some(Box::new(match result {
            ForceResult::Solve(answer) => Forced::Solved(answer),
            ForceResult::Fail(code) => Forced::Failed(code),
        }));
        // Its thread is free from now, or, if it was still queued, from when
        // it would have got one.
        let (old_start, old_finish) = (t.started_at, t.finish_at);
        t.finish_at = now;
        t.started_at = old_start.min(now);
        let account = t.account;
        let has_pb = t.pingback.as_ref().is_some_and(|p| !p.fired);
        w.expiry
            .push(Reverse((now.saturating_add(cfg.solving.result_ttl), id)));
        if has_pb {
            w.finish_queue.push(Reverse((now, id)));
        }
        Self::advance_queue(&mut w, cfg, account, old_finish, old_start.max(now), now);
        w.accounts[account as usize].slots_dirty = true;
        let view = w.tasks.get(&id).map(|t| self.view(cfg, &w, id, t, now));
        drop(w);
        self.0.finish_notify.notify_one();
        view.ok_or(ForceError::NotFound)
    }

    /// A thread that was to free at `was_free_at` frees at `free_at` instead:
    /// the queued task that was to take it starts then, and the one behind
    /// that when it finishes, and so on. Ties (two threads freeing at the same
    /// moment) go to the earliest submitted task, as the queue is first come,
    /// first served.
    fn advance_queue(
        w: &mut World,
        cfg: &Config,
        account: u32,
        mut was_free_at: SimTime,
        mut free_at: SimTime,
        now: SimTime,
    ) {
        let mut queued: Vec<(SimTime, u64)> = w
            .tasks
            .iter()
            .filter(|(_, t)| t.account == account && t.started_at > now)
            .map(|(&id, t)| (t.started_at, id))
            .collect();
        queued.sort_unstable();
        while free_at < was_free_at {
            let Some(pos) = queued.iter().position(|&(start, _)| start == was_free_at) else {
                return;
            };
            let (_, next) = queued.remove(pos);
            let Some(t) = w.tasks.get_mut(&next) else {
                return;
            };
            let (_, solve) = fate(cfg, next, t.kind);
            was_free_at = t.finish_at;
            t.started_at = free_at;
            t.finish_at = solve.map_or(SimTime::NEVER, |d| free_at.saturating_add(d));
            free_at = t.finish_at;
            if !t.finish_at.is_never() {
                let expires = t.finish_at.saturating_add(cfg.solving.result_ttl);
                let has_pb = t.pingback.as_ref().is_some_and(|p| !p.fired);
                w.expiry.push(Reverse((expires, next)));
                if has_pb {
                    w.finish_queue.push(Reverse((t.finish_at, next)));
                }
            }
        }
    }

    /// Sends a finished task's pingback again, by hand: one genuine callback
    /// with the default retry policy, regardless of its fault schedule.
    pub fn fire_pingback(&self, id: u64) -> Result<(), FireError> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let t = w.tasks.get(&id).ok_or(FireError::NotFound)?;
        if t.pingback.is_none() {
            return Err(FireError::NoPingback);
        }
        if !matches!(t.state(now), TaskState::Solved | TaskState::Failed) {
            return Err(FireError::NotFinished);
        }
        let job = self.job_for(cfg, id, t, now);
        drop(w);
        self.0
            .dispatcher
            .fire_manual(job, cfg)
            .map_err(|_| FireError::Shed)
    }

    /// Waits for tasks with pingbacks to finish and hands them to the dispatcher.
    async fn finisher(self) {
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

    /// Makes an early delivery (before the submit answer), bounded by the attempt timeout.
    pub async fn deliver_early(&self, job: Job) {
        let cfg = &*self.0.config;
        self.0.dispatcher.deliver_now(job, cfg).await;
    }
}

/// A transient fault the API answers with instead of doing its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiFault {
    /// HTTP 503 with an empty body.
    Http503,
    /// `ERROR_SERVER_ERROR` (HTTP 200).
    ServerError,
}

/// Finished tasks turned into pingback jobs per hold of the world lock.
const FINISH_BATCH: usize = 256;

/// True when a schedule sends a code other than the genuine one.
fn needs_conflicting_code(schedule: &Schedule) -> bool {
    use crate::pingback::faults::{DeliveryKind, MalformedKind};
    schedule.deliveries.iter().any(|d| {
        matches!(
            d.kind,
            DeliveryKind::Conflicting
                | DeliveryKind::Malformed(MalformedKind::UnknownId | MalformedKind::StaleId)
        )
    })
}

/// A task's fate and solve time, from its own stream (the same on every draw).
fn fate(cfg: &Config, id: u64, kind: TaskKind) -> (bool, Option<Duration>) {
    let mut rng = seed::stream(cfg.seed, Stream::Solve, stream_subject(cfg, id));
    let unsolvable = seed::chance(&mut rng, cfg.solving.unsolvable_for(kind));
    (unsolvable, cfg.solving.time_for(kind).sample(&mut rng))
}

/// Why a task cannot be forced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForceError {
    /// No such task (never submitted, or expired).
    #[error("no such task")]
    NotFound,
    /// It has finished already: its result was out (polled, maybe delivered)
    /// and changing it now would make the API contradict itself.
    #[error("task has finished already")]
    Finished,
}

/// Why a pingback cannot be sent again by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FireError {
    /// No such task (never submitted, or expired).
    #[error("no such task")]
    NotFound,
    /// It was submitted without a pingback URL.
    #[error("task has no pingback URL")]
    NoPingback,
    /// It has no result to send yet.
    #[error("task is not finished")]
    NotFinished,
    /// The delivery queue is full.
    #[error("shed: the pingback queue is full (pingback.queue-capacity)")]
    Shed,
}

/// A forced result.
#[derive(Clone, Debug)]
pub enum ForceResult {
    /// Solved, with the task's own answer or this one.
    Solve(Option<String>),
    /// Failed with this code.
    Fail(Code),
}

fn unreachable_schedule(task_id: u64, ordinal: u64) -> Schedule {
    // Only used when a pingback URL exists without a compiled schedule, which
    // submit() never produces; a plain schedule keeps the type total.
    faults::compile(
        0,
        &[],
        &Default::default(),
        TaskFacts {
            task_id,
            ordinal,
            kind: TaskKind::Normal,
            url: "",
            method: CallbackMethod::Get,
        },
    )
}

/// The subject of a task's random streams (solve time, fate, answer, fault):
/// its position in the run, counted from the default first id. A run whose
/// ids start elsewhere (a harness giving each run unique ids) draws exactly
/// what a default run draws for the same submissions.
pub fn stream_subject(cfg: &Config, id: u64) -> u64 {
    id.wrapping_sub(cfg.first_task_id)
        .wrapping_add(crate::config::DEFAULT_FIRST_TASK_ID)
}

/// The host (and port) of a URL, or the string itself if it is not a URL.
pub fn host_of(addr: &str) -> &str {
    let rest = addr.split_once("://").map_or(addr, |(_, r)| r);
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    hostport.rsplit_once('@').map_or(hostport, |(_, h)| h)
}

/// Whether a registered pingback address covers a callback to `target` (`host:port`):
/// host names compare case-insensitively, and an address registered without a port (2captcha
/// documents registering a bare IP or domain) covers every port.
fn registration_covers(registered: &str, target: &str) -> bool {
    if registered.eq_ignore_ascii_case(target) {
        return true;
    }
    let (registered_host, registered_port) = split_port(registered);
    registered_port.is_none() && registered_host.eq_ignore_ascii_case(split_port(target).0)
}

/// `host:port` (or `[v6]:port`) into host and port; no port for a bare host or IPv6 address.
fn split_port(hostport: &str) -> (&str, Option<&str>) {
    match hostport.rsplit_once(':') {
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (hostport, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_covers_ports_and_case() {
        assert!(registration_covers("127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(registration_covers("127.0.0.1", "127.0.0.1:8080"));
        assert!(registration_covers("Example.COM", "example.com:443"));
        assert!(registration_covers("[::1]", "[::1]:9000"));
        assert!(!registration_covers("127.0.0.1:8080", "127.0.0.1:8081"));
        assert!(!registration_covers("127.0.0.2", "127.0.0.1:8080"));
        assert!(!registration_covers("example.com:80", "example.com"));
    }

    #[test]
    fn host_of_urls_and_bare_hosts() {
        assert_eq!(host_of("http://127.0.0.1:8080/hook?x=1"), "127.0.0.1:8080");
        assert_eq!(host_of("https://u:p@example.com/a"), "example.com");
        assert_eq!(host_of("example.com"), "example.com");
    }
}
