//! What the store reports: a [`StoreEvent`] for every change, and [`StoreStats`], the
//! counters of those events.

use super::result::{ResultSource, TaskResult};
use crate::receiver::RejectReason;
use crate::task_id::TaskId;

/// Something the store (or the receiver in front of it) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// A task id was registered.
    Registered {
        /// The task.
        task_id: TaskId,
    },
    /// The first result of a task was stored.
    Stored(TaskResult),
    /// The same result again: acknowledged and ignored.
    Duplicate {
        /// The task.
        task_id: TaskId,
        /// Where the duplicate came from.
        source: ResultSource,
    },
    /// A different result for a task that already has one: acknowledged, ignored, reported.
    Conflict {
        /// The task.
        task_id: TaskId,
        /// The code kept (the first one).
        kept: String,
        /// The code ignored.
        rejected: String,
        /// Where the ignored result came from.
        source: ResultSource,
    },
    /// The receiver refused a callback without touching the store.
    Rejected {
        /// The task, when the callback carried a valid id.
        task_id: Option<TaskId>,
        /// Why.
        reason: RejectReason,
    },
    /// An entry left the store (expired or evicted for capacity).
    Evicted {
        /// The task.
        task_id: TaskId,
        /// Whether it had a result.
        had_result: bool,
    },
}

/// Counters of what the store did since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Ids registered.
    pub registered: u64,
    /// First results stored.
    pub stored: u64,
    /// Identical duplicates ignored.
    pub duplicates: u64,
    /// Conflicting duplicates ignored.
    pub conflicts: u64,
    /// Callbacks rejected by the receiver.
    pub rejected: u64,
    /// Entries expired or evicted.
    pub evicted: u64,
}

impl StoreStats {
    /// Counts what these events did (each event is one counter).
    pub(super) fn count(&mut self, events: &[StoreEvent]) {
        for event in events {
            match event {
                StoreEvent::Registered { .. } => self.registered += 1,
                StoreEvent::Stored(_) => self.stored += 1,
                StoreEvent::Duplicate { .. } => self.duplicates += 1,
                StoreEvent::Conflict { .. } => self.conflicts += 1,
                StoreEvent::Rejected { .. } => self.rejected += 1,
                StoreEvent::Evicted { .. } => self.evicted += 1,
            }
        }
    }
}
