//! [`Hub`]: this replica's subscriptions, so that a result stored through any replica wakes
//! the waiters here.
//!
//! One pub/sub connection per store, owned by one task (started by the first wait). A waiter
//! asks for its task's channel ([`Hub::want`]) and gets the slot its result will be put in
//! once the subscription is confirmed; only then does it read the result from Redis, so a
//! result stored in between is not missed. Waiters of one task on this replica share one
//! subscription; when the last leaves, the task unsubscribes.
//!
//! When the connection drops (Redis restarted, say), the task reconnects with backoff,
//! subscribes again to every channel still wanted, and reads each of those results once:
//! a result published while nobody here was listening is found that way. A new wait while
//! the connection is down fails as unavailable; a wait in progress keeps waiting.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt as _;
use redis::Msg;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Inner, parse_published, parse_source};
use crate::error::Error;
use crate::receiver::store::result::{ResultSource, TaskResult};
use crate::receiver::store::slot::ResultSlot;
use crate::task_id::TaskId;

/// First wait before connecting again after a failure; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often an idle subscription connection is checked with a PING (a Redis that stopped
/// answering without closing the connection is noticed within this plus the timeout).
const PING_EVERY: Duration = Duration::from_secs(5);

pub(super) struct Hub {
    shared: Arc<Shared>,
    _stop: DropGuard,
}

struct Shared {
    client: redis::Client,
    inner: Arc<Inner>,
    state: Mutex<State>,
    /// Tells the task that subscriptions need work (or that a waiter wants it to retry).
    wake: Notify,
    stop: CancellationToken,
}

#[derive(Default)]
struct State {
    interests: HashMap<TaskId, Interest>,
    /// Tasks whose subscription may need a change.
    dirty: HashSet<TaskId>,
    running: bool,
    /// Why the connection is down, when it is.
    down: Option<String>,
}

struct Interest {
    slot: Arc<ResultSlot>,
    waiters: usize,
    /// Confirmed by Redis on the current connection.
    subscribed: bool,
    /// Waiters told when the subscription is confirmed (or cannot be).
    ready: Vec<oneshot::Sender<Result<(), String>>>,
}

/// One waiter's interest in a task's channel; dropping it gives it up.
pub(super) struct Ticket {
    shared: Arc<Shared>,
    task_id: TaskId,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(interest) = state.interests.get_mut(&self.task_id) {
            interest.waiters = interest.waiters.saturating_sub(1);
            if interest.waiters == 0 {
                state.dirty.insert(self.task_id);
                self.shared.wake.notify_one();
            }
        }
    }
}

impl Hub {
    pub(super) fn new(client: redis::Client, inner: Arc<Inner>) -> Self {
        let stop = CancellationToken::new();
        Hub {
            shared: Arc::new(Shared {
                client,
                inner,
                state: Mutex::new(State::default()),
                wake: Notify::new(),
                stop: stop.clone(),
            }),
            _stop: stop.drop_guard(),
        }
    }

    /// Subscribes to the task's channel (or joins the subscription of another waiter here)
    /// and answers the slot its result will be put in, once Redis confirmed it.
    pub(super) async fn want(&self, task_id: TaskId) -> Result<(Arc<ResultSlot>, Ticket), Error> {
        let (slot, confirmed) = {
            let mut state = self.shared.lock();
            if !state.running {
                state.running = true;
                tokio::spawn(run(Arc::clone(&self.shared)));
            }
            let interest = state.interests.entry(task_id).or_insert_with(|| Interest {
                slot: Arc::default(),
                waiters: 0,
                subscribed: false,
                ready: Vec::new(),
            });
            if interest.waiters == 0 && interest.slot.is_filled() {
                // The result of an entry that may have left the store since: start afresh.
                interest.slot = Arc::default();
            }
            interest.waiters += 1;
            let slot = Arc::clone(&interest.slot);
            let confirmed = if interest.subscribed {
                None
            } else {
                let (tx, rx) = oneshot::channel();
                interest.ready.push(tx);
                state.dirty.insert(task_id);
                Some(rx)
            };
            (slot, confirmed)
        };
        let ticket = Ticket {
            shared: Arc::clone(&self.shared),
            task_id,
        };
        if let Some(confirmed) = confirmed {
            self.shared.wake.notify_one();
            let timeout = self.shared.inner.timeout;
            match tokio::time::timeout(timeout, confirmed).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(reason))) => {
                    return Err(Error::store_unavailable(format!(
                        "cannot listen for results in redis: {reason}"
                    )));
                }
                Ok(Err(_)) => {
                    return Err(Error::store_unavailable(
                        "the redis result listener stopped",
                    ));
                }
                Err(_) => {
                    return Err(Error::store_unavailable(format!(
                        "subscribing in redis did not complete within {timeout:?}"
                    )));
                }
            }
        }
        Ok((slot, ticket))
    }

    /// Ok unless the subscription connection is down (nobody waited yet: Ok).
    pub(super) fn health(&self) -> Result<(), Error> {
        match &self.shared.lock().down {
            None => Ok(()),
            Some(reason) => Err(Error::store_unavailable(format!(
                "redis subscription connection down: {reason}"
            ))),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update below leaves the state consistent at each step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection is lost: nothing is subscribed any more, and waiters still waiting
    /// for a confirmation are told why.
    fn set_down(&self, reason: String) {
        let mut state = self.lock();
        if state.down.as_ref() == Some(&reason) {
            tracing::debug!(%reason, "redis subscription connection still down");
        } else {
            tracing::warn!(%reason, "redis subscription connection down");
        }
        let State {
            interests, dirty, ..
        } = &mut *state;
        for (task_id, interest) in interests.iter_mut() {
            interest.subscribed = false;
            for tx in interest.ready.drain(..) {
                let _ = tx.send(Err(reason.clone()));
            }
            dirty.insert(*task_id);
        }
        state.down = Some(reason);
    }

    /// Puts a published result in the slot of its task, if someone here waits for it.
    fn deliver(&self, message: &Msg) {
        let keys = &self.inner.keys;
        let Some(task_id) = keys.task_of_channel(message.get_channel_name()) else {
            return;
        };
        let Some(result) = parse_published(task_id, message.get_payload_bytes()) else {
            tracing::warn!(%task_id, "unreadable result published in redis: ignored");
            return;
        };
        if let Some(interest) = self.lock().interests.get(&task_id) {
            interest.slot.fill(result);
        }
    }
}

enum Ended {
    Stopped,
    Lost(String),
}

/// Connects, serves, and connects again, until the store is dropped.
async fn run(shared: Arc<Shared>) {
    let mut backoff = MIN_BACKOFF;
    let mut connections: u64 = 0;
    loop {
        let call = shared.inner.call_started();
        let connecting = tokio::select! {
            () = shared.stop.cancelled() => return,
            c = tokio::time::timeout(shared.inner.timeout, shared.client.get_async_pubsub()) => c,
        };
        drop(call);
        let failure = match connecting {
            Ok(Ok(pubsub)) => {
                connections += 1;
                shared.lock().down = None;
                backoff = MIN_BACKOFF;
                let (mut sink, mut stream) = pubsub.split();
                // After a reconnection, results published meanwhile are read once.
                match serve(&shared, &mut sink, &mut stream, connections > 1).await {
                    Ended::Stopped => return,
                    Ended::Lost(reason) => {
                        shared.set_down(reason);
                        // Reconnect at once: a restart is usually quick.
                        continue;
                    }
                }
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "connecting did not complete within {:?}",
                shared.inner.timeout
            ),
        };
        shared.set_down(failure);
        // A new waiter wakes us to try again at once; otherwise, back off.
        tokio::select! {
            () = shared.stop.cancelled() => return,
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(MAX_BACKOFF),
        }
    }
}

/// Serves one connection: (un)subscribes as waiters come and go, hands out published
/// results, and checks that Redis still answers.
async fn serve(
    shared: &Shared,
    sink: &mut PubSubSink,
    stream: &mut PubSubStream,
    mut recheck: bool,
) -> Ended {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        if let Err(reason) = sync(shared, sink, recheck).await {
            return Ended::Lost(reason);
        }
        recheck = false;
        tokio::select! {
            () = shared.stop.cancelled() => return Ended::Stopped,
            message = stream.next() => match message {
                Some(message) => shared.deliver(&message),
                None => return Ended::Lost("connection closed".to_owned()),
            },
            () = shared.wake.notified() => {}
            _ = ping.tick() => {
                let _call = shared.inner.call_started();
                let pinged = tokio::time::timeout(shared.inner.timeout, sink.ping::<redis::Value>()).await;
                match pinged {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Ended::Lost(format!("PING failed: {e}")),
                    Err(_) => return Ended::Lost("PING was not answered in time".to_owned()),
                }
            }
        }
    }
}

/// Brings the subscriptions in line with the waiters; with `recheck`, reads the results of
/// the tasks subscribed to now.
async fn sync(shared: &Shared, sink: &mut PubSubSink, recheck: bool) -> Result<(), String> {
    let keys = &shared.inner.keys;
    let (subscribe, unsubscribe) = {
        let mut state = shared.lock();
        let dirty = std::mem::take(&mut state.dirty);
        let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
        for task_id in dirty {
            let Some(interest) = state.interests.get(&task_id) else {
                continue;
            };
            if interest.waiters == 0 {
                if interest.subscribed {
                    unsubscribe.push(task_id);
                }
                state.interests.remove(&task_id);
            } else if !interest.subscribed {
                subscribe.push(task_id);
            }
        }
        (subscribe, unsubscribe)
    };
    let timeout = shared.inner.timeout;
    let channels = |ids: &[TaskId]| ids.iter().map(|id| keys.channel(*id)).collect::<Vec<_>>();
    if !unsubscribe.is_empty() {
        let _call = shared.inner.call_started();
        tokio::time::timeout(timeout, sink.unsubscribe(channels(&unsubscribe)))
            .await
            .map_err(|_| "UNSUBSCRIBE was not answered in time".to_owned())?
            .map_err(|e| format!("UNSUBSCRIBE failed: {e}"))?;
    }
    if subscribe.is_empty() {
        return Ok(());
    }
    {
        let _call = shared.inner.call_started();
        tokio::time::timeout(timeout, sink.subscribe(channels(&subscribe)))
            .await
            .map_err(|_| "SUBSCRIBE was not answered in time".to_owned())?
            .map_err(|e| format!("SUBSCRIBE failed: {e}"))?;
    }
    {
        let mut state = shared.lock();
        for task_id in &subscribe {
            if let Some(interest) = state.interests.get_mut(task_id) {
                interest.subscribed = true;
                for tx in interest.ready.drain(..) {
                    let _ = tx.send(Ok(()));
                }
            }
        }
    }
    if recheck {
        read_again(shared, &subscribe).await?;
    }
    Ok(())
}

/// Reads the results of these tasks (one pipelined round trip) and fills their slots.
async fn read_again(shared: &Shared, task_ids: &[TaskId]) -> Result<(), String> {
    let keys = &shared.inner.keys;
    let mut pipe = redis::pipe();
    for task_id in task_ids {
        pipe.cmd("HMGET").arg(keys.task(*task_id)).arg("c").arg("s");
    }
    let mut connection = shared.inner.connection.clone();
    let rows: Vec<(Option<String>, Option<String>)> = shared
        .inner
        .bounded("re-read", pipe.query_async(&mut connection))
        .await
        .map_err(|e| e.to_string())?;
    let state = shared.lock();
    for (task_id, (code, source)) in task_ids.iter().zip(rows) {
        let (Some(code), Some(interest)) = (code, state.interests.get(task_id)) else {
            continue;
        };
        let source = source
            .as_deref()
            .and_then(parse_source)
            .unwrap_or(ResultSource::Pingback);
        interest
            .slot
            .fill(TaskResult::new(*task_id, code, source, None));
    }
    Ok(())
}
