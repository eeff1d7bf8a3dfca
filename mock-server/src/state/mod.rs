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
//!
//! # Files
//!
//! A request meets them in this order:
//!
//! - [`admission`]: the key check and the rate-limit penalties every request passes first,
//!   and the transient API faults drawn per request;
//! - [`tasks`]: the task store: submit (its fate, schedule and thread), `get`, reports,
//!   expiry;
//! - [`accounts`]: per-account thread slots and the `queue` busy mode, balance, 2captcha's
//!   registered pingback hosts;
//! - [`finisher`]: the loop that hands finished tasks with a pingback to the dispatcher;
//! - [`control`]: what the admin API and tests steer: force a result, fire a pingback by
//!   hand, replace the fault rules;
//! - [`views`]: what inspection reads: tasks with their ground truth, the inbound journal.
//!
//! Everything lives behind one `Arc` ([`MockState`]); the world (tasks and accounts) behind
//! one mutex, held for a handful of steps per request and never across an `.await`.

mod accounts;
mod admission;
mod control;
mod finisher;
mod tasks;
mod views;

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, atomic::AtomicU64},
    time::Duration,
};

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[cfg(feature = "bench")]
pub(crate) use self::tasks::needs_conflicting_code;
use self::{accounts::Account, tasks::Task};
pub(crate) use self::{
    admission::{ApiFault, KeyCheck},
    control::ForceResult,
};
pub use self::{
    control::{FireError, ForceError},
    tasks::{Outcome, TaskState},
    views::{InboundRequest, TaskView},
};
use crate::{
    clock::{Clock, SimTime},
    config::{Config, DEFAULT_FIRST_TASK_ID},
    journal::Journal,
    limits::Limiter,
    model::TaskKind,
    pingback::{dispatcher::Dispatcher, faults::FaultRule},
    seed::{self, Stream},
};

/// Tasks and accounts: everything a request changes, behind one lock.
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

/// Running totals since start (or the last reset), as `/__admin/health` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Tasks accepted.
    pub submitted: u64,
    /// Submits rejected because every thread was busy.
    pub busy_rejections: u64,
    /// Tasks expired and forgotten.
    pub expired: u64,
}

/// Everything shared by handlers, the dispatcher and the admin API.
struct Inner {
    /// Fixed for the life of the state (`reset` goes back to it), so it is
    /// read without a lock: every request reads it.
    config: Arc<Config>,
    /// Account index by key, from the config; as fixed as the config, and
    /// read without the world lock by every request.
    keys: HashMap<String, u32>,
    rules: RwLock<Arc<Vec<FaultRule>>>,
    world: Mutex<World>,
    clock: Clock,
    inbound: Journal<InboundRequest>,
    dispatcher: Dispatcher,
    finish_notify: Notify,
    cancel: CancellationToken,
    api_requests: AtomicU64,
    /// Rate-limit counters (only touched when `[api.rate-limits]` is configured).
    limiter: Limiter,
    /// Where the server listens, once it is bound (the admin guard and the dispatcher's
    /// refusal to call the mock itself read it).
    listening: OnceLock<SocketAddr>,
}

/// A handle on one mock's state (cheap to clone).
#[derive(Clone)]
pub(crate) struct MockState(Arc<Inner>);

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
        .map(Account::new)
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

impl MockState {
    /// Builds the state for a validated config. Must be called inside a tokio runtime.
    pub(crate) fn new(config: Config, cancel: CancellationToken) -> Self {
        let clock = Clock::new(config.time_scale);
        let dispatcher = Dispatcher::new(
            &config.dispatcher_settings(),
            clock.clone(),
            cancel.child_token(),
        );
        let world = world_for(&config);
        let inner = Inner {
            rules: RwLock::new(Arc::new(config.pingback.rules.clone())),
            inbound: Journal::with_max_bytes(config.journal.capacity, config.journal.max_bytes),
            keys: keys_for(&world),
            config: Arc::new(config),
            world: Mutex::new(world),
            clock,
            dispatcher,
            finish_notify: Notify::new(),
            cancel,
            api_requests: AtomicU64::new(0),
            limiter: Limiter::default(),
            listening: OnceLock::new(),
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
    pub(crate) fn config(&self) -> Arc<Config> {
        self.0.config.clone()
    }

    /// The clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Records where the server listens (once bound; later calls change nothing).
    pub(crate) fn set_listening(&self, addr: SocketAddr) {
        let _ = self.0.listening.set(addr);
        self.0.dispatcher.set_own_address(addr);
    }

    /// Where the server listens, once known.
    pub(crate) fn listening(&self) -> Option<SocketAddr> {
        self.0.listening.get().copied()
    }

    /// Fires when the mock stops: long-lived responses (the dashboard's event stream) end.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.0.cancel
    }

    /// The pingback dispatcher.
    pub(crate) fn dispatcher(&self) -> &Dispatcher {
        &self.0.dispatcher
    }

    /// Simulated time since start.
    pub(crate) fn now(&self) -> Duration {
        self.0.clock.now().as_duration()
    }

    /// The API keys in effect (the first is the default).
    pub(crate) fn keys(&self) -> Vec<String> {
        self.world()
            .accounts
            .iter()
            .map(|a| a.key.clone())
            .collect()
    }

    /// Back to the state at start-up: no tasks, empty journals, ids and
    /// ordinals from the start, fault rules from the config, pending
    /// deliveries cancelled.
    pub(crate) fn reset(&self) {
        let cfg = &*self.0.config;
        *self.world() = world_for(cfg);
        self.0
            .api_requests
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.set_rules(cfg.pingback.rules.clone());
        self.0.inbound.clear();
        self.0.limiter.clear();
        self.0.dispatcher.reset();
        self.0.dispatcher.telemetry().reset_seen();
        self.0.finish_notify.notify_one();
    }

    /// Running totals.
    pub(crate) fn counters(&self) -> Counters {
        self.world().counters
    }

    /// Number of stored tasks.
    pub(crate) fn task_count(&self) -> usize {
        self.world().tasks.len()
    }
}

/// A task's fate and solve time, from its own stream (the same on every draw).
fn fate(cfg: &Config, id: u64, kind: TaskKind) -> (bool, Option<Duration>) {
    let mut rng = seed::stream(cfg.seed, Stream::Solve, stream_subject(cfg, id));
    let unsolvable = seed::chance(&mut rng, cfg.solving.unsolvable_for(kind));
    (unsolvable, cfg.solving.time_for(kind).sample(&mut rng))
}

/// The subject of a task's random streams (solve time, fate, answer, fault):
/// its position in the run, counted from the default first id. A run whose
/// ids start elsewhere (a harness giving each run unique ids) draws exactly
/// what a default run draws for the same submissions.
pub(crate) fn stream_subject(cfg: &Config, id: u64) -> u64 {
    id.wrapping_sub(cfg.first_task_id)
        .wrapping_add(DEFAULT_FIRST_TASK_ID)
}
