//! [`MockHandle`]: what a test (or the conformance harness) may read and steer in a running
//! mock, typed: tasks with their ground truth, the pingback attempts, the API requests, the
//! simulated clock; forcing results, firing pingbacks, replacing fault rules. No HTTP
//! handler, no internal state: a deliberate, small window on [`crate::MockServer`].

use std::{sync::Arc, time::Duration};

use crate::{
    api_faults::ApiFaultRule,
    config::{Config, ConfigError},
    pingback::{
        dispatcher::{PingbackAttempt, PingbackStats},
        faults::FaultRule,
    },
    state::{Counters, FireError, ForceError, ForceResult, InboundRequest, MockState, TaskView},
};

/// A handle on a running mock for inspection and control, cheap to clone and `Send`: pass it
/// to the tasks, recorders and subjects of a test. [`crate::MockServer`] dereferences to its
/// own, so every method is also available on the server.
///
/// Times are simulated time since the mock started (or was reset): under tokio's paused
/// clock, exact; under a time scale, real time multiplied by the scale.
///
/// ```
/// use std::time::Duration;
/// use captchaai_mock::{Distribution, MockServer, TaskState};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = MockServer::builder()
///     .solve_time(Distribution::Fixed(Duration::from_secs(5)))
///     .start()
///     .await?;
/// let http = reqwest::Client::builder().no_proxy().build()?;
/// let submit = format!(
///     "{}/in.php?key={}&method=turnstile&sitekey=0x4AAAAAAA&pageurl=https://example.com",
///     mock.uri(),
///     mock.key()
/// );
/// let id: u64 = http.get(submit).send().await?.text().await?[3..].parse()?;
///
/// let handle = mock.handle(); // a clone, for another task
/// let task = handle.task(id).expect("stored");
/// assert_eq!(task.state, TaskState::Pending);
/// assert_eq!(task.finish_at_ms, Some(5_000));
///
/// tokio::time::sleep(Duration::from_secs(5)).await;
/// assert_eq!(handle.task(id).unwrap().state, TaskState::Solved);
/// assert_eq!(handle.journal().endpoint("in.php").count(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MockHandle {
    state: MockState,
}

impl MockHandle {
    pub(crate) fn new(state: MockState) -> Self {
        MockHandle { state }
    }

    /// Simulated time since the mock started (or was last reset).
    pub fn now(&self) -> Duration {
        self.state.now()
    }

    /// The configuration in effect.
    pub fn config(&self) -> Arc<Config> {
        self.state.config()
    }

    /// The first API key (the default test key unless configured otherwise).
    pub fn key(&self) -> String {
        self.state.keys().into_iter().next().unwrap_or_default()
    }

    /// Every API key in effect, the first first.
    pub fn keys(&self) -> Vec<String> {
        self.state.keys()
    }

    /// One task, with its state now and its ground truth; `None` when never submitted or
    /// expired.
    pub fn task(&self, id: u64) -> Option<TaskView> {
        self.state.task(id)
    }

    /// Every stored task, in id order.
    pub fn tasks(&self) -> Vec<TaskView> {
        self.state.tasks(usize::MAX)
    }

    /// The pingback attempts so far (the outbound journal), narrowed by the query's methods.
    pub fn pingbacks(&self) -> Pingbacks<'_> {
        Pingbacks {
            state: &self.state,
            task: None,
            since: 0,
            limit: usize::MAX,
        }
    }

    /// The API requests so far (the inbound journal), narrowed by the query's methods.
    pub fn journal(&self) -> Requests<'_> {
        Requests {
            state: &self.state,
            endpoint: None,
            actions: Vec::new(),
            task: None,
            since: 0,
            limit: usize::MAX,
        }
    }

    /// The dispatcher's totals; `pending` is what is still to be sent (waiting, held in a
    /// reorder window, in flight or between retries): zero once every callback has played
    /// out.
    pub fn pingback_stats(&self) -> PingbackStats {
        self.state.dispatcher().stats()
    }

    /// Tasks accepted, submits refused as busy, tasks expired.
    pub fn counters(&self) -> Counters {
        self.state.counters()
    }

    /// The `code` a conflicting duplicate of task `id` carries, when its schedule sends one:
    /// what a receiver that never saw the genuine callback may rightly keep.
    pub fn conflicting_code(&self, id: u64) -> Option<String> {
        self.state.conflicting_code(id)
    }

    /// Finishes a task now, solved with its own answer or this one. Its pingback, if any,
    /// fires as scheduled; in `queue` busy mode its thread goes to the next task.
    pub fn force_solve(&self, id: u64, answer: Option<&str>) -> Result<TaskView, ForceError> {
        let result = ForceResult::solve(answer.map(str::to_owned))?;
        self.state.force(id, result)
    }

    /// Finishes a task now, failed with this error code (`ERROR_CAPTCHA_UNSOLVABLE` when
    /// `None`).
    pub fn force_fail(&self, id: u64, code: Option<&str>) -> Result<TaskView, ForceError> {
        let result = ForceResult::fail(code)?;
        self.state.force(id, result)
    }

    /// Sends a finished task's pingback again: one genuine callback with the default retry
    /// policy, whatever its fault schedule.
    pub fn fire_pingback(&self, id: u64) -> Result<(), FireError> {
        self.state.fire_pingback(id)
    }

    /// The fault rules in effect.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.state.rules().as_ref().clone()
    }

    /// Replaces the fault rules (checked as in a TOML file); tasks submitted from now on
    /// use them.
    pub fn set_rules(&self, rules: Vec<FaultRule>) -> Result<(), ConfigError> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate().map_err(|message| ConfigError::Invalid {
                field: format!("pingback.rules[{i}]"),
                message,
                at: None,
            })?;
        }
        self.state.set_rules(rules);
        Ok(())
    }

    /// The API fault rules in effect (the legacy `[api]` rates among them, first).
    pub fn api_rules(&self) -> Vec<ApiFaultRule> {
        self.state.api_rules().as_ref().clone()
    }

    /// Replaces the API fault rules (checked as in a TOML file); requests from now on use
    /// them.
    pub fn set_api_rules(&self, rules: Vec<ApiFaultRule>) -> Result<(), ConfigError> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate().map_err(|message| ConfigError::Invalid {
                field: format!("api.rules[{i}]"),
                message,
                at: None,
            })?;
        }
        self.state.set_api_rules(rules);
        Ok(())
    }

    /// Moves the oldest `limit` requests out of the inbound journal, oldest first, for a
    /// reader that keeps every request itself (a harness building its own timeline), so
    /// that the journal does not hold them a second time. Sequence numbers go on; later
    /// queries, expectations and the dashboard see only what was not taken.
    pub fn take_requests(&self, limit: usize) -> Vec<InboundRequest> {
        self.state.take_inbound(limit)
    }

    /// Moves the oldest `limit` pingback attempts out of the outbound journal, oldest
    /// first; as [`MockHandle::take_requests`] does for requests.
    pub fn take_pingbacks(&self, limit: usize) -> Vec<PingbackAttempt> {
        self.state.take_deliveries(limit)
    }

    /// Back to the state at start: no tasks, empty journals, ids from the start, the
    /// configured fault rules, pending pingbacks cancelled.
    pub fn reset(&self) {
        self.state.reset();
    }
}

/// A query of the outbound journal: every pingback attempt, or those of one task, after a
/// sequence number. Read it with [`Pingbacks::list`] or [`Pingbacks::count`], or iterate.
///
/// ```
/// # async fn demo(mock: &captchaai_mock::MockServer, id: u64) {
/// for attempt in mock.pingbacks().for_task(id) {
///     println!("{attempt}"); // attempt 1 at 5s GET http://... -> delivered 200 (1.1 ms)
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "a query reads nothing until listed, counted or iterated"]
pub struct Pingbacks<'a> {
    state: &'a MockState,
    task: Option<u64>,
    since: u64,
    limit: usize,
}

impl Pingbacks<'_> {
    /// Only the attempts of one task.
    pub fn for_task(mut self, id: u64) -> Self {
        self.task = Some(id);
        self
    }

    /// Only attempts journalled after this sequence number (to page, or to see what is new).
    pub fn since(mut self, seq: u64) -> Self {
        self.since = seq;
        self
    }

    /// At most this many.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// The attempts, oldest first.
    pub fn list(&self) -> Vec<PingbackAttempt> {
        self.state.deliveries(self.since, self.limit, self.task)
    }

    /// How many there are (nothing is copied).
    pub fn count(&self) -> usize {
        self.state
            .deliveries_count(self.since, self.task)
            .min(self.limit)
    }
}

impl IntoIterator for Pingbacks<'_> {
    type Item = PingbackAttempt;
    type IntoIter = std::vec::IntoIter<PingbackAttempt>;

    fn into_iter(self) -> Self::IntoIter {
        self.list().into_iter()
    }
}

/// A query of the inbound journal: the API requests the mock answered, narrowed to an
/// endpoint, an action or `method`, a task. Read it with [`Requests::list`] or
/// [`Requests::count`], or iterate.
///
/// ```
/// # fn demo(mock: &captchaai_mock::MockServer, id: u64) {
/// let polls = mock.journal().endpoint("res.php").action("get").for_task(id).count();
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a query reads nothing until listed, counted or iterated"]
pub struct Requests<'a> {
    state: &'a MockState,
    endpoint: Option<String>,
    actions: Vec<String>,
    task: Option<u64>,
    since: u64,
    limit: usize,
}

impl Requests<'_> {
    /// Only requests to this endpoint: `in.php`, `res.php` or `solve.php`.
    pub fn endpoint(mut self, endpoint: &str) -> Self {
        self.endpoint = Some(endpoint.to_owned());
        self
    }

    /// Only requests with this `action` (`res.php`) or `method` (`in.php`); several calls
    /// accept any of them.
    pub fn action(mut self, action: &str) -> Self {
        self.actions.push(action.to_owned());
        self
    }

    /// Only requests about one task (a submit counts for the task it created).
    pub fn for_task(mut self, id: u64) -> Self {
        self.task = Some(id);
        self
    }

    /// Only requests journalled after this sequence number.
    pub fn since(mut self, seq: u64) -> Self {
        self.since = seq;
        self
    }

    /// At most this many.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// The requests, oldest first.
    pub fn list(&self) -> Vec<InboundRequest> {
        self.state
            .inbound_where(self.since, self.limit, |r| self.keeps(r))
    }

    /// How many there are (nothing is copied).
    pub fn count(&self) -> usize {
        self.state
            .inbound_count(self.since, |r| self.keeps(r))
            .min(self.limit)
    }

    fn keeps(&self, r: &InboundRequest) -> bool {
        self.task.is_none_or(|t| r.task_id == Some(t))
            && self.endpoint.as_deref().is_none_or(|e| r.endpoint == e)
            && (self.actions.is_empty()
                || r.action
                    .as_deref()
                    .is_some_and(|a| self.actions.iter().any(|x| x == a)))
    }
}

impl IntoIterator for Requests<'_> {
    type Item = InboundRequest;
    type IntoIter = std::vec::IntoIter<InboundRequest>;

    fn into_iter(self) -> Self::IntoIter {
        self.list().into_iter()
    }
}
