//! [`Solver`]: a [`Client`] plus a [`ResultStore`] fed by a pingback receiver, with a
//! [`Strategy`] deciding how results are obtained.
//!
//! Every path ends in the store: a polled result is recorded there before it is returned, so
//! the store holds exactly one result per task (the first) and a pingback arriving after a
//! polled result is an acknowledged duplicate that changes nothing. The task id is registered
//! right after the submit returns; a pingback that arrived even earlier is already in the
//! store and is found at once.
//!
//! A pingback carries only `id` and `code`: a result that came that way has no
//! `user_agent` or `result` field (reCAPTCHA Enterprise, Cloudflare Challenge, CaptchaFox).
//! Where the answer is useless without the browser's user agent, use
//! [`Strategy::PollOnly`], or read it with [`Client::poll_once`] after the pingback.
//!
//! The deadline covers waiting for the result; the submit before it is bounded by the
//! retry policy (transient errors) and its busy budget (busy threads).

use std::time::Duration;

use tokio::time::Instant;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::receiver::{ResultStore, TaskResult};
use crate::solution::Solution;
use crate::task::{Task, TaskKind};
use crate::task_id::TaskId;

/// How a [`Solver`] obtains results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Poll `res.php` only (no pingback URL is sent).
    PollOnly,
    /// Send a pingback URL and wait on the store until the deadline; never poll.
    PingbackOnly,
    /// Send a pingback URL; if no result arrived within `quiet_period` after the submit,
    /// start polling too. Whichever path yields first wins, and the other stops.
    ///
    /// The first poll never comes before the method's initial wait either (15 s for
    /// reCAPTCHA v2, see [`crate::task::TaskKind::timing`], or the client's override), so a
    /// short quiet period cannot make the client poll earlier than polling etiquette allows.
    PingbackWithFallback {
        /// How long to wait for the pingback before the first poll.
        quiet_period: Duration,
    },
}

impl Strategy {
    /// True when the strategy sends a pingback URL.
    pub fn uses_pingback(&self) -> bool {
        !matches!(self, Strategy::PollOnly)
    }
}

/// Solves tasks with a [`Strategy`]; cheap to clone.
///
/// The deadline of a solve is the client's [`deadline`](crate::ClientBuilder::deadline),
/// counted from the moment the submit returns.
///
/// ```no_run
/// # async fn run() -> Result<(), captchaai_client::Error> {
/// use std::time::Duration;
/// use captchaai_client::Client;
/// use captchaai_client::receiver::{Receiver, ReceiverConfig, ResultStore};
/// use captchaai_client::strategy::{Solver, Strategy};
/// use captchaai_client::task::Turnstile;
///
/// let store = ResultStore::new();
/// let config = ReceiverConfig::default().with_secret("s3cret")?;
/// let pingback = config.callback_url("https://my.app")?;
/// let receiver = Receiver::new(config, store.clone()); // serve receiver.router() in your app
///
/// let client = Client::builder("https://ocr.captchaai.com", "0123456789abcdef0123456789abcdef")
///     .build()?;
/// let solver = Solver::new(
///     client,
///     store,
///     Strategy::PingbackWithFallback { quiet_period: Duration::from_secs(30) },
/// )
/// .with_pingback_url(pingback);
/// let solution = solver
///     .solve(&Turnstile::new("0x4AAAAAAA", "https://example.com").into())
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Solver {
    client: Client,
    store: ResultStore,
    strategy: Strategy,
    pingback_url: Option<String>,
}

impl Solver {
    /// A solver; pingback strategies also need [`Solver::with_pingback_url`].
    pub fn new(client: Client, store: ResultStore, strategy: Strategy) -> Self {
        Solver {
            client,
            store,
            strategy,
            pingback_url: None,
        }
    }

    /// The URL sent as `pingback` (e.g. from
    /// [`ReceiverConfig::callback_url`](crate::receiver::ReceiverConfig::callback_url)).
    pub fn with_pingback_url(mut self, url: impl Into<String>) -> Self {
        self.pingback_url = Some(url.into());
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The store.
    pub fn store(&self) -> &ResultStore {
        &self.store
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Submits `task` (with the pingback URL when the strategy uses it) and registers its id
    /// in the store.
    pub async fn submit(&self, task: &Task) -> Result<TaskId, Error> {
        let pingback = if self.strategy.uses_pingback() {
            Some(self.pingback_url.as_deref().ok_or_else(|| {
                Error::bad_input("this strategy needs a pingback url (Solver::with_pingback_url)")
            })?)
        } else {
            None
        };
        let id = self.client.submit(task, pingback).await?;
        if let Err(e) = self.store.register(id).await {
            // The task exists now: its id matters more than its registration, which waiting
            // on it makes again.
            tracing::warn!(task_id = %id, error = %e, "submitted task not registered in the store");
        }
        Ok(id)
    }

    /// Submits and waits for the result.
    pub async fn solve(&self, task: &Task) -> Result<Solution, Error> {
        let id = self.submit(task).await?;
        self.wait_for(task, id).await
    }

    /// Waits for the result of a task submitted by [`Solver::submit`], per the strategy,
    /// until the client's deadline (counted from now).
    pub async fn wait_for(&self, task: &Task, task_id: TaskId) -> Result<Solution, Error> {
        let kind = task.kind();
        let deadline = Instant::now() + self.client.deadline();
        // An early pingback (arrived before the submit returned) is already here. A store
        // that cannot answer now is asked again by the strategy below.
        if let Ok(Some(result)) = self.store.get(task_id).await {
            return result.to_solution(kind);
        }
        match self.strategy {
            Strategy::PollOnly => {
                let first = self.client.timing_for(kind).initial_wait;
                let polled = self
                    .client
                    .poll_until(Some(kind), &task_id, first, deadline)
                    .await;
                self.settle(kind, task_id, polled).await
            }
            Strategy::PingbackOnly => self
                .store
                .wait_until(task_id, deadline)
                .await
                .and_then(|r| r.to_solution(kind)),
            Strategy::PingbackWithFallback { quiet_period } => {
                self.pingback_with_fallback(kind, task_id, quiet_period, deadline)
                    .await
            }
        }
    }

    async fn pingback_with_fallback(
        &self,
        kind: TaskKind,
        task_id: TaskId,
        quiet_period: Duration,
        deadline: Instant,
    ) -> Result<Solution, Error> {
        let initial_wait = self.client.timing_for(kind).initial_wait;
        let polling = async {
            let start = (Instant::now() + quiet_period.max(initial_wait)).min(deadline);
            tokio::time::sleep_until(start).await;
            tracing::debug!(%task_id, "no pingback within the quiet period, polling");
            self.client
                .poll_until(Some(kind), &task_id, Duration::ZERO, deadline)
                .await
        };
        let waiting = self.store.wait_until(task_id, deadline);
        tokio::pin!(polling, waiting);
        // `biased`: the store is checked first, and no random branch choice can make a
        // paused-clock run non-deterministic.
        let poll_error = tokio::select! {
            biased;
            result = &mut waiting => match result {
                Ok(result) => return result.to_solution(kind),
                // The store gave up on the task (its entry expired) or cannot be reached:
                // polling still decides.
                Err(_) => return self.settle(kind, task_id, polling.await).await,
            },
            polled = &mut polling => match polled {
                Ok(solution) => return self.settle(kind, task_id, Ok(solution)).await,
                Err(e) if settles_task(&e) || !may_still_come(&e) => {
                    return self.settle(kind, task_id, Err(e)).await;
                }
                Err(e) => e,
            },
        };
        // Polling failed in a way that says nothing about the task (network): the pingback
        // may still come until the deadline.
        tracing::debug!(%task_id, error = %poll_error, "polling failed, still waiting for the pingback");
        match waiting.await {
            Ok(result) => result.to_solution(kind),
            Err(timeout) if timeout.is_timeout() => Err(poll_error),
            Err(e) => Err(e),
        }
    }

    /// Records what polling found, then answers with what the store keeps (the first result,
    /// which may be a pingback that won the race).
    async fn settle(
        &self,
        kind: TaskKind,
        task_id: TaskId,
        polled: Result<Solution, Error>,
    ) -> Result<Solution, Error> {
        let kept: TaskResult = match polled {
            Ok(solution) => match self.store.record_solution(&solution).await {
                Ok(recorded) => recorded.into_winner(),
                Err(e) => {
                    // The application gets its answer even when the store cannot keep it.
                    tracing::warn!(%task_id, error = %e, "polled result not kept in the store");
                    return Ok(solution);
                }
            },
            Err(e) if settles_task(&e) => match e.api_code() {
                Some(code) => match self.store.record_failure(task_id, code).await {
                    Ok(recorded) => recorded.into_winner(),
                    Err(_) => return Err(e),
                },
                None => return Err(e),
            },
            Err(e) => {
                // A pingback may have won while the last poll was failing.
                return match self.store.get(task_id).await {
                    Ok(Some(result)) => result.to_solution(kind),
                    Ok(None) | Err(_) => Err(e),
                };
            }
        };
        kept.to_solution(kind)
    }
}

/// Errors that are the task's outcome, as a pingback would report it.
fn settles_task(e: &Error) -> bool {
    e.kind() == ErrorKind::Unsolvable
}

/// Errors after which a pingback may still arrive: the service may be fine and only our
/// polling path broken.
fn may_still_come(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Network | ErrorKind::UnexpectedAnswer | ErrorKind::Timeout
    )
}
