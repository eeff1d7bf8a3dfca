//! [`Backend`]: where a [`ResultStore`](super::ResultStore) keeps its entries. The store's
//! front (`mod.rs`) turns what a backend answers into events, counters and results; a
//! backend only keeps the state and applies the rules that need it in one step (first
//! result wins, registered-only, ttl, capacity and its eviction order).
//!
//! Two implementations: [`MemoryBackend`](super::memory_backend::MemoryBackend) (one
//! process) and, with the `redis` feature, `RedisBackend` (state shared by every replica of
//! a receiver).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::event::StoreEvent;
use super::result::{Recorded, TaskResult};
use super::slot::ResultSlot;
use crate::error::Error;
use crate::task_id::TaskId;

/// An answer, and the entries the operation evicted on its way ([`StoreEvent::Evicted`]
/// only, in the order they left).
pub(super) struct Change<T> {
    pub(super) value: T,
    pub(super) evicted: Vec<StoreEvent>,
}

impl<T> Change<T> {
    pub(super) fn new(value: T, evicted: Vec<StoreEvent>) -> Self {
        Change { value, evicted }
    }
}

/// What starting a wait found.
pub(super) enum Waited {
    /// The result is there.
    Ready(TaskResult),
    /// Not yet: `slot` gets it when it comes, whoever stores it. Dropping `guard` ends the
    /// wait in the backend (the entry becomes evictable again).
    Pending {
        slot: Arc<ResultSlot>,
        guard: WaitGuard,
    },
}

/// A started wait: whether starting it registered the id, and what it found.
pub(super) struct StartedWait {
    pub(super) newly_registered: bool,
    pub(super) waited: Waited,
}

/// Ends a wait in its backend when dropped, however the wait ended (result, deadline, or
/// the waiting future dropped).
pub(super) struct WaitGuard(Option<Box<dyn FnOnce() + Send>>);

impl WaitGuard {
    pub(super) fn new(end: impl FnOnce() + Send + 'static) -> Self {
        WaitGuard(Some(Box::new(end)))
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if let Some(end) = self.0.take() {
            end();
        }
    }
}

/// The state of a store. Every operation is one atomic step of the backend; each fails with
/// [`crate::ErrorKind::StoreUnavailable`] when the backend cannot be reached, and then
/// changed nothing that was acknowledged.
pub(super) trait Backend: Send + Sync + 'static {
    /// A short name for logs and health reports: `memory`, `redis`.
    fn name(&self) -> &'static str;

    /// Registers an id; the value is true when it was not registered before.
    fn register(&self, task_id: TaskId) -> BoxFuture<'_, Result<Change<bool>, Error>>;

    /// True when the id is registered and its entry has not expired.
    fn is_registered(&self, task_id: TaskId) -> BoxFuture<'_, Result<bool, Error>>;

    /// The kept result of a task, if any.
    fn get(&self, task_id: TaskId) -> BoxFuture<'_, Result<Option<TaskResult>, Error>>;

    /// First result wins: stores `result`, or answers the one kept. `None` when
    /// `registered_only` and the id is not registered (nothing changed).
    fn record(
        &self,
        result: TaskResult,
        registered_only: bool,
    ) -> BoxFuture<'_, Result<Change<Option<Recorded>>, Error>>;

    /// Registers the id and starts waiting for its result until `deadline` (an awaited
    /// entry without a result is neither evicted nor expired before then).
    fn start_wait(
        &self,
        task_id: TaskId,
        deadline: Instant,
    ) -> BoxFuture<'_, Result<Change<StartedWait>, Error>>;

    /// How many entries there are (after expiring what is due).
    fn len(&self) -> BoxFuture<'_, Result<Change<usize>, Error>>;

    /// Ok when the backend can serve; the error says why not.
    fn health(&self) -> BoxFuture<'_, Result<(), Error>>;

    /// Checks the backend's internal invariants (tests only).
    #[cfg(test)]
    fn assert_consistent(&self) {}
}
