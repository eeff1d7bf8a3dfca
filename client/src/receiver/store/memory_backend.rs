//! [`MemoryBackend`]: [`Memory`] behind a lock, on tokio's clock: the backend of a store
//! that lives in one process. Every operation is synchronous under the lock, so its future
//! is ready when first polled (the conformance harness runs it under tokio's paused clock).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _, ready};
use tokio::time::Instant;

use super::backend::{Backend, Change, StartedWait, WaitGuard, Waited};
use super::event::StoreEvent;
use super::memory::{Memory, WaitStart};
use super::result::{Recorded, TaskResult};
use crate::error::Error;
use crate::task_id::TaskId;

pub(super) struct MemoryBackend {
    memory: Arc<Mutex<Memory>>,
}

impl MemoryBackend {
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        MemoryBackend {
            memory: Arc::new(Mutex::new(Memory::new(ttl, capacity))),
        }
    }

    /// Runs `op` after expiring what is due; the evictions of both are reported.
    fn update<T>(
        &self,
        op: impl FnOnce(&mut Memory, Instant, &mut Vec<StoreEvent>) -> T,
    ) -> Change<T> {
        let now = Instant::now();
        let mut evicted = Vec::new();
        let mut memory = lock(&self.memory);
        memory.purge(now, &mut evicted);
        let value = op(&mut memory, now, &mut evicted);
        Change::new(value, evicted)
    }
}

fn lock(memory: &Mutex<Memory>) -> MutexGuard<'_, Memory> {
    // A panic while holding the lock cannot leave the map half-updated in a way that breaks
    // the invariants `Memory` checks, so a poisoned lock is still usable.
    memory
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn register(&self, task_id: TaskId) -> BoxFuture<'_, Result<Change<bool>, Error>> {
        let change = self.update(|memory, now, evicted| memory.register(task_id, now, evicted));
        ready(Ok(change)).boxed()
    }

    fn is_registered(&self, task_id: TaskId) -> BoxFuture<'_, Result<bool, Error>> {
        let registered = lock(&self.memory).is_registered(task_id, Instant::now());
        ready(Ok(registered)).boxed()
    }

    fn get(&self, task_id: TaskId) -> BoxFuture<'_, Result<Option<TaskResult>, Error>> {
        let result = lock(&self.memory).get(task_id, Instant::now()).cloned();
        ready(Ok(result)).boxed()
    }

    fn record(
        &self,
        result: TaskResult,
        registered_only: bool,
    ) -> BoxFuture<'_, Result<Change<Option<Recorded>>, Error>> {
        let change = self
            .update(|memory, now, evicted| memory.record(result, registered_only, now, evicted));
        ready(Ok(change)).boxed()
    }

    fn start_wait(
        &self,
        task_id: TaskId,
        // An awaited entry stays until its waiter leaves, which the guard reports.
        _deadline: Instant,
    ) -> BoxFuture<'_, Result<Change<StartedWait>, Error>> {
        let change = self.update(|memory, now, evicted| {
            let newly_registered = memory.register(task_id, now, evicted);
            (newly_registered, memory.start_wait(task_id))
        });
        let Change {
            value: (newly_registered, start),
            evicted,
        } = change;
        let waited = match start {
            Some(WaitStart::Ready(result)) => Waited::Ready(result),
            Some(WaitStart::Pending { slot, created }) => {
                let memory = Arc::clone(&self.memory);
                Waited::Pending {
                    slot,
                    guard: WaitGuard::new(move || lock(&memory).end_wait(task_id, created)),
                }
            }
            None => {
                return ready(Err(Error::timeout(format!(
                    "task {task_id} could not be registered"
                ))))
                .boxed();
            }
        };
        let started = StartedWait {
            newly_registered,
            waited,
        };
        ready(Ok(Change::new(started, evicted))).boxed()
    }

    fn len(&self) -> BoxFuture<'_, Result<Change<usize>, Error>> {
        let change = self.update(|memory, _, _| memory.len());
        ready(Ok(change)).boxed()
    }

    fn health(&self) -> BoxFuture<'_, Result<(), Error>> {
        ready(Ok(())).boxed()
    }

    #[cfg(test)]
    fn assert_consistent(&self) {
        lock(&self.memory).assert_consistent();
    }
}
