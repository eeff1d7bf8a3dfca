//! Test helpers (the `testing` feature): [`PingbackRecorder`], a pingback receiver on
//! `127.0.0.1` that records every callback and answers as the test says.
//!
//! ```
//! use std::time::Duration;
//! use captchaai_mock::{Distribution, MockServer, testing::PingbackRecorder};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockServer::builder()
//!     .solve_time(Distribution::Fixed(Duration::from_secs(5)))
//!     .start()
//!     .await?;
//! let recorder = PingbackRecorder::builder()
//!     .fail_first(1, 503) // each task's first callback gets a 503
//!     .clock(&mock)       // arrival times on the mock's clock
//!     .start()
//!     .await?;
//! let http = reqwest::Client::builder().no_proxy().build()?;
//! let submit = format!(
//!     "{}/in.php?key={}&method=turnstile&sitekey=0x4AAAAAAA&pageurl=https://example.com&pingback={}",
//!     mock.uri(),
//!     mock.key(),
//!     recorder.url("/hook"),
//! );
//! let id: u64 = http.get(submit).send().await?.text().await?[3..].parse()?;
//!
//! let got = recorder.wait_for(1, Duration::from_secs(30)).await?;
//! assert_eq!(got[0].param("id"), Some(id.to_string().as_str()));
//! assert_eq!(got[0].at, Duration::from_secs(5)); // solved after 5 s, delivered at once
//! assert_eq!(got[0].answered, 503);
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::IntoResponse,
};
use tokio::{net::TcpListener, sync::Notify, time::Instant};

use crate::inspect::MockHandle;

/// One request the recorder got: a callback as the receiver saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Callback {
    /// Arrival order at the recorder, from 0.
    pub seq: usize,
    /// HTTP method (`GET` or `POST` for callbacks).
    pub method: String,
    /// Path.
    pub path: String,
    /// The raw query string (`""` when none).
    pub query: String,
    /// Query parameters, in order.
    pub query_pairs: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// Form parameters from the body (POST), in order.
    pub form: Vec<(String, String)>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Arrival on the mock's simulated clock when the recorder was given one
    /// ([`RecorderBuilder::clock`]); otherwise the runtime's time since the recorder started.
    pub at: Duration,
    /// Arrival as a tokio instant (the runtime's clock: paused in a paused test).
    pub received: Instant,
    /// The status the recorder answered with (or was to answer, when it hangs).
    pub answered: u16,
    /// The address the callback came from (the sender's end of the connection): what a
    /// receiver's allow-list checks (see [`crate::MockServerBuilder::pingback_source`]).
    pub peer: SocketAddr,
}

impl Callback {
    /// The callback parameters: the body's for POST, the query's otherwise.
    pub fn params(&self) -> &[(String, String)] {
        if self.method == "POST" {
            &self.form
        } else {
            &self.query_pairs
        }
    }

    /// One callback parameter (`id` or `code`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the recorder answers one callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status (the body is `OK`).
    pub status: u16,
    /// How long to wait before answering (the runtime's clock).
    pub delay: Duration,
    /// Never answer (the mock's attempt times out).
    pub hang: bool,
}

impl Reply {
    /// 200 at once.
    pub const OK: Reply = Reply {
        status: 200,
        delay: Duration::ZERO,
        hang: false,
    };

    /// This status, at once.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::OK
        }
    }

    /// 200, after a wait.
    pub fn slow(delay: Duration) -> Reply {
        Reply { delay, ..Reply::OK }
    }

    /// No answer at all.
    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::OK
        }
    }
}

/// What a callback is answered with: its reply, and which attempt of its `id` it is (1 =
/// the first callback carrying that id).
type Plan = dyn Fn(&Callback, u32) -> Reply + Send + Sync;

struct Shared {
    callbacks: Mutex<Vec<Callback>>,
    /// Callbacks seen per `id`, for answers per attempt.
    attempts: Mutex<HashMap<String, u32>>,
    plan: Box<Plan>,
    clock: Option<MockHandle>,
    started: Instant,
    arrived: Notify,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A pingback receiver on `127.0.0.1`: records every request (GET query or POST form, with
/// its arrival time) and answers as its builder says (200 at once by default). Cheap to
/// clone; it serves until the runtime stops.
#[derive(Clone)]
pub struct PingbackRecorder {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PingbackRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PingbackRecorder")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The recorder took too long: what it had received by then.
#[derive(Clone, Debug, thiserror::Error)]
#[error("expected {expected} callbacks within {waited:?}, got {}: {got:?}", got.len())]
pub struct WaitTimeout {
    /// How many were awaited.
    pub expected: usize,
    /// How long it waited.
    pub waited: Duration,
    /// What arrived.
    pub got: Vec<Callback>,
}

impl PingbackRecorder {
    /// A recorder answering 200 `OK` at once, on a free port.
    pub async fn start() -> std::io::Result<PingbackRecorder> {
        PingbackRecorder::builder().start().await
    }

    /// A recorder answering as configured.
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder::default()
    }

    /// `http://127.0.0.1:PORT{path}`: a callback URL to submit.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything received so far, in arrival order.
    pub fn callbacks(&self) -> Vec<Callback> {
        self.shared
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The callbacks carrying this `id`.
    pub fn callbacks_for(&self, id: u64) -> Vec<Callback> {
        let id = id.to_string();
        self.callbacks()
            .into_iter()
            .filter(|c| c.param("id") == Some(id.as_str()))
            .collect()
    }

    /// The most requests it ever handled at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` callbacks have arrived (for at most `timeout` of the
    /// runtime's clock, which a paused test advances), and returns every one so far.
    pub async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Callback>, WaitTimeout> {
        let deadline = Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            let got = self.callbacks();
            if got.len() >= n {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(WaitTimeout {
                    expected: n,
                    waited: timeout,
                    got: self.callbacks(),
                });
            }
        }
    }

    fn serve(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<PingbackRecorder> {
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(record).with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Ok(PingbackRecorder { addr, shared })
    }
}

/// Configures a [`PingbackRecorder`]: how it answers (a status, a failure for each id's
/// first attempts, latency, no answer at all, or any function of the callback) and which
/// clock stamps arrivals.
#[derive(Default)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct RecorderBuilder {
    plan: Option<Box<Plan>>,
    status: Option<u16>,
    fail_first: Option<(u32, u16)>,
    latency: Duration,
    hang: bool,
    clock: Option<MockHandle>,
    listener: Option<TcpListener>,
}

impl std::fmt::Debug for RecorderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderBuilder").finish_non_exhaustive()
    }
}

impl RecorderBuilder {
    /// Answers every callback with this status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Answers the first `n` callbacks of each task id with `status`, later ones as
    /// otherwise configured (a receiver that recovers: what retries are for).
    pub fn fail_first(mut self, n: u32, status: u16) -> Self {
        self.fail_first = Some((n, status));
        self
    }

    /// Waits this long before every answer.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Never answers (the mock's attempts time out).
    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }

    /// Answers as `plan` says, given the callback and which attempt of its `id` it is (1 =
    /// the first); overrides the settings above. The plan runs while the recorder holds its
    /// list (so callback numbers follow arrival order): it must not call the recorder.
    pub fn reply_with(
        mut self,
        plan: impl Fn(&Callback, u32) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.plan = Some(Box::new(plan));
        self
    }

    /// Stamps arrivals ([`Callback::at`]) with this mock's simulated clock.
    pub fn clock(mut self, mock: &MockHandle) -> Self {
        self.clock = Some(mock.clone());
        self
    }

    /// Serves on this listener instead of a fresh `127.0.0.1:0` one.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Starts serving.
    pub async fn start(self) -> std::io::Result<PingbackRecorder> {
        let listener = match self.listener {
            Some(l) => l,
            None => TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?,
        };
        let plan: Box<Plan> = match self.plan {
            Some(plan) => plan,
            None => {
                let base = Reply {
                    status: self.status.unwrap_or(200),
                    delay: self.latency,
                    hang: self.hang,
                };
                let fail_first = self.fail_first;
                Box::new(move |_: &Callback, attempt: u32| match fail_first {
                    Some((n, status)) if attempt <= n => Reply { status, ..base },
                    _ => base,
                })
            }
        };
        let shared = Arc::new(Shared {
            callbacks: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
            plan,
            clock: self.clock,
            started: Instant::now(),
            arrived: Notify::new(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        PingbackRecorder::serve(listener, shared)
    }
}

struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn pairs(s: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(s)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn record(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let query = uri.query().unwrap_or("").to_owned();
    let received = Instant::now();
    let mut callback = Callback {
        seq: 0,
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query_pairs: pairs(query.as_bytes()),
        query,
        form: if method == Method::POST {
            pairs(&body)
        } else {
            Vec::new()
        },
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        at: match &shared.clock {
            Some(mock) => mock.now(),
            None => received - shared.started,
        },
        received,
        answered: 0,
        peer,
    };
    // Numbered, answered and listed under one lock, so numbers follow the list's order
    // whatever the concurrency (the plan runs under it: it must not call the recorder).
    let reply = {
        let mut callbacks = shared.callbacks.lock().unwrap_or_else(|p| p.into_inner());
        callback.seq = callbacks.len();
        let attempt = {
            let mut attempts = shared.attempts.lock().unwrap_or_else(|p| p.into_inner());
            let n = attempts
                .entry(callback.param("id").unwrap_or("").to_owned())
                .or_default();
            *n += 1;
            *n
        };
        let reply = (shared.plan)(&callback, attempt);
        callback.answered = reply.status;
        callbacks.push(callback);
        reply
    };
    shared.arrived.notify_waiters();
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(shared.clone());
    if reply.hang {
        std::future::pending::<()>().await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, "OK")
}
