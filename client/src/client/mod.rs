//! [`Client`]: submit to `in.php`, poll `res.php`, account actions; one verb per file.
//!
//! - `submit.rs`: `in.php` with retries on transient errors and busy threads;
//! - `poll.rs`: `res.php?action=get`, once or in a loop with the per-method timing;
//! - `account.rs`: `threadsinfo`, `getbalance`, `reportgood` / `reportbad`.

mod account;
mod poll;
mod submit;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng as _;
use reqwest::Url;

pub use account::ThreadsInfo;

use crate::error::{Error, ErrorKind, block_length, is_transient_code};
use crate::retry::{Jitter, RetryPolicy};
use crate::task::{PollTiming, SubmitMethod, TaskKind};
use crate::wire::{self, Body, Reply};

/// Default overall polling deadline (the SDK's `max_poll_seconds`).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(180);
/// Default per-request HTTP timeout (the SDK's `network_timeout`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bodies larger than this are refused: no legitimate answer comes close.
const MAX_BODY_BYTES: usize = 1 << 20;
/// How many submitted task kinds the client remembers for [`Client::poll_once`].
const KIND_MEMORY: usize = 4096;

/// Builds a [`Client`].
///
/// ```
/// use std::time::Duration;
/// use captchaai_client::{Client, RetryPolicy};
///
/// let client = Client::builder("http://127.0.0.1:8080", "0123456789abcdef0123456789abcdef")
///     .json(false)
///     .deadline(Duration::from_secs(60))
///     .poll_timing_override(Duration::from_millis(10), Duration::from_millis(20))
///     .retry(RetryPolicy::none())
///     .seed(7)
///     .build()
///     .unwrap();
/// assert!(!client.json_mode());
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: String,
    http: Option<reqwest::Client>,
    json: bool,
    deadline: Duration,
    timing: Option<PollTiming>,
    retry: RetryPolicy,
    seed: Option<u64>,
    request_timeout: Duration,
    poll_jitter: Duration,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("json", &self.json)
            .field("deadline", &self.deadline)
            .field("timing", &self.timing)
            .field("retry", &self.retry)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Uses this `reqwest::Client` (its own timeouts, proxies, TLS roots) for every request.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// `json=1` (the default) or `json=0` (plain text). Both kinds of body are understood
    /// either way.
    pub fn json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    /// The overall polling deadline, counted from the start of polling (right after the
    /// submit); default 180 s.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Replaces the per-method initial wait and poll interval for every task.
    pub fn poll_timing_override(mut self, initial_wait: Duration, interval: Duration) -> Self {
        self.timing = Some(PollTiming::new(initial_wait, interval));
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`], the SDK's numbers).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Seeds the jitter, making every sleep reproducible. Without a seed one is drawn at
    /// random when the client is built.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Timeout of one HTTP request (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Random extra added to every poll wait, from the seeded jitter (default zero; the SDK
    /// adds up to 1 s).
    pub fn poll_jitter(mut self, jitter: Duration) -> Self {
        self.poll_jitter = jitter;
        self
    }

    /// Checks the settings and builds the client.
    ///
    /// Fails with [`ErrorKind::BadInput`] when the base URL is not an absolute `http(s)` URL
    /// without query or fragment, when the poll interval is zero, or when the API key contains
    /// characters that cannot be sent.
    pub fn build(self) -> Result<Client, Error> {
        let mut base = Url::parse(self.base_url.trim()).map_err(|e| {
            Error::bad_input(format!("invalid base url {:?}", self.base_url)).with_source(e)
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::bad_input(format!(
                "base url must be http or https, got {:?}",
                base.scheme()
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::bad_input(
                "base url must not carry a query or a fragment",
            ));
        }
        if base.cannot_be_a_base() || base.host_str().is_none() {
            return Err(Error::bad_input("base url has no host"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let in_url = base
            .join("in.php")
            .map_err(|e| Error::bad_input("cannot build the in.php url").with_source(e))?;
        let res_url = base
            .join("res.php")
            .map_err(|e| Error::bad_input("cannot build the res.php url").with_source(e))?;
        if self.api_key.chars().any(char::is_control) {
            return Err(Error::bad_input("api key contains control characters"));
        }
        if let Some(t) = self.timing
            && t.interval.is_zero()
        {
            return Err(Error::bad_input("poll interval must not be zero"));
        }
        let http = match self.http {
            Some(http) => http,
            None => {
                let mut builder = reqwest::Client::builder();
                let host = base.host_str().unwrap_or_default();
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let loopback = host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if loopback {
                    // A system proxy must not intercept a local mock.
                    builder = builder.no_proxy();
                }
                builder.build().map_err(|e| {
                    Error::new(ErrorKind::Network, "cannot build the http client").with_source(e)
                })?
            }
        };
        let seed = self.seed.unwrap_or_else(|| rand::rng().next_u64());
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                in_url,
                res_url,
                api_key: self.api_key,
                json: self.json,
                deadline: self.deadline,
                timing: self.timing,
                retry: self.retry,
                seed,
                request_timeout: self.request_timeout,
                poll_jitter: self.poll_jitter,
                submits: AtomicU64::new(0),
                kinds: Mutex::new(KindMemo::default()),
                blocked_until: Mutex::new(None),
            }),
        })
    }
}

/// A CaptchaAI client: cheap to clone (an `Arc` inside), safe to share between tasks.
///
/// Every wait goes through `tokio::time`, so the client runs under tokio's paused clock.
///
/// ```no_run
/// # async fn run() -> Result<(), captchaai_client::Error> {
/// use captchaai_client::{Client, Task};
/// use captchaai_client::task::Turnstile;
///
/// let client = Client::builder("https://ocr.captchaai.com", "0123456789abcdef0123456789abcdef")
///     .build()?;
/// let task: Task = Turnstile::new("0x4AAAAAAA", "https://example.com/login").into();
/// let solution = client.solve(&task).await?;
/// println!("token: {}", solution.token().unwrap_or_default());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    in_url: Url,
    res_url: Url,
    api_key: String,
    json: bool,
    deadline: Duration,
    timing: Option<PollTiming>,
    retry: RetryPolicy,
    seed: u64,
    request_timeout: Duration,
    poll_jitter: Duration,
    submits: AtomicU64,
    kinds: Mutex<KindMemo>,
    /// When the block the service last announced lifts (`ERROR: 1001` to `1004`): every
    /// request of the client waits for it, whichever task learnt of it, so that no task
    /// knocks while the account is blocked.
    blocked_until: Mutex<Option<tokio::time::Instant>>,
}

/// Remembers the kind of recently submitted tasks so `poll_once(&id)` can parse answers.
#[derive(Default)]
struct KindMemo {
    map: HashMap<crate::TaskId, TaskKind>,
    order: VecDeque<crate::TaskId>,
}

impl fmt::Debug for Client {
    /// The API key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("in_url", &self.inner.in_url.as_str())
            .field("res_url", &self.inner.res_url.as_str())
            .field("json", &self.inner.json)
            .field("deadline", &self.inner.deadline)
            .field("timing", &self.inner.timing)
            .field("retry", &self.inner.retry)
            .field("seed", &self.inner.seed)
            .finish_non_exhaustive()
    }
}

/// Which script a request goes to.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    In,
    Res,
}

impl Client {
    /// Starts building a client for the service at `base_url` (e.g.
    /// `https://ocr.captchaai.com` or a mock's `http://127.0.0.1:PORT`).
    pub fn builder(base_url: impl Into<String>, api_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            api_key: api_key.into(),
            http: None,
            json: true,
            deadline: DEFAULT_DEADLINE,
            timing: None,
            retry: RetryPolicy::default(),
            seed: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            poll_jitter: Duration::ZERO,
        }
    }

    /// True when requests carry `json=1`.
    pub fn json_mode(&self) -> bool {
        self.inner.json
    }

    /// The overall polling deadline.
    pub fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The jitter seed (the one given to the builder, or the one drawn at build time).
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The initial wait and interval used for tasks of this kind: the override when one is
    /// set, else the SDK's table.
    pub fn timing_for(&self, kind: TaskKind) -> PollTiming {
        self.inner.timing.unwrap_or_else(|| kind.timing())
    }

    fn json_param(&self) -> (&'static str, String) {
        ("json", if self.inner.json { "1" } else { "0" }.to_owned())
    }

    fn key_param(&self) -> (&'static str, String) {
        ("key", self.inner.api_key.clone())
    }

    fn remember_kind(&self, id: crate::TaskId, kind: TaskKind) {
        let mut memo = self
            .inner
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if memo.map.insert(id, kind).is_none() {
            memo.order.push_back(id);
            while memo.order.len() > KIND_MEMORY {
                if let Some(old) = memo.order.pop_front() {
                    memo.map.remove(&old);
                }
            }
        }
    }

    fn remembered_kind(&self, id: crate::TaskId) -> Option<TaskKind> {
        self.inner
            .kinds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .map
            .get(&id)
            .copied()
    }

    /// One HTTP request; returns the body text of a 2xx answer.
    async fn send(
        &self,
        endpoint: Endpoint,
        method: SubmitMethod,
        params: &[(&'static str, String)],
    ) -> Result<String, Error> {
        self.wait_out_block().await;
        let url = match endpoint {
            Endpoint::In => self.inner.in_url.clone(),
            Endpoint::Res => self.inner.res_url.clone(),
        };
        let request = match method {
            SubmitMethod::Get => self.inner.http.get(url).query(params),
            SubmitMethod::Post => self.inner.http.post(url).form(params),
        }
        .timeout(self.inner.request_timeout);
        let mut response = request.send().await.map_err(network_error)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Error::unexpected(format!(
                    "answer body larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(
                Error::new(ErrorKind::Network, "service answered an http failure")
                    .with_status(status.as_u16()),
            );
        }
        if !status.is_success() {
            return Err(
                Error::unexpected("service answered an unexpected http status")
                    .with_status(status.as_u16()),
            );
        }
        let text = String::from_utf8(body)
            .map_err(|e| Error::unexpected("answer body is not utf-8").with_source(e))?;
        self.note_block(&text);
        Ok(text)
    }

    /// Sleeps until the block the service announced lifts, if one is on.
    async fn wait_out_block(&self) {
        let until = *self
            .inner
            .blocked_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// An answer that announces a block (`ERROR: 1003`, plain or in JSON) pauses every
    /// request until it lifts.
    fn note_block(&self, text: &str) {
        let Some(at) = text.find("ERROR: 100") else {
            return;
        };
        let Some(length) = text.get(at..at + 11).and_then(block_length) else {
            return;
        };
        let until = tokio::time::Instant::now() + length;
        tracing::debug!(
            ?length,
            "the service blocked the account: pausing every request"
        );
        let mut blocked = self
            .inner
            .blocked_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if blocked.is_none_or(|b| b < until) {
            *blocked = Some(until);
        }
    }

    /// One request, decoded; transient failures (transport, HTTP 5xx/429, transient codes)
    /// are retried with exponential backoff per the retry policy. A request that is not
    /// `Idempotent` (a submit, a report) is not sent again after a timeout or a connection
    /// lost after sending: the service may have acted on it, and a second submit would be a
    /// second task (and a second thread) for one captcha.
    async fn call_retrying(
        &self,
        endpoint: Endpoint,
        method: SubmitMethod,
        params: &[(&'static str, String)],
        idempotent: Idempotent,
        jitter: &mut Jitter,
    ) -> Result<Body, Error> {
        let mut retries = 0u32;
        loop {
            let outcome = match self.send(endpoint, method, params).await {
                Ok(text) => match wire::decode(&text) {
                    Ok(body) => match wire::interpret(&body) {
                        Ok(Reply::Error(code)) if is_transient_code(&code) => {
                            Err(Error::from_api_code(&code))
                        }
                        // Bodies outside the status/request convention (threadsinfo) are
                        // judged by the caller.
                        _ => Ok(body),
                    },
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let err = match outcome {
                Ok(body) => return Ok(body),
                Err(e) if e.is_unanswered() && idempotent == Idempotent::No => {
                    return Err(e.with_message_suffix(
                        " (not retried: the service may have acted on the request)",
                    ));
                }
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(e),
            };
            if retries >= self.inner.retry.max_retries {
                return Err(if retries == 0 {
                    err
                } else {
                    err.with_message_suffix(&format!(" after {retries} retries"))
                });
            }
            retries += 1;
            let delay = self.inner.retry.backoff_delay(retries, jitter);
            tracing::debug!(
                ?endpoint,
                retry = retries,
                ?delay,
                error = %err,
                "transient failure, backing off"
            );
            tokio::time::sleep(delay).await;
        }
    }

    fn submit_jitter(&self) -> Jitter {
        let n = self.inner.submits.fetch_add(1, Ordering::Relaxed);
        // Submit streams and poll streams (keyed by task id) must not collide.
        Jitter::new(self.inner.seed, n ^ 0x5EED_0000_0000_0000)
    }

    fn task_jitter(&self, id: crate::TaskId) -> Jitter {
        Jitter::new(self.inner.seed, id.get())
    }
}

/// Whether sending a request twice is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Idempotent {
    /// A read (`get`, `threadsinfo`, `getbalance`): retried on any transient failure.
    Yes,
    /// A submit or a report: not retried once it may have reached the service.
    No,
}

fn network_error(e: reqwest::Error) -> Error {
    // `without_url`: GET urls carry the api key in their query.
    let message = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "cannot connect to the service"
    } else {
        "request to the service failed"
    };
    let mut err = Error::new(ErrorKind::Network, message);
    if let Some(status) = e.status() {
        err = err.with_status(status.as_u16());
    }
    if !e.is_connect() {
        // The request may have been sent (and acted on) before this failed.
        err = err.unanswered();
    }
    err.with_source(e.without_url())
}
