//! Expectations, in the manner of wiremock-rs: a test says what it expects to happen
//! (pingback attempts, requests, tasks in a state, counted), and the mock checks it when the
//! server (or a scoped guard) drops, panicking with what did happen when it did not.
//!
//! An expectation is a count over the mock's journals or tasks at the moment it is checked;
//! pingbacks arrive asynchronously, so a test that checks before the end can wait for one
//! with [`ExpectationGuard::wait_until_satisfied`].

use std::{
    fmt::{self, Write as _},
    ops::{Range, RangeBounds, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive},
    time::Duration,
};

use crate::{inspect::MockHandle, state::TaskState};

/// How many times something must happen: an exact number (`2`) or a range (`1..`,
/// `2..=3`, `..5`, `..`), as wiremock-rs's `Times`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    min: u64,
    /// Inclusive; `None`: no upper bound.
    max: Option<u64>,
}

impl Times {
    /// The count as written reads "1" next to the noun: `1`, `at least 1`, `at most 1`.
    fn singular(self) -> bool {
        matches!((self.min, self.max), (1, Some(1) | None) | (0, Some(1)))
    }

    fn contains(self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }

    fn from_bounds(r: impl RangeBounds<u64>) -> Times {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let min = match r.start_bound() {
            Included(&n) => n,
            Excluded(&n) => n.saturating_add(1),
            Unbounded => 0,
        };
        let max = match r.end_bound() {
            Included(&n) => Some(n),
            Excluded(&n) => Some(n.saturating_sub(1)),
            Unbounded => None,
        };
        Times { min, max }
    }
}

impl From<u64> for Times {
    fn from(n: u64) -> Times {
        Times {
            min: n,
            max: Some(n),
        }
    }
}

macro_rules! times_from_ranges {
    ($($range:ty),*) => {
        $(impl From<$range> for Times {
            fn from(r: $range) -> Times {
                Times::from_bounds(r)
            }
        })*
    };
}

times_from_ranges!(
    Range<u64>,
    RangeFrom<u64>,
    RangeInclusive<u64>,
    RangeTo<u64>,
    RangeToInclusive<u64>,
    RangeFull
);

/// `2`, `between 1 and 3`, `at least 1`, `at most 4`, `any number of`.
impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (0, None) => f.write_str("any number of"),
            (min, Some(max)) if min == max => write!(f, "{min}"),
            (0, Some(max)) => write!(f, "at most {max}"),
            (min, None) => write!(f, "at least {min}"),
            (min, Some(max)) => write!(f, "between {min} and {max}"),
        }
    }
}

/// What an expectation counts.
#[derive(Clone, Debug)]
enum Subject {
    /// Pingback attempts sent (attempt 1 and up), optionally only those answered 2xx.
    Pingbacks { task: Option<u64>, delivered: bool },
    /// API requests, narrowed by endpoint, action and task.
    Requests {
        endpoint: Option<String>,
        actions: Vec<String>,
        task: Option<u64>,
    },
    /// Stored tasks in a state.
    Tasks { state: TaskState },
}

/// Something a test expects of the mock, counted: pingback attempts, API requests, tasks in
/// a state. Give it to [`crate::MockServer::expect`] (checked when the server drops) or
/// [`crate::MockServer::expect_scoped`] (checked when the guard drops).
///
/// A failure names what was expected and lists what did happen, one line each:
///
/// ```text
/// `retried`: expected 2 pingback attempts for task 74000000001, saw 1:
///   attempt 1 at 5s GET http://127.0.0.1:41234/hook?id=74000000001&code=0.Xc… -> delivered 200 (1.1 ms)
/// ```
///
/// ```
/// use std::time::Duration;
/// use captchaai_mock::{Distribution, Expectation, MockServer, TaskState};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = MockServer::builder()
///     .solve_time(Distribution::Fixed(Duration::from_secs(5)))
///     .start()
///     .await?;
/// mock.expect(Expectation::submits().times(2));
/// mock.expect(Expectation::tasks_in(TaskState::Solved).times(2));
/// mock.expect(Expectation::polls().times(..=4).named("polite polling"));
///
/// let http = reqwest::Client::builder().no_proxy().build()?;
/// let submit = format!(
///     "{}/in.php?key={}&method=turnstile&sitekey=0x4AAAAAAA&pageurl=https://example.com",
///     mock.uri(),
///     mock.key()
/// );
/// for _ in 0..2 {
///     http.get(&submit).send().await?;
/// }
/// tokio::time::sleep(Duration::from_secs(5)).await;
/// mock.verify(); // or let the drop check it
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "an expectation does nothing until given to a server"]
pub struct Expectation {
    name: Option<String>,
    subject: Subject,
    times: Times,
}

impl Expectation {
    fn new(subject: Subject) -> Expectation {
        Expectation {
            name: None,
            subject,
            times: Times::from_bounds(1..),
        }
    }

    /// Pingback attempts the mock sent (at least one, unless [`Expectation::times`] says
    /// otherwise): every attempt counts, retries and duplicates included; callbacks dropped
    /// or shed were never sent and do not.
    pub fn pingback_attempts() -> Expectation {
        Expectation::new(Subject::Pingbacks {
            task: None,
            delivered: false,
        })
    }

    /// API requests of any kind; narrow them with [`Expectation::endpoint`],
    /// [`Expectation::action`] and [`Expectation::for_task`].
    pub fn requests() -> Expectation {
        Expectation::new(Subject::Requests {
            endpoint: None,
            actions: Vec::new(),
            task: None,
        })
    }

    /// Submits: requests to `in.php`.
    pub fn submits() -> Expectation {
        Expectation::requests().endpoint("in.php")
    }

    /// Polls: `res.php` requests with `action=get` or `get2`.
    pub fn polls() -> Expectation {
        Expectation::requests()
            .endpoint("res.php")
            .action("get")
            .action("get2")
    }

    /// Stored tasks in a state when checked.
    pub fn tasks_in(state: TaskState) -> Expectation {
        Expectation::new(Subject::Tasks { state })
    }

    /// Only those about one task (pingback attempts and requests).
    pub fn for_task(mut self, id: u64) -> Expectation {
        match &mut self.subject {
            Subject::Pingbacks { task, .. } | Subject::Requests { task, .. } => *task = Some(id),
            Subject::Tasks { .. } => {}
        }
        self
    }

    /// Only requests to this endpoint: `in.php`, `res.php` or `solve.php`.
    pub fn endpoint(mut self, name: &str) -> Expectation {
        if let Subject::Requests { endpoint, .. } = &mut self.subject {
            *endpoint = Some(name.to_owned());
        }
        self
    }

    /// Only requests with this `action` (`res.php`: `getbalance`, `reportbad`, ...) or
    /// `method` (`in.php`: `turnstile`, `userrecaptcha`, ...); several calls accept any of
    /// them.
    pub fn action(mut self, name: &str) -> Expectation {
        if let Subject::Requests { actions, .. } = &mut self.subject {
            actions.push(name.to_owned());
        }
        self
    }

    /// Only pingback attempts the receiver answered 2xx.
    pub fn delivered(mut self) -> Expectation {
        if let Subject::Pingbacks { delivered, .. } = &mut self.subject {
            *delivered = true;
        }
        self
    }

    /// How many (default: at least one): `2`, `1..=3`, `2..`, `..5`, `0`.
    pub fn times(mut self, times: impl Into<Times>) -> Expectation {
        self.times = times.into();
        self
    }

    /// A name shown in the failure message.
    pub fn named(mut self, name: impl Into<String>) -> Expectation {
        self.name = Some(name.into());
        self
    }

    /// What it counts, for messages: `pingback attempts for task 74000000001`.
    fn describe(&self) -> String {
        let one = self.times.singular();
        match &self.subject {
            Subject::Pingbacks { task, delivered } => {
                let mut s = String::from(match (delivered, one) {
                    (false, true) => "pingback attempt",
                    (false, false) => "pingback attempts",
                    (true, true) => "pingback attempt answered 2xx",
                    (true, false) => "pingback attempts answered 2xx",
                });
                if let Some(t) = task {
                    let _ = write!(s, " for task {t}");
                }
                s
            }
            Subject::Requests {
                endpoint,
                actions,
                task,
            } => {
                let is_poll = endpoint.as_deref() == Some("res.php") && *actions == ["get", "get2"];
                let mut s = String::from(match (is_poll, one) {
                    (true, true) => "poll (res.php get)",
                    (true, false) => "polls (res.php get)",
                    (false, true) => "request",
                    (false, false) => "requests",
                });
                if !is_poll {
                    match endpoint {
                        Some(e) => {
                            let _ = write!(s, " to {e}");
                        }
                        None if actions.is_empty() => s.insert_str(0, "API "),
                        None => {}
                    }
                    if !actions.is_empty() {
                        let _ = write!(s, " ({})", actions.join(" or "));
                    }
                }
                if let Some(t) = task {
                    let _ = write!(s, " for task {t}");
                }
                s
            }
            Subject::Tasks { state } => {
                let noun = if one { "task" } else { "tasks" };
                format!("{noun} {}", state_name(*state))
            }
        }
    }

    /// What happened that it counts, one line each.
    fn observe(&self, mock: &MockHandle) -> Vec<String> {
        match &self.subject {
            Subject::Pingbacks { task, delivered } => {
                let mut q = mock.pingbacks();
                if let Some(t) = task {
                    q = q.for_task(*t);
                }
                q.into_iter()
                    .filter(|a| {
                        a.was_sent()
                            && (!delivered
                                || a.outcome.status().is_some_and(|s| (200..300).contains(&s)))
                    })
                    .map(|a| a.to_string())
                    .collect()
            }
            Subject::Requests {
                endpoint,
                actions,
                task,
            } => {
                let mut q = mock.journal();
                if let Some(e) = endpoint {
                    q = q.endpoint(e);
                }
                for a in actions {
                    q = q.action(a);
                }
                if let Some(t) = task {
                    q = q.for_task(*t);
                }
                q.into_iter().map(|r| r.to_string()).collect()
            }
            Subject::Tasks { state } => mock
                .tasks()
                .into_iter()
                .filter(|t| t.state == *state)
                .map(|t| {
                    format!(
                        "task {} ({}, submitted at {} ms)",
                        t.id,
                        t.kind.name(),
                        t.submitted_at_ms
                    )
                })
                .collect(),
        }
    }

    /// `None` when met; else the failure message.
    fn check(&self, mock: &MockHandle) -> Option<String> {
        let seen = self.observe(mock);
        if self.times.contains(seen.len() as u64) {
            return None;
        }
        let mut msg = String::new();
        if let Some(name) = &self.name {
            let _ = write!(msg, "`{name}`: ");
        }
        let _ = write!(msg, "expected {} {}, saw ", self.times, self.describe());
        if seen.is_empty() {
            msg.push_str("none");
            return Some(msg);
        }
        let _ = write!(msg, "{}:", seen.len());
        const SHOWN: usize = 20;
        for line in seen.iter().take(SHOWN) {
            let _ = write!(msg, "\n  {line}");
        }
        if seen.len() > SHOWN {
            let _ = write!(msg, "\n  ... and {} more", seen.len() - SHOWN);
        }
        Some(msg)
    }
}

fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Queued => "queued",
        TaskState::Pending => "pending",
        TaskState::Solved => "solved",
        TaskState::Failed => "failed",
    }
}

/// Unmet expectations: each one's message, with what did happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Unsatisfied {
    message: String,
}

/// Checks every expectation; the unmet ones are the error.
pub(crate) fn verify_all(
    mock: &MockHandle,
    expectations: &[Expectation],
) -> Result<(), Unsatisfied> {
    let failures: Vec<String> = expectations.iter().filter_map(|e| e.check(mock)).collect();
    match failures.as_slice() {
        [] => Ok(()),
        [one] => Err(Unsatisfied {
            message: one.clone(),
        }),
        many => Err(Unsatisfied {
            message: format!(
                "{} expectations unmet:\n{}",
                many.len(),
                many.iter()
                    .map(|m| format!("- {m}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }),
    }
}

/// An expectation for part of a test ([`crate::MockServer::expect_scoped`]): checked when
/// the guard drops, panicking with what did happen (unless the thread already panics).
///
/// ```
/// use std::time::Duration;
/// use captchaai_mock::{Distribution, Expectation, MockServer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = MockServer::builder()
///     .solve_time(Distribution::Fixed(Duration::from_secs(5)))
///     .start()
///     .await?;
/// let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?; // refuses nothing
/// let hook = format!("http://{}/hook", receiver.local_addr()?);
/// # tokio::spawn(async move {
/// #     let app = axum::Router::new().route("/hook", axum::routing::get(|| async { "OK" }));
/// #     axum::serve(receiver, app).await
/// # });
/// let http = reqwest::Client::builder().no_proxy().build()?;
/// let submit = format!(
///     "{}/in.php?key={}&method=turnstile&sitekey=0x4AAAAAAA&pageurl=https://example.com&pingback={hook}",
///     mock.uri(),
///     mock.key()
/// );
/// let id: u64 = http.get(submit).send().await?.text().await?[3..].parse()?;
///
/// let guard = mock.expect_scoped(Expectation::pingback_attempts().for_task(id).times(1));
/// // The callback goes out when the task is solved, 5 simulated seconds from now.
/// guard.wait_until_satisfied(Duration::from_secs(10)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a scoped expectation is checked when the guard drops"]
pub struct ExpectationGuard {
    mock: MockHandle,
    expectation: Expectation,
}

impl ExpectationGuard {
    pub(crate) fn new(mock: MockHandle, expectation: Expectation) -> Self {
        ExpectationGuard { mock, expectation }
    }

    /// Checks the expectation now.
    pub fn check(&self) -> Result<(), Unsatisfied> {
        verify_all(&self.mock, std::slice::from_ref(&self.expectation))
    }

    /// As [`ExpectationGuard::check`], panicking with the message when unmet.
    pub fn verify(&self) {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
    }

    /// Waits until the expectation is met, checking every 10 ms of the runtime's clock (tokio's
    /// paused clock advances through the wait), for at most `timeout`; the error is the
    /// message as it stood then.
    pub async fn wait_until_satisfied(&self, timeout: Duration) -> Result<(), Unsatisfied> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let checked = self.check();
            if checked.is_ok() || tokio::time::Instant::now() >= deadline {
                return checked;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for ExpectationGuard {
    fn drop(&mut self) {
        if let Err(e) = self.check() {
            if std::thread::panicking() {
                tracing::warn!("{e}");
            } else {
                panic!("{e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_counts() {
        assert_eq!(Times::from(2).to_string(), "2");
        assert_eq!(Times::from(1..=3).to_string(), "between 1 and 3");
        assert_eq!(Times::from(1..4).to_string(), "between 1 and 3");
        assert_eq!(Times::from(1..).to_string(), "at least 1");
        assert_eq!(Times::from(..=4).to_string(), "at most 4");
        assert_eq!(Times::from(..).to_string(), "any number of");
        assert!(Times::from(2..).contains(7) && !Times::from(2..).contains(1));
        assert!(Times::from(0).contains(0) && !Times::from(0).contains(1));
    }

    #[test]
    fn descriptions_agree_in_number() {
        let e = Expectation::pingback_attempts().for_task(7).times(2);
        assert_eq!(e.describe(), "pingback attempts for task 7");
        let e = Expectation::submits().times(1);
        assert_eq!(e.describe(), "request to in.php");
        let e = Expectation::polls().for_task(3).times(1);
        assert_eq!(e.describe(), "poll (res.php get) for task 3");
        let e = Expectation::tasks_in(TaskState::Solved).times(3);
        assert_eq!(e.describe(), "tasks solved");
        let e = Expectation::requests().times(2);
        assert_eq!(e.describe(), "API requests");
        let e = Expectation::requests()
            .endpoint("res.php")
            .action("reportbad")
            .times(0);
        assert_eq!(e.describe(), "requests to res.php (reportbad)");
        let e = Expectation::requests().action("turnstile").times(1);
        assert_eq!(e.describe(), "request (turnstile)");
        let e = Expectation::polls().times(1..);
        assert_eq!(e.describe(), "poll (res.php get)");
        let e = Expectation::polls().times(1..3);
        assert_eq!(e.describe(), "polls (res.php get)");
    }
}
