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
//! # Backends
//!
//! The rules above hold over either backend, and the same tests check both:
//!
//! - **memory** ([`ResultStore::new`], [`ResultStore::with_config`]): one process. Its
//!   operations never wait, so they run under tokio's paused clock.
//! - **Redis** ([`ResultStore::with_redis`], feature `redis`, on by default): the state of
//!   every replica of a receiver, in one Redis. First result wins across replicas (one Lua
//!   script per operation), a `wait` on one replica is woken by a result stored through
//!   another, and every key has a ttl. The key layout, and what differs, is in
//!   [`RedisConfig`].
//!
//! Every operation is `async` and fallible for that reason: when Redis cannot be reached, it
//! fails with [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) and has
//! changed nothing (the receiver answers such a callback `503`, so the sender retries).
//!
//! Events, counters and the [`ResultStore::subscribe`] stream describe what *this* store
//! value did: with Redis, the operations of this replica (a conflict detected by the script
//! on this replica is reported here; an entry Redis expires on its own is not reported).
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`ResultStore`]: what a backend answers turned into events, counters and results; waiting |
//! | `backend.rs` | the `Backend` trait: the state and the rules that need it in one step |
//! | `memory.rs` | the in-memory state: entries, ttl, and the eviction order (O(1) amortised per operation whatever the mix of awaited, registered and unregistered entries); reads no clock |
//! | `memory_backend.rs` | that state behind a lock, on tokio's clock |
//! | `redis/` | the Redis backend: configuration and key layout, the Lua script, wake-ups over pub/sub |
//! | `slot.rs` | what the waiters of one task share |
//! | `result.rs` | [`TaskResult`], [`ResultSource`], [`Recorded`] |
//! | `event.rs` | [`StoreEvent`], [`StoreStats`] |

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt as _};
use tokio::sync::broadcast;
use tokio::time::Instant;

mod backend;
mod event;
mod memory;
mod memory_backend;
#[cfg(feature = "redis")]
mod redis;
mod result;
mod slot;

pub use event::{StoreEvent, StoreStats};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_REDIS_KEY_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisConfig};
pub use result::{Recorded, ResultSource, TaskResult};

use crate::error::Error;
use crate::receiver::RejectReason;
use crate::solution::Solution;
use crate::task_id::TaskId;

use backend::{Backend, Change, StartedWait, Waited};
use memory_backend::MemoryBackend;

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
/// # async fn main() -> Result<(), captchaai_client::Error> {
/// use std::time::Duration;
/// use captchaai_client::TaskId;
/// use captchaai_client::receiver::{ResultSource, ResultStore, Recorded};
///
/// let store = ResultStore::new();
/// let id = TaskId::new(42);
/// // A pingback that arrives before anyone registered the task is kept...
/// store.record(id, "03Atoken", ResultSource::Pingback).await?;
/// // ...and found by a later wait.
/// let result = store.wait(id, Duration::from_secs(1)).await?;
/// assert_eq!(result.code(), "03Atoken");
/// // A conflicting duplicate is ignored: the first result wins.
/// let again = store.record(id, "other", ResultSource::Pingback).await?;
/// assert!(matches!(again, Recorded::Conflict { .. }));
/// assert_eq!(store.get(id).await?.unwrap().code(), "03Atoken");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ResultStore {
    shared: Arc<Shared>,
}

struct Shared {
    config: StoreConfig,
    backend: Box<dyn Backend>,
    stats: Mutex<StoreStats>,
    results: broadcast::Sender<TaskResult>,
    events: broadcast::Sender<StoreEvent>,
    observers: RwLock<Vec<Observer>>,
}

impl fmt::Debug for ResultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultStore")
            .field("backend", &self.backend_name())
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
    /// An in-memory store with the default limits.
    pub fn new() -> Self {
        ResultStore::with_config(StoreConfig::default())
    }

    /// An in-memory store with these limits (a zero capacity or channel capacity counts as
    /// one).
    pub fn with_config(config: StoreConfig) -> Self {
        let config = normalized(config);
        let backend = MemoryBackend::new(config.ttl, config.capacity);
        ResultStore::with_backend(config, Box::new(backend))
    }

    /// A store whose state lives in Redis, shared with every other store on the same Redis
    /// and key prefix (the replicas of one receiver). Nothing is sent to Redis yet: a Redis
    /// that is down now makes the first operations fail with
    /// [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) (and
    /// [`ResultStore::health`] say why) until it is back. Needs a Tokio runtime.
    ///
    /// The limits apply to the shared state: `capacity` entries across all replicas.
    /// `ttl` is counted by Redis's clock, not tokio's. See [`RedisConfig`] for the key
    /// layout and what Redis needs.
    #[cfg(feature = "redis")]
    pub async fn with_redis(redis: RedisConfig, config: StoreConfig) -> Result<Self, Error> {
        let config = normalized(config);
        let backend = redis::RedisBackend::new(redis, config.ttl, config.capacity)?;
        Ok(ResultStore::with_backend(config, Box::new(backend)))
    }

    fn with_backend(config: StoreConfig, backend: Box<dyn Backend>) -> Self {
        let (results, _) = broadcast::channel(config.channel_capacity);
        let (events, _) = broadcast::channel(config.channel_capacity);
        ResultStore {
            shared: Arc::new(Shared {
                config,
                backend,
                stats: Mutex::new(StoreStats::default()),
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

    /// Where the state lives: `"memory"` or `"redis"`.
    pub fn backend_name(&self) -> &'static str {
        self.shared.backend.name()
    }

    /// Ok when the store can serve; otherwise the error says why (for a health endpoint).
    pub async fn health(&self) -> Result<(), Error> {
        self.shared.backend.health().await
    }

    /// Registers a task id: the receiver's registered-only mode then accepts its callbacks.
    /// Returns false when it was registered already. A result that arrived earlier stays.
    pub async fn register(&self, task_id: TaskId) -> Result<bool, Error> {
        let Change {
            value: newly,
            mut evicted,
        } = self.shared.backend.register(task_id).await?;
        if newly {
            evicted.push(StoreEvent::Registered { task_id });
        }
        self.publish(evicted);
        Ok(newly)
    }

    /// True when the id was registered (and has not expired).
    pub async fn is_registered(&self, task_id: TaskId) -> Result<bool, Error> {
        self.shared.backend.is_registered(task_id).await
    }

    /// The result of a task, if any (without waiting for one).
    pub async fn get(&self, task_id: TaskId) -> Result<Option<TaskResult>, Error> {
        self.shared.backend.get(task_id).await
    }

    /// Records a result: the answer, or an `ERROR_...` code for a failed task.
    ///
    /// Fails with [`crate::ErrorKind::BadInput`] for an empty code, leaving the store untouched.
    pub async fn record(
        &self,
        task_id: TaskId,
        code: impl Into<String>,
        source: ResultSource,
    ) -> Result<Recorded, Error> {
        let code = code.into();
        if code.is_empty() {
            return Err(Error::bad_input("a result code must not be empty"));
        }
        self.record_unchecked(TaskResult::new(task_id, code, source, None))
            .await
    }

    /// Records a polled solution (its raw answer is the code), so that a later pingback for
    /// the same task is a duplicate and changes nothing.
    ///
    /// The result this returns carries the solution when it is the one stored. With Redis,
    /// the result read back later (by [`ResultStore::get`] or [`ResultStore::wait`], here or
    /// on another replica) carries the code only: [`TaskResult::to_solution`] rebuilds the
    /// answer from it, without the poll's extra fields (such as a user agent).
    pub async fn record_solution(&self, solution: &Solution) -> Result<Recorded, Error> {
        self.record_unchecked(TaskResult::new(
            solution.task_id(),
            solution.raw().to_owned(),
            ResultSource::Poll,
            Some(solution.clone()),
        ))
        .await
    }

    /// Records that polling reported the task failed with `code` (e.g.
    /// `ERROR_CAPTCHA_UNSOLVABLE`), as a pingback would.
    pub async fn record_failure(&self, task_id: TaskId, code: &str) -> Result<Recorded, Error> {
        self.record(task_id, code, ResultSource::Poll).await
    }

    /// Waits for the result of a task for at most `timeout`. The id is registered first, so
    /// this works whether the result arrived before, arrives during, or never arrives
    /// ([`crate::ErrorKind::Timeout`]).
    pub async fn wait(&self, task_id: TaskId, timeout: Duration) -> Result<TaskResult, Error> {
        self.wait_until(task_id, deadline_after(timeout)).await
    }

    /// As [`ResultStore::wait`], with an absolute deadline.
    ///
    /// With Redis, a result stored through any replica ends the wait; a wait that started
    /// fails at once when Redis cannot be reached, and a wait in progress survives a Redis
    /// restart (it checks for a result stored while it could not listen).
    pub async fn wait_until(
        &self,
        task_id: TaskId,
        deadline: Instant,
    ) -> Result<TaskResult, Error> {
        let Change {
            value:
                StartedWait {
                    newly_registered,
                    waited,
                },
            mut evicted,
        } = self.shared.backend.start_wait(task_id, deadline).await?;
        if newly_registered {
            evicted.push(StoreEvent::Registered { task_id });
        }
        self.publish(evicted);
        let (slot, _guard) = match waited {
            Waited::Ready(result) => return Ok(result),
            Waited::Pending { slot, guard } => (slot, guard),
        };
        // An awaited entry never leaves the store before the deadline (its ttl is renewed,
        // capacity spares it), so the deadline is the only other way out. `_guard` ends the
        // wait in the backend however this future ends.
        tokio::time::timeout_at(deadline, slot.wait())
            .await
            .map_err(|_elapsed| {
                Error::timeout(format!("no result for task {task_id} before the deadline"))
            })
    }

    /// A stream of first results, as they are stored through this store (duplicates and
    /// conflicts are not repeated). Only results stored after the call are seen.
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

    /// Calls `observer` synchronously for every event from now on, once the operation that
    /// caused it is done (so it may call back into the store). Events of one task are
    /// observed in order; events of different tasks recorded concurrently from several
    /// threads may interleave.
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
        self.publish(vec![StoreEvent::Rejected { task_id, reason }]);
    }

    /// The counters of this store's events. An event is counted when the call that caused it
    /// returns, so a waiter woken by a result may see the counters a moment before they
    /// include it; after the receiver has stopped (every callback answered) they are final.
    pub fn stats(&self) -> StoreStats {
        *self
            .shared
            .stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many entries (registered ids and results) the store holds.
    pub async fn len(&self) -> Result<usize, Error> {
        let Change { value, evicted } = self.shared.backend.len().await?;
        self.publish(evicted);
        Ok(value)
    }

    /// True when the store holds nothing.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len().await? == 0)
    }

    /// Records a result only when the task is registered (`None`: state untouched).
    pub(crate) async fn record_if_registered(
        &self,
        task_id: TaskId,
        code: String,
        source: ResultSource,
    ) -> Result<Option<Recorded>, Error> {
        let result = TaskResult::new(task_id, code, source, None);
        self.record_in(result, true).await
    }

    /// Records a result whatever the registration state.
    async fn record_unchecked(&self, result: TaskResult) -> Result<Recorded, Error> {
        let task_id = result.task_id();
        self.record_in(result, false).await?.ok_or_else(|| {
            Error::unexpected(format!(
                "the store refused task {task_id} without the registered-only check"
            ))
        })
    }

    /// First result wins: the backend stores it or answers the one kept; this publishes
    /// what happened.
    async fn record_in(
        &self,
        result: TaskResult,
        registered_only: bool,
    ) -> Result<Option<Recorded>, Error> {
        let (task_id, source) = (result.task_id(), result.source());
        let Change {
            value: recorded,
            mut evicted,
        } = self.shared.backend.record(result, registered_only).await?;
        let events = &mut evicted;
        match &recorded {
            None => {}
            Some(Recorded::Stored(result)) => {
                events.push(StoreEvent::Stored(result.clone()));
                // No subscriber is not an error.
                let _ = self.shared.results.send(result.clone());
            }
            Some(Recorded::Duplicate(_)) => {
                events.push(StoreEvent::Duplicate { task_id, source });
            }
            Some(Recorded::Conflict { kept, rejected }) => {
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
        self.publish(evicted);
        Ok(recorded)
    }

    /// Counts the events, then hands them to the observers and the event channel.
    fn publish(&self, events: Vec<StoreEvent>) {
        if events.is_empty() {
            return;
        }
        self.shared
            .stats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .count(&events);
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

    #[cfg(test)]
    fn assert_consistent(&self) {
        self.shared.backend.assert_consistent();
    }
}

/// A zero capacity or channel capacity counts as one.
fn normalized(config: StoreConfig) -> StoreConfig {
    StoreConfig {
        capacity: config.capacity.max(1),
        channel_capacity: config.channel_capacity.max(1),
        ..config
    }
}

/// `timeout` from now; a timeout too long to add waits as long as the clock can count.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod model_tests;
