//! `in.php`: submitting a task.

use tokio::time::Instant;

use super::{Client, Endpoint, Idempotent};
use crate::error::{Error, ErrorKind};
use crate::retry::Jitter;
use crate::task::Task;
use crate::task_id::TaskId;
use crate::wire::{self, Reply};

const ZERO_BALANCE: &str = "ERROR_ZERO_BALANCE";
const NO_SLOT: &str = "ERROR_NO_SLOT_AVAILABLE";

impl Client {
    /// Submits a task to `in.php` and returns its id.
    ///
    /// The task is validated first (no request is sent for bad input). Token types go as a
    /// GET query, image, enterprise and Cloudflare Challenge types as a urlencoded POST.
    /// `pingback`, when given, is sent as the `pingback` parameter: the service calls that
    /// URL with `id` and `code` when the task is done.
    ///
    /// Retries, as the official SDK does:
    /// - transient failures (`ERROR_SERVER_ERROR`, `ERROR_INTERNAL_SERVER_ERROR`, HTTP 5xx,
    ///   connection errors) with exponential backoff and jitter;
    /// - `ERROR_ZERO_BALANCE` (CaptchaAI: all threads busy): asks `threadsinfo`; if
    ///   `working_threads >= threads` waits and retries within the busy budget, else fails
    ///   with [`ErrorKind::NoThreads`] ("no active plan");
    /// - `ERROR_NO_SLOT_AVAILABLE`: waits and retries within the busy budget.
    ///
    /// Codes that cannot heal (bad key, bad parameters, ...) are returned at once.
    ///
    /// ```no_run
    /// # async fn run(client: captchaai_client::Client) -> Result<(), captchaai_client::Error> {
    /// use captchaai_client::task::RecaptchaV2;
    ///
    /// let task = RecaptchaV2::new("6Le-wvkS", "https://example.com").into();
    /// let id = client
    ///     .submit(&task, Some("https://my.app/pingback?token=s3cret"))
    ///     .await?;
    /// let solution = client.poll(&task, &id).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn submit(&self, task: &Task, pingback: Option<&str>) -> Result<TaskId, Error> {
        task.validate()?;
        let mut params = vec![self.key_param()];
        params.extend(task.params());
        params.push(self.json_param());
        if let Some(url) = pingback {
            validate_pingback_url(url)?;
            params.push(("pingback", url.to_owned()));
        }
        let kind = task.kind();
        let mut jitter = self.submit_jitter();
        let started = Instant::now();
        loop {
            let body = self
                .call_retrying(
                    Endpoint::In,
                    kind.submit_method(),
                    &params,
                    Idempotent::No,
                    &mut jitter,
                )
                .await?;
            match wire::interpret(&body)? {
                Reply::Ok { request, .. } => {
                    let id = wire::task_id(&request)?;
                    self.remember_kind(id, kind);
                    tracing::debug!(%id, %kind, "submitted");
                    return Ok(id);
                }
                Reply::Error(code) if code == ZERO_BALANCE => {
                    self.diagnose_busy(&code).await?;
                    self.wait_for_thread(&code, started, &mut jitter).await?;
                }
                Reply::Error(code) if code == NO_SLOT => {
                    self.wait_for_thread(&code, started, &mut jitter).await?;
                }
                Reply::Error(code) => return Err(Error::from_api_code(&code)),
                Reply::NotReady => {
                    return Err(Error::unexpected("in.php answered CAPCHA_NOT_READY"));
                }
                Reply::Other(text) => {
                    return Err(Error::unexpected(format!(
                        "in.php answered {:?}",
                        crate::task_id::truncate(&text, 80)
                    )));
                }
            }
        }
    }

    /// After `ERROR_ZERO_BALANCE`: busy threads (retry) or a dead account (fail)?
    async fn diagnose_busy(&self, code: &str) -> Result<(), Error> {
        match self.threads_info().await {
            Ok(info) if info.working_threads >= info.threads => Ok(()),
            Ok(info) => Err(Error::new(
                ErrorKind::NoThreads,
                format!(
                    "account has no active plan ({} of {} threads in use)",
                    info.working_threads, info.threads
                ),
            )
            .with_code(code)),
            Err(e) if e.is_invalid_key() => Err(e),
            // 2captcha has no threadsinfo: there ERROR_ZERO_BALANCE means no funds.
            Err(e) if e.is_api() => Err(Error::new(
                ErrorKind::NoThreads,
                format!(
                    "no funds or no active plan (threadsinfo answered {})",
                    e.api_code().unwrap_or_default()
                ),
            )
            .with_code(code)),
            Err(e) => Err(e),
        }
    }

    /// Sleeps until the next busy retry, or fails once the busy budget is spent.
    async fn wait_for_thread(
        &self,
        code: &str,
        started: Instant,
        jitter: &mut Jitter,
    ) -> Result<(), Error> {
        let policy = &self.inner.retry;
        let waited = Instant::now().saturating_duration_since(started);
        if waited >= policy.busy_budget {
            let message = if policy.busy_budget.is_zero() {
                "all account threads are busy".to_owned()
            } else {
                format!("all account threads stayed busy for {waited:?}")
            };
            return Err(Error::new(ErrorKind::ThreadLimit, message).with_code(code));
        }
        let delay = policy.busy_delay(jitter).min(policy.busy_budget - waited);
        tracing::debug!(code, ?delay, "threads busy, waiting for a slot");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// The pingback URL must be an absolute http(s) URL: anything else would be sent to the
/// service and silently never called.
fn validate_pingback_url(url: &str) -> Result<(), Error> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        Error::bad_input(format!(
            "invalid pingback url {:?}",
            crate::task_id::truncate(url, 80)
        ))
        .with_source(e)
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::bad_input(
            "pingback url must be an absolute http(s) url",
        ));
    }
    Ok(())
}
