//! [`ResultSlot`]: what the waiters of one pending task share: the result once it comes, and
//! the wake-up that tells them.
//!
//! Lighter than a `watch` channel (a `Notify` and a `OnceLock`, about a hundred bytes), as a
//! store may hold a million awaited tasks. A slot outlives the entry it belongs to for as
//! long as a waiter holds it, so a result stored just before its entry is evicted still
//! reaches the waiter.

use std::sync::OnceLock;

use tokio::sync::Notify;

use super::result::TaskResult;

#[derive(Debug, Default)]
pub(super) struct ResultSlot {
    result: OnceLock<TaskResult>,
    ready: Notify,
}

impl ResultSlot {
    /// Sets the result (the first one only) and wakes every waiter.
    pub(super) fn fill(&self, result: TaskResult) {
        if self.result.set(result).is_ok() {
            self.ready.notify_waiters();
        }
    }

    /// True once the result is there.
    pub(super) fn is_filled(&self) -> bool {
        self.result.get().is_some()
    }

    /// The result, once it is there.
    pub(super) async fn wait(&self) -> TaskResult {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            // Registered before the check, so a result set in between still wakes us.
            notified.as_mut().enable();
            if let Some(result) = self.result.get() {
                return result.clone();
            }
            notified.await;
        }
    }
}
