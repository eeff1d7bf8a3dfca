//! [`ResultRouter`]: dispatch each task's result, exactly once, to the handler registered for
//! the task's route, or to a default handler.
//!
//! The router observes a [`ResultStore`]: the store keeps only the first result of a task
//! (whether it came by pingback or by poll) and publishes it once, so a result that arrives
//! both ways is dispatched once. The application tells the router which route a task belongs
//! to with [`ResultRouter::assign`] after submitting it.
//!
//! A result can arrive before the assignment (a pingback faster than the submit's answer).
//! It is then held until the task is assigned, or until `unassigned_grace` has passed, after
//! which it goes to the default handler: call [`ResultRouter::run`] (or
//! [`ResultRouter::flush_unassigned`]) for that to happen on time.
//!
//! The router remembers which tasks it dispatched (and the routes of pending tasks) for a
//! retention window of its own (default 24 hours, at most 100 000 tasks), independent of
//! the store's shorter ttl: a pingback retried after the store forgot the task is still not
//! dispatched a second time.
//!
//! The router sees the results stored through its own [`ResultStore`] value. With a Redis
//! store shared by several replicas, a result stored through another replica is found by
//! [`ResultRouter::assign`] when it is already there, and is otherwise dispatched by the
//! router of the replica that stored it: run the router where the results arrive, or wait
//! with [`ResultStore::wait`], which sees them all.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::receiver::{ResultStore, StoreEvent, TaskResult};
use crate::task_id::TaskId;

/// One dispatched result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    /// The route the task was assigned to (`None`: never assigned, sent to the default).
    pub route: Option<String>,
    /// The result.
    pub result: TaskResult,
}

type Handler = Arc<dyn Fn(Dispatch) + Send + Sync>;

/// Builds a [`ResultRouter`].
#[derive(Default)]
pub struct ResultRouterBuilder {
    handlers: HashMap<String, Handler>,
    default: Option<Handler>,
    grace: Option<Duration>,
    retention: Option<Duration>,
    capacity: Option<usize>,
}

impl fmt::Debug for ResultRouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultRouterBuilder")
            .field("routes", &self.handlers.keys().collect::<Vec<_>>())
            .field("has_default", &self.default.is_some())
            .field("grace", &self.grace)
            .field("retention", &self.retention)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl ResultRouterBuilder {
    /// Registers the handler of a route (a later registration of the same name replaces it).
    pub fn route(
        mut self,
        name: impl Into<String>,
        handler: impl Fn(Dispatch) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.insert(name.into(), Arc::new(handler));
        self
    }

    /// Registers the default handler: results of unassigned tasks and of routes without a
    /// handler. Without one, such results are logged and dropped.
    pub fn default_handler(mut self, handler: impl Fn(Dispatch) + Send + Sync + 'static) -> Self {
        self.default = Some(Arc::new(handler));
        self
    }

    /// How long a result of an unassigned task is held before it goes to the default
    /// handler (default 30 s).
    pub fn unassigned_grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// How long the router remembers a dispatched task (so it is never dispatched twice)
    /// and the route of a task still waiting for its result (default 24 hours), counted
    /// from the assignment or the dispatch.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// How many tasks the router remembers at most (default 100 000); the oldest are
    /// forgotten first. A zero capacity counts as one.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Builds the router and starts observing `store` (results stored from now on).
    pub fn build(self, store: &ResultStore) -> ResultRouter {
        let inner = Arc::new(Inner {
            handlers: self.handlers,
            default: self.default,
            grace: self.grace.unwrap_or(Duration::from_secs(30)),
            retention: self.retention.unwrap_or(Duration::from_secs(24 * 3600)),
            capacity: self.capacity.unwrap_or(100_000).max(1),
            store: store.clone(),
            state: Mutex::new(RouteState::default()),
            held_changed: Notify::new(),
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        store.on_event(move |event| {
            if let Some(inner) = weak.upgrade() {
                inner.observe(event);
            }
        });
        ResultRouter { inner }
    }
}

/// Counters of a [`ResultRouter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Results handed to a handler.
    pub dispatched: u64,
    /// Results dropped because no handler fits (no route handler and no default).
    pub unhandled: u64,
}

/// Dispatches each result once to its route's handler. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), captchaai_client::Error> {
/// use std::sync::{Arc, Mutex};
/// use captchaai_client::TaskId;
/// use captchaai_client::receiver::{ResultSource, ResultStore};
/// use captchaai_client::router::ResultRouter;
///
/// let store = ResultStore::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let router = ResultRouter::builder()
///     .route("signup", move |d| log.lock().unwrap().push(d.result.code().to_owned()))
///     .build(&store);
///
/// let id = TaskId::new(1);
/// router.assign(id, "signup").await?;
/// store.record(id, "tok", ResultSource::Pingback).await?; // by pingback...
/// store.record(id, "tok", ResultSource::Poll).await?; // ...and by poll: dispatched once
/// assert_eq!(*seen.lock().unwrap(), vec!["tok".to_owned()]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ResultRouter {
    inner: Arc<Inner>,
}

impl fmt::Debug for ResultRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultRouter")
            .field("routes", &self.inner.handlers.keys().collect::<Vec<_>>())
            .field("has_default", &self.inner.default.is_some())
            .field("grace", &self.inner.grace)
            .field("stats", &self.stats())
            .finish()
    }
}

struct Inner {
    handlers: HashMap<String, Handler>,
    default: Option<Handler>,
    grace: Duration,
    retention: Duration,
    capacity: usize,
    store: ResultStore,
    state: Mutex<RouteState>,
    held_changed: Notify,
}

#[derive(Default)]
struct RouteState {
    /// Assigned tasks without a result yet (with the serial of their `order` item).
    routes: HashMap<TaskId, (String, u64)>,
    /// Results of unassigned tasks, with the time they arrived.
    held: HashMap<TaskId, (TaskResult, Instant)>,
    /// Tasks already dispatched (with the serial of their `order` item).
    dispatched: HashMap<TaskId, u64>,
    /// (when, task, serial) of every assignment and dispatch, oldest first: what the
    /// retention window and the capacity forget. Stale items are skipped.
    order: VecDeque<(Instant, TaskId, u64)>,
    next_serial: u64,
    stats: RouterStats,
}

impl RouteState {
    fn stamp(&mut self, task_id: TaskId) -> u64 {
        self.next_serial += 1;
        self.order
            .push_back((Instant::now(), task_id, self.next_serial));
        self.next_serial
    }

    fn assign(&mut self, task_id: TaskId, route: String) {
        let serial = self.stamp(task_id);
        self.routes.insert(task_id, (route, serial));
    }

    fn mark_dispatched(&mut self, task_id: TaskId) {
        let serial = self.stamp(task_id);
        self.dispatched.insert(task_id, serial);
    }

    /// Forgets what is older than `retention`, and the oldest beyond `capacity`.
    fn forget(&mut self, retention: Duration, capacity: usize) {
        let now = Instant::now();
        while let Some(&(at, task_id, serial)) = self.order.front() {
            let full = self.routes.len() + self.dispatched.len() > capacity;
            if !full && at + retention > now {
                break;
            }
            self.order.pop_front();
            if self.routes.get(&task_id).is_some_and(|(_, s)| *s == serial) {
                self.routes.remove(&task_id);
            }
            if self.dispatched.get(&task_id) == Some(&serial) {
                self.dispatched.remove(&task_id);
            }
        }
    }
}

impl ResultRouter {
    /// Starts building a router.
    pub fn builder() -> ResultRouterBuilder {
        ResultRouterBuilder::default()
    }

    /// Says which route `task_id` belongs to. If its result is already there (held, or in the
    /// store), it is dispatched now; a task already dispatched is not dispatched again.
    ///
    /// Fails only when the store cannot be read
    /// ([`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable)); the route is
    /// assigned all the same, so a result stored later through this store is dispatched.
    pub async fn assign(&self, task_id: TaskId, route: impl Into<String>) -> Result<(), Error> {
        let route = route.into();
        {
            let mut state = self.inner.lock();
            state.forget(self.inner.retention, self.inner.capacity);
            if state.dispatched.contains_key(&task_id) {
                tracing::debug!(%task_id, "assigned after dispatch: ignored");
                return Ok(());
            }
            if let Some((result, _)) = state.held.remove(&task_id) {
                state.mark_dispatched(task_id);
                drop(state);
                self.inner.dispatch(Some(route), result);
                return Ok(());
            }
            // Assigned before reading the store: a result stored meanwhile is dispatched by
            // the observer, and the read below then finds it dispatched.
            state.assign(task_id, route.clone());
        }
        // A result stored before the router observed the store (or, with Redis, through
        // another replica) is only in the store.
        let Some(result) = self.inner.store.get(task_id).await? else {
            return Ok(());
        };
        let first = {
            let mut state = self.inner.lock();
            let first = !state.dispatched.contains_key(&task_id);
            if first {
                state.routes.remove(&task_id);
                state.mark_dispatched(task_id);
            }
            first
        };
        if first {
            self.inner.dispatch(Some(route), result);
        }
        Ok(())
    }

    /// Sends every held result of an unassigned task to the default handler now.
    pub fn flush_unassigned(&self) {
        self.inner.flush(None);
    }

    /// Sends held results to the default handler when their grace period ends, until
    /// `shutdown` is cancelled.
    pub async fn run(&self, shutdown: CancellationToken) {
        loop {
            let next = {
                let state = self.inner.lock();
                state
                    .held
                    .values()
                    .map(|(_, at)| *at + self.inner.grace)
                    .min()
            };
            let changed = self.inner.held_changed.notified();
            tokio::pin!(changed);
            // Register interest before sleeping so a result held meanwhile wakes us.
            changed.as_mut().enable();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = &mut changed => {}
                () = sleep_until_opt(next) => {
                    self.inner.flush(Some(Instant::now()));
                }
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> RouterStats {
        self.inner.lock().stats
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, RouteState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reacts to the store's first results. Evictions are ignored: the router's own
    /// retention window decides what it forgets.
    fn observe(&self, event: &StoreEvent) {
        let StoreEvent::Stored(result) = event else {
            return;
        };
        let task_id = result.task_id();
        let route = {
            let mut state = self.lock();
            state.forget(self.retention, self.capacity);
            if state.dispatched.contains_key(&task_id) {
                tracing::debug!(%task_id, "stored again after the store forgot it: already dispatched");
                return;
            }
            match state.routes.remove(&task_id) {
                Some((route, _)) => {
                    state.mark_dispatched(task_id);
                    route
                }
                None => {
                    state.held.insert(task_id, (result.clone(), Instant::now()));
                    drop(state);
                    self.held_changed.notify_one();
                    return;
                }
            }
        };
        self.dispatch(Some(route), result.clone());
    }

    /// Sends held results to the default handler: all of them (`None`) or those whose grace
    /// ended by `now`.
    fn flush(&self, now: Option<Instant>) {
        let due: Vec<TaskResult> = {
            let mut state = self.lock();
            let ids: Vec<TaskId> = state
                .held
                .iter()
                .filter(|(_, (_, at))| now.is_none_or(|now| *at + self.grace <= now))
                .map(|(id, _)| *id)
                .collect();
            let mut due: Vec<TaskResult> = ids
                .into_iter()
                .filter_map(|id| {
                    state.mark_dispatched(id);
                    state.held.remove(&id).map(|(r, _)| r)
                })
                .collect();
            due.sort_by_key(TaskResult::task_id);
            due
        };
        for result in due {
            self.dispatch(None, result);
        }
    }

    fn dispatch(&self, route: Option<String>, result: TaskResult) {
        let handler = route
            .as_ref()
            .and_then(|r| self.handlers.get(r))
            .or(self.default.as_ref())
            .cloned();
        match handler {
            Some(handler) => {
                self.lock().stats.dispatched += 1;
                handler(Dispatch { route, result });
            }
            None => {
                self.lock().stats.unhandled += 1;
                tracing::warn!(
                    task_id = %result.task_id(),
                    ?route,
                    "no handler for this result (no route handler and no default)"
                );
            }
        }
    }
}
