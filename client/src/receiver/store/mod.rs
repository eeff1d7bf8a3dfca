//! [`ResultStore`]: the idempotent, bounded store pingbacks and polls write results into.
//!
//! Rules, each fixing a bug of the tutorial's Python receiver:
//!
//! - **first result wins**: a second result for the same task never replaces the first; an
//!   identical one is a [`StoreEvent::Duplicate`], a different one a [`StoreEvent::Conflict`]
//!   (logged with `tracing::warn!` and counted);
//! - **early results are kept**: a result for a task nobody registered yet is stored and found
//!   by a later [`ResultStore::wait`] or [`ResultStore::get`];
//! - **`wait` works for any id**: it registers the id and waits, instead of returning nothing
//!   for an id that was not registered;
//! - **bounded memory**: entries expire `ttl` after their last change (a pending entry with
//!   a waiter is kept until the waiter gives up). When `capacity` is reached, the oldest
//!   result nobody registered goes first, then the oldest entry nobody is waiting on; a
//!   pending entry with a waiter is never evicted, so a flood of forged or unexpected
//!   callbacks cannot make a solve fail before its deadline.
//!
//! Every change is published as a [`StoreEvent`] (broadcast channel and synchronous
//! observers) so a harness can record what the receiver did.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt as _};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

mod event;
mod result;

pub use event::{StoreEvent, StoreStats};
pub use result::{Recorded, ResultSource, TaskResult};

use crate::error::Error;
use crate::receiver::RejectReason;
use crate::solution::Solution;
use crate::task_id::TaskId;

/// Limits of a [`ResultStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// How long an entry lives after its last change (default 10 minutes).
    pub ttl: Duration,
    /// How many entries the store holds at most (default 10 000). When full, the oldest
    /// result nobody registered is evicted first, then the oldest entry nobody is waiting
    /// on. Pending entries with a waiter are never evicted, so the store can exceed its
    /// capacity by the number of tasks awaited at once beyond it (plus one).
    pub capacity: usize,
    /// Buffer of the event and result broadcast channels (default 1024); a slower subscriber
    /// misses the oldest items (a `tracing` warning says how many).
    pub channel_capacity: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            ttl: Duration::from_secs(600),
            capacity: 10_000,
            channel_capacity: 1024,
        }
    }
}

type Observer = Arc<dyn Fn(&StoreEvent) + Send + Sync>;

/// The idempotent result store shared by the receiver, the solver and the application.
///
/// Cheap to clone (an `Arc` inside). All timing uses `tokio::time`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use captchaai_client::TaskId;
/// use captchaai_client::receiver::{ResultSource, ResultStore, Recorded};
///
/// let store = ResultStore::new();
/// let id = TaskId::new(42);
/// // A pingback that arrives before anyone registered the task is kept...
/// store.record(id, "03Atoken", ResultSource::Pingback).unwrap();
/// // ...and found by a later wait.
/// let result = store.wait(id, Duration::from_secs(1)).await.unwrap();
/// assert_eq!(result.code(), "03Atoken");
/// // A conflicting duplicate is ignored: the first result wins.
/// let again = store.record(id, "other", ResultSource::Pingback).unwrap();
/// assert!(matches!(again, Recorded::Conflict { .. }));
/// assert_eq!(store.get(id).unwrap().code(), "03Atoken");
/// # }
/// ```
#[derive(Clone)]
pub struct ResultStore {
    shared: Arc<Shared>,
}

struct Shared {
    config: StoreConfig,
    state: Mutex<State>,
    results: broadcast::Sender<TaskResult>,
    events: broadcast::Sender<StoreEvent>,
    observers: RwLock<Vec<Observer>>,
}

#[derive(Default)]
struct State {
    entries: HashMap<TaskId, Entry>,
    /// (last change, id, generation), oldest first; stale items are skipped.
    order: VecDeque<(Instant, TaskId, u64)>,
    /// (id, creation serial) of entries created by a result for an unregistered id, oldest
    /// first: the first to go when the store is full. Stale items are skipped.
    orphans: VecDeque<(TaskId, u64)>,
    next_generation: u64,
    stats: StoreStats,
}

struct Entry {
    registered: bool,
    result: Option<TaskResult>,
    /// Changes with every touch (matches the live item of `order`).
    generation: u64,
    /// Set once, at insertion (matches the item of `orphans`).
    created: u64,
    changed: Instant,
    tx: watch::Sender<Option<TaskResult>>,
}

impl Entry {
    /// A pending entry somebody is waiting on: never evicted, and kept past the ttl until
    /// the waiter's own deadline.
    fn awaited(&self) -> bool {
        self.result.is_none() && self.tx.receiver_count() > 0
    }
}

impl fmt::Debug for ResultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultStore")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for ResultStore {
    fn default() -> Self {
        ResultStore::new()
    }
}

impl ResultStore {
    /// A store with the default limits.
    pub fn new() -> Self {
        ResultStore::with_config(StoreConfig::default())
    }

    /// A store with these limits (a zero capacity or channel capacity counts as one).
    pub fn with_config(config: StoreConfig) -> Self {
        let config = StoreConfig {
            capacity: config.capacity.max(1),
            channel_capacity: config.channel_capacity.max(1),
            ..config
        };
        let (results, _) = broadcast::channel(config.channel_capacity);
        let (events, _) = broadcast::channel(config.channel_capacity);
        ResultStore {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State::default()),
                results,
                events,
                observers: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The limits.
    pub fn config(&self) -> StoreConfig {
        self.shared.config
    }

    /// Registers a task id: the receiver's registered-only mode then accepts its callbacks.
    /// Returns false when it was registered already. A result that arrived earlier stays.
    pub fn register(&self, task_id: TaskId) -> bool {
        let (newly, events) = {
            let mut state = self.lock();
            let mut events = self.purge(&mut state);
            let newly = self.register_locked(&mut state, task_id, &mut events);
            (newly, events)
        };
        self.emit(events);
        newly
    }

    /// True when the id was registered (and has not expired).
    pub fn is_registered(&self, task_id: TaskId) -> bool {
        let now = Instant::now();
        let state = self.lock();
        state
            .entries
            .get(&task_id)
            .is_some_and(|e| e.registered && !self.expired(e, now))
    }

    /// The result of a task, if any (non-blocking).
    pub fn get(&self, task_id: TaskId) -> Option<TaskResult> {
        let now = Instant::now();
        let state = self.lock();
        let entry = state.entries.get(&task_id)?;
        if self.expired(entry, now) {
            return None;
        }
        entry.result.clone()
    }

    /// Records a result: the answer, or an `ERROR_...` code for a failed task.
    ///
    /// Fails with [`crate::ErrorKind::BadInput`] for an empty code, leaving the store untouched.
    pub fn record(
        &self,
        task_id: TaskId,
        code: impl Into<String>,
        source: ResultSource,
    ) -> Result<Recorded, Error> {
        let code = code.into();
        if code.is_empty() {
            return Err(Error::bad_input("a result code must not be empty"));
        }
        Ok(self.record_unchecked(task_id, code, source, None))
    }

    /// Records a polled solution (its raw answer is the code), so that a later pingback for
    /// the same task is a duplicate and changes nothing.
    pub fn record_solution(&self, solution: &Solution) -> Recorded {
        self.record_unchecked(
            solution.task_id(),
            solution.raw().to_owned(),
            ResultSource::Poll,
            Some(solution.clone()),
        )
    }

    /// Records that polling reported the task failed with `code` (e.g.
    /// `ERROR_CAPTCHA_UNSOLVABLE`), as a pingback would.
    pub fn record_failure(&self, task_id: TaskId, code: &str) -> Result<Recorded, Error> {
        self.record(task_id, code, ResultSource::Poll)
    }

    /// Waits for the result of a task for at most `timeout`. The id is registered first, so
    /// this works whether the result arrived before, arrives during, or never arrives
    /// ([`crate::ErrorKind::Timeout`]).
    pub async fn wait(&self, task_id: TaskId, timeout: Duration) -> Result<TaskResult, Error> {
        self.wait_until(task_id, Instant::now() + timeout).await
    }

    /// As [`ResultStore::wait`], with an absolute deadline.
    pub async fn wait_until(
        &self,
        task_id: TaskId,
        deadline: Instant,
    ) -> Result<TaskResult, Error> {
        let (found, mut rx, events) = {
            let mut state = self.lock();
            let mut events = self.purge(&mut state);
            self.register_locked(&mut state, task_id, &mut events);
            match state.entries.get(&task_id) {
                Some(entry) => (entry.result.clone(), Some(entry.tx.subscribe()), events),
                None => (None, None, events),
            }
        };
        self.emit(events);
        if let Some(result) = found {
            return Ok(result);
        }
        let Some(rx) = rx.as_mut() else {
            return Err(Error::timeout(format!(
                "task {task_id} could not be registered"
            )));
        };
        match tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some)).await {
            Ok(Ok(value)) => value
                .clone()
                .ok_or_else(|| Error::timeout(format!("no result for task {task_id}"))),
            Ok(Err(_closed)) => Err(Error::timeout(format!(
                "task {task_id} left the result store (ttl or capacity) before a result arrived"
            ))),
            Err(_elapsed) => Err(Error::timeout(format!(
                "no result for task {task_id} before the deadline"
            ))),
        }
    }

    /// A stream of first results, as they are stored (duplicates and conflicts are not
    /// repeated). Only results stored after the call are seen.
    pub fn subscribe(&self) -> BoxStream<'static, TaskResult> {
        let rx = self.shared.results.subscribe();
        futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(result) => return Some((result, rx)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "result subscriber lagged behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    /// A receiver of every [`StoreEvent`] from now on.
    pub fn events(&self) -> broadcast::Receiver<StoreEvent> {
        self.shared.events.subscribe()
    }

    /// Calls `observer` synchronously for every event from now on, after the store's lock is
    /// released (so it may call back into the store). Events of one task are observed in
    /// order; events of different tasks recorded concurrently from several threads may
    /// interleave.
    pub fn on_event(&self, observer: impl Fn(&StoreEvent) + Send + Sync + 'static) {
        self.shared
            .observers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::new(observer));
    }

    /// Reports a callback the receiver refused (counted and published; the store is
    /// otherwise untouched).
    pub fn report_rejected(&self, task_id: Option<TaskId>, reason: RejectReason) {
        self.lock().stats.rejected += 1;
        self.emit(vec![StoreEvent::Rejected { task_id, reason }]);
    }

    /// The counters.
    pub fn stats(&self) -> StoreStats {
        self.lock().stats
    }

    /// How many entries (registered ids and results) the store holds.
    pub fn len(&self) -> usize {
        let mut state = self.lock();
        let events = self.purge(&mut state);
        let len = state.entries.len();
        drop(state);
        self.emit(events);
        len
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a result whatever the registration state.
    fn record_unchecked(
        &self,
        task_id: TaskId,
        code: String,
        source: ResultSource,
        solution: Option<Solution>,
    ) -> Recorded {
        let (recorded, events) = {
            let mut state = self.lock();
            let mut events = self.purge(&mut state);
            let recorded =
                self.record_locked(&mut state, task_id, code, source, solution, &mut events);
            (recorded, events)
        };
        self.emit(events);
        recorded
    }

    /// Records a result only when the task is registered (`None`: state untouched).
    pub(crate) fn record_if_registered(
        &self,
        task_id: TaskId,
        code: String,
        source: ResultSource,
    ) -> Option<Recorded> {
        let (recorded, events) = {
            let mut state = self.lock();
            let mut events = self.purge(&mut state);
            if !state.entries.get(&task_id).is_some_and(|e| e.registered) {
                drop(state);
                self.emit(events);
                return None;
            }
            let recorded = self.record_locked(&mut state, task_id, code, source, None, &mut events);
            (recorded, events)
        };
        self.emit(events);
        Some(recorded)
    }

    /// Records into the locked state: first result wins.
    fn record_locked(
        &self,
        state: &mut State,
        task_id: TaskId,
        code: String,
        source: ResultSource,
        solution: Option<Solution>,
        events: &mut Vec<StoreEvent>,
    ) -> Recorded {
        let existing = state.entries.get(&task_id).and_then(|e| e.result.clone());
        match existing {
            Some(kept) if kept.code() == code => {
                state.stats.duplicates += 1;
                events.push(StoreEvent::Duplicate { task_id, source });
                Recorded::Duplicate(kept)
            }
            Some(kept) => {
                state.stats.conflicts += 1;
                tracing::warn!(
                    %task_id,
                    ?source,
                    kept_len = kept.code().len(),
                    rejected_len = code.len(),
                    "conflicting result ignored: the first result wins"
                );
                events.push(StoreEvent::Conflict {
                    task_id,
                    kept: kept.code().to_owned(),
                    rejected: code.clone(),
                    source,
                });
                Recorded::Conflict {
                    kept,
                    rejected: code,
                }
            }
            None => {
                let result = TaskResult::new(task_id, code, source, solution);
                if !state.entries.contains_key(&task_id) {
                    self.insert_locked(state, task_id, false, events);
                }
                self.touch_locked(state, task_id);
                if let Some(entry) = state.entries.get_mut(&task_id) {
                    entry.result = Some(result.clone());
                    entry.tx.send_replace(Some(result.clone()));
                }
                state.stats.stored += 1;
                events.push(StoreEvent::Stored(result.clone()));
                // No subscriber is not an error.
                let _ = self.shared.results.send(result.clone());
                Recorded::Stored(result)
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // breaks the invariants checked here, so a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register_locked(
        &self,
        state: &mut State,
        task_id: TaskId,
        events: &mut Vec<StoreEvent>,
    ) -> bool {
        let newly = match state.entries.get_mut(&task_id) {
            Some(entry) if entry.registered => false,
            Some(entry) => {
                entry.registered = true;
                true
            }
            None => {
                self.insert_locked(state, task_id, true, events);
                true
            }
        };
        if newly {
            state.stats.registered += 1;
            events.push(StoreEvent::Registered { task_id });
        }
        newly
    }

    /// Inserts an empty entry, evicting others when full (see [`StoreConfig::capacity`]).
    fn insert_locked(
        &self,
        state: &mut State,
        task_id: TaskId,
        registered: bool,
        events: &mut Vec<StoreEvent>,
    ) {
        while state.entries.len() >= self.shared.config.capacity {
            if !self.evict_one_locked(state, events) {
                // Every entry is awaited: their waiters' deadlines bound them.
                break;
            }
        }
        let generation = self.touch_locked(state, task_id);
        if !registered {
            state.orphans.push_back((task_id, generation));
        }
        let (tx, _) = watch::channel(None);
        state.entries.insert(
            task_id,
            Entry {
                registered,
                result: None,
                generation,
                created: generation,
                changed: Instant::now(),
                tx,
            },
        );
    }

    /// Evicts the oldest result nobody registered, else the oldest entry nobody is waiting
    /// on. False when every entry is awaited.
    fn evict_one_locked(&self, state: &mut State, events: &mut Vec<StoreEvent>) -> bool {
        while let Some((id, created)) = state.orphans.pop_front() {
            let orphan = state
                .entries
                .get(&id)
                .is_some_and(|e| e.created == created && !e.registered && !e.awaited());
            if orphan {
                self.evict_locked(state, id, events);
                return true;
            }
        }
        let mut spared = Vec::new();
        let mut evicted = false;
        while let Some((changed, id, generation)) = state.order.pop_front() {
            let Some(entry) = state.entries.get(&id) else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            if entry.awaited() {
                spared.push((changed, id, generation));
                continue;
            }
            self.evict_locked(state, id, events);
            evicted = true;
            break;
        }
        // The spared entries keep their place (oldest first) for the ttl.
        for item in spared.into_iter().rev() {
            state.order.push_front(item);
        }
        evicted
    }

    /// Marks the entry changed now; returns its new generation.
    fn touch_locked(&self, state: &mut State, task_id: TaskId) -> u64 {
        state.next_generation += 1;
        let generation = state.next_generation;
        let now = Instant::now();
        state.order.push_back((now, task_id, generation));
        if let Some(entry) = state.entries.get_mut(&task_id) {
            entry.generation = generation;
            entry.changed = now;
        }
        generation
    }

    fn evict_locked(&self, state: &mut State, task_id: TaskId, events: &mut Vec<StoreEvent>) {
        if let Some(entry) = state.entries.remove(&task_id) {
            state.stats.evicted += 1;
            events.push(StoreEvent::Evicted {
                task_id,
                had_result: entry.result.is_some(),
            });
        }
    }

    /// Drops expired entries and stale order items.
    fn purge(&self, state: &mut State) -> Vec<StoreEvent> {
        let mut events = Vec::new();
        let now = Instant::now();
        while let Some(&(changed, id, generation)) = state.order.front() {
            let live = state
                .entries
                .get(&id)
                .is_some_and(|e| e.generation == generation);
            if !live {
                state.order.pop_front();
            } else if changed + self.shared.config.ttl <= now {
                state.order.pop_front();
                // A pending entry somebody is waiting on outlives the ttl: the
                // waiter's own deadline bounds it.
                if state.entries.get(&id).is_some_and(Entry::awaited) {
                    self.touch_locked(state, id);
                } else {
                    self.evict_locked(state, id, &mut events);
                }
            } else {
                break;
            }
        }
        while let Some(&(id, created)) = state.orphans.front() {
            let live = state
                .entries
                .get(&id)
                .is_some_and(|e| e.created == created && !e.registered);
            if live {
                break;
            }
            state.orphans.pop_front();
        }
        events
    }

    /// True when the entry's last change is older than the ttl (not purged yet).
    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        entry.changed + self.shared.config.ttl <= now
    }

    fn emit(&self, events: Vec<StoreEvent>) {
        if events.is_empty() {
            return;
        }
        let observers: Vec<Observer> = self
            .shared
            .observers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for event in events {
            for observer in &observers {
                observer(&event);
            }
            // No subscriber is not an error.
            let _ = self.shared.events.send(event);
        }
    }
}

#[cfg(test)]
mod model_tests;
