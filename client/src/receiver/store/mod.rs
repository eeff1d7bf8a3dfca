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
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`ResultStore`]: the lock, first-result-wins outcomes turned into events and counters, waiting |
//! | `memory.rs` | the state: entries, ttl, and the eviction order (O(1) amortised per operation whatever the mix of awaited, registered and unregistered entries) |
//! | `slot.rs` | what the waiters of one task share |
//! | `result.rs` | [`TaskResult`], [`ResultSource`], [`Recorded`] |
//! | `event.rs` | [`StoreEvent`], [`StoreStats`] |

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt as _};
use tokio::sync::broadcast;
use tokio::time::Instant;

mod event;
mod memory;
mod result;
mod slot;

pub use event::{StoreEvent, StoreStats};
pub use result::{Recorded, ResultSource, TaskResult};

use crate::error::Error;
use crate::receiver::RejectReason;
use crate::solution::Solution;
use crate::task_id::TaskId;

use memory::{Memory, WaitStart};

/// Limits of a [`ResultStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// How long an entry lives after its last change (default 10 minutes).
    pub ttl: Duration,
    /// How many entries the store holds at most (default 10 000). When full, the oldest
    /// result nobody registered is evicted first, then the oldest entry nobody is waiting
    /// on. Pending entries with a waiter are never evicted, so the store can exceed its
    /// capacity by the number of tasks awaited at once beyond it (plus one).
    ///
    /// Memory follows the entries held, not the capacity: a large capacity costs nothing
    /// until it is used, and each operation costs the same at any size (`benches/store.rs`).
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

struct State {
    memory: Memory,
    stats: StoreStats,
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
        let memory = Memory::new(config.ttl, config.capacity);
        ResultStore {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State {
                    memory,
                    stats: StoreStats::default(),
                }),
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
        self.update(|memory, now, events| register(memory, task_id, now, events))
    }

    /// True when the id was registered (and has not expired).
    pub fn is_registered(&self, task_id: TaskId) -> bool {
        let now = Instant::now();
        self.lock().memory.is_registered(task_id, now)
    }

    /// The result of a task, if any (non-blocking).
    pub fn get(&self, task_id: TaskId) -> Option<TaskResult> {
        let now = Instant::now();
        self.lock().memory.get(task_id, now).cloned()
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
        Ok(self.record_unchecked(TaskResult::new(task_id, code, source, None)))
    }

    /// Records a polled solution (its raw answer is the code), so that a later pingback for
    /// the same task is a duplicate and changes nothing.
    pub fn record_solution(&self, solution: &Solution) -> Recorded {
        self.record_unchecked(TaskResult::new(
            solution.task_id(),
            solution.raw().to_owned(),
            ResultSource::Poll,
            Some(solution.clone()),
        ))
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
        let start = self.update(|memory, now, events| {
            register(memory, task_id, now, events);
            memory.start_wait(task_id)
        });
        let (slot, created) = match start {
            Some(WaitStart::Ready(result)) => return Ok(result),
            Some(WaitStart::Pending { slot, created }) => (slot, created),
            None => {
                return Err(Error::timeout(format!(
                    "task {task_id} could not be registered"
                )));
            }
        };
        // Ends the wait however this future ends (result, deadline, or dropped).
        let _waiting = Waiting {
            store: self,
            task_id,
            created,
        };
        // An awaited entry never leaves the store (its ttl is renewed, capacity spares it),
        // so the deadline is the only other way out.
        tokio::time::timeout_at(deadline, slot.wait())
            .await
            .map_err(|_elapsed| {
                Error::timeout(format!("no result for task {task_id} before the deadline"))
            })
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
        let events = vec![StoreEvent::Rejected { task_id, reason }];
        self.lock().stats.count(&events);
        self.emit(events);
    }

    /// The counters.
    pub fn stats(&self) -> StoreStats {
        self.lock().stats
    }

    /// How many entries (registered ids and results) the store holds.
    pub fn len(&self) -> usize {
        self.update(|memory, _, _| memory.len())
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a result only when the task is registered (`None`: state untouched).
    pub(crate) fn record_if_registered(
        &self,
        task_id: TaskId,
        code: String,
        source: ResultSource,
    ) -> Option<Recorded> {
        let result = TaskResult::new(task_id, code, source, None);
        self.update(|memory, now, events| self.record_in(memory, result, true, now, events))
    }

    /// Records a result whatever the registration state.
    fn record_unchecked(&self, result: TaskResult) -> Recorded {
        self.update(|memory, now, events| self.record_in(memory, result, false, now, events))
            .expect("recording without the registered-only check always records")
    }

    /// First result wins: stores it, or reports the duplicate or conflict.
    fn record_in(
        &self,
        memory: &mut Memory,
        result: TaskResult,
        registered_only: bool,
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) -> Option<Recorded> {
        let (task_id, source) = (result.task_id(), result.source());
        let recorded = memory.record(result, registered_only, now, events)?;
        match &recorded {
            Recorded::Stored(result) => {
                events.push(StoreEvent::Stored(result.clone()));
                // No subscriber is not an error.
                let _ = self.shared.results.send(result.clone());
            }
            Recorded::Duplicate(_) => events.push(StoreEvent::Duplicate { task_id, source }),
            Recorded::Conflict { kept, rejected } => {
                tracing::warn!(
                    %task_id,
                    ?source,
                    kept_len = kept.code().len(),
                    rejected_len = rejected.len(),
                    "conflicting result ignored: the first result wins"
                );
                events.push(StoreEvent::Conflict {
                    task_id,
                    kept: kept.code().to_owned(),
                    rejected: rejected.clone(),
                    source,
                });
            }
        }
        Some(recorded)
    }

    /// Runs `op` on the state after expiring what is due, counts the events, and publishes
    /// them once the lock is released.
    fn update<R>(&self, op: impl FnOnce(&mut Memory, Instant, &mut Vec<StoreEvent>) -> R) -> R {
        let now = Instant::now();
        let mut events = Vec::new();
        let out = {
            let mut state = self.lock();
            state.memory.purge(now, &mut events);
            let out = op(&mut state.memory, now, &mut events);
            state.stats.count(&events);
            out
        };
        self.emit(events);
        out
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // breaks the invariants checked here, so a poisoned lock is still usable.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// Registers an id, publishing [`StoreEvent::Registered`] when it is new.
fn register(
    memory: &mut Memory,
    task_id: TaskId,
    now: Instant,
    events: &mut Vec<StoreEvent>,
) -> bool {
    let newly = memory.register(task_id, now, events);
    if newly {
        events.push(StoreEvent::Registered { task_id });
    }
    newly
}

/// A wait in progress: dropping it ends the wait in the store.
struct Waiting<'a> {
    store: &'a ResultStore,
    task_id: TaskId,
    created: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.store
            .lock()
            .memory
            .end_wait(self.task_id, self.created);
    }
}

#[cfg(test)]
mod model_tests;
