//! `res.php?action=get`: polling for a result.

use std::time::Duration;

use tokio::time::Instant;

use super::{Client, Endpoint};
use crate::error::Error;
use crate::solution::Solution;
use crate::task::{SubmitMethod, Task, TaskKind};
use crate::task_id::TaskId;
use crate::wire::{self, Reply};

const PROXY_CONNECTION_FAILED: &str = "ERROR_PROXY_CONNECTION_FAILED";

impl Client {
    /// One `res.php?action=get` request: `Ok(None)` while the task is not ready.
    ///
    /// No retry and no sleep: exactly one request. Errors keep their API code
    /// (`ERROR_CAPTCHA_UNSOLVABLE` is [`crate::ErrorKind::Unsolvable`]). The answer is parsed
    /// by the shape of the task's method when this client submitted the task (it remembers the
    /// last few thousand), and by the look of the answer otherwise.
    ///
    /// ```no_run
    /// # async fn run(client: captchaai_client::Client) -> Result<(), captchaai_client::Error> {
    /// use captchaai_client::TaskId;
    ///
    /// match client.poll_once(&TaskId::new(2122988149)).await? {
    ///     Some(solution) => println!("{}", solution.raw()),
    ///     None => println!("not ready yet"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn poll_once(&self, task_id: &TaskId) -> Result<Option<Solution>, Error> {
        let kind = self.remembered_kind(*task_id);
        self.poll_once_as(kind, task_id).await
    }

    /// As [`Client::poll_once`], parsing the answer as `kind` answers are shaped (`None`:
    /// guess from the answer).
    pub async fn poll_once_as(
        &self,
        kind: Option<TaskKind>,
        task_id: &TaskId,
    ) -> Result<Option<Solution>, Error> {
        let params = [
            self.key_param(),
            ("action", "get".to_owned()),
            ("id", task_id.to_string()),
            self.json_param(),
        ];
        let text = self.send(Endpoint::Res, SubmitMethod::Get, &params).await?;
        let body = wire::decode(&text)?;
        match wire::interpret(&body)? {
            Reply::Ok {
                request,
                fields,
                json,
            } => Solution::from_response(kind, *task_id, request, fields, json).map(Some),
            Reply::NotReady => Ok(None),
            Reply::Error(code) => Err(Error::from_api_code(&code)),
            Reply::Other(text) => Err(Error::unexpected(format!(
                "res.php answered {:?}",
                crate::task_id::truncate(&text, 80)
            ))),
        }
    }

    /// Polls until the task is solved, fails, or the deadline passes.
    ///
    /// Waits the method's initial wait (or the override), then polls every interval.
    /// `CAPCHA_NOT_READY` and `ERROR_PROXY_CONNECTION_FAILED` keep polling; transient
    /// failures back off exponentially (at most `max_retries` in a row); anything else ends
    /// the loop. When the next poll would fall at or after the deadline the loop sleeps until the
    /// deadline and fails with [`crate::ErrorKind::Timeout`], so the timeout is raised on time
    /// and no poll comes closer than one interval to the previous one.
    pub async fn poll(&self, task: &Task, task_id: &TaskId) -> Result<Solution, Error> {
        let kind = task.kind();
        self.remember_kind(*task_id, kind);
        let timing = self.timing_for(kind);
        let deadline = Instant::now() + self.inner.deadline;
        self.poll_until(Some(kind), task_id, timing.initial_wait, deadline)
            .await
    }

    /// Submits and polls: the whole solve, with no pingback.
    ///
    /// ```no_run
    /// # async fn run(client: captchaai_client::Client) -> Result<(), captchaai_client::Error> {
    /// use captchaai_client::task::Geetest;
    ///
    /// let task = Geetest::new("gt", "challenge", "https://example.com").into();
    /// let solution = client.solve(&task).await?;
    /// let validate = &solution.object().expect("geetest answers are objects")["validate"];
    /// # Ok(())
    /// # }
    /// ```
    pub async fn solve(&self, task: &Task) -> Result<Solution, Error> {
        let id = self.submit(task, None).await?;
        self.poll(task, &id).await
    }

    /// The polling loop: the first poll after `first_delay`, then one per interval of the
    /// kind's timing, until `deadline`.
    pub(crate) async fn poll_until(
        &self,
        kind: Option<TaskKind>,
        task_id: &TaskId,
        first_delay: Duration,
        deadline: Instant,
    ) -> Result<Solution, Error> {
        let interval = match kind {
            Some(kind) => self.timing_for(kind).interval,
            None => self
                .inner
                .timing
                .map_or(Duration::from_secs(5), |t| t.interval),
        };
        let mut jitter = self.task_jitter(*task_id);
        let mut next = Instant::now() + first_delay + jitter.up_to(self.inner.poll_jitter);
        let mut transient_in_a_row = 0u32;
        let timeout =
            || Error::timeout(format!("no result for task {task_id} before the deadline"));
        loop {
            if next >= deadline {
                tokio::time::sleep_until(deadline).await;
                return Err(timeout());
            }
            tokio::time::sleep_until(next).await;
            let outcome =
                match tokio::time::timeout_at(deadline, self.poll_once_as(kind, task_id)).await {
                    Ok(outcome) => outcome,
                    Err(_elapsed) => return Err(timeout()),
                };
            let pause = match outcome {
                Ok(Some(solution)) => return Ok(solution),
                Ok(None) => {
                    transient_in_a_row = 0;
                    interval
                }
                Err(e) if e.api_code() == Some(PROXY_CONNECTION_FAILED) => {
                    tracing::debug!(%task_id, "proxy connection failed, still polling");
                    transient_in_a_row = 0;
                    interval
                }
                Err(e) if e.is_transient() => {
                    transient_in_a_row += 1;
                    if transient_in_a_row > self.inner.retry.max_retries {
                        return Err(e.with_message_suffix(&format!(
                            " after {} retries",
                            transient_in_a_row - 1
                        )));
                    }
                    let delay = self
                        .inner
                        .retry
                        .backoff_delay(transient_in_a_row, &mut jitter);
                    tracing::debug!(%task_id, ?delay, error = %e, "transient poll failure");
                    // Never poll faster than the interval, even while backing off.
                    delay.max(interval)
                }
                Err(e) => return Err(e),
            };
            next = Instant::now() + pause + jitter.up_to(self.inner.poll_jitter);
        }
    }
}
