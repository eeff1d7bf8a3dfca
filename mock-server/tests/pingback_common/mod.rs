//! Shared pieces of the pingback tests: a recording receiver on loopback, a
//! mock configured for exact timing, and small submit helpers.
//!
//! Everything runs in the test's own (paused, `current_thread`) runtime, so
//! arrival times recorded with `tokio::time::Instant` are exact simulated
//! times: a callback due 7 s after start arrives at exactly 7 000 ms.

#![allow(dead_code, unreachable_pub)]

use std::{
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
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::IntoResponse,
};
use captchaai_mock::{
    Config, DEFAULT_KEY, MockServer,
    config::{AccountConfig, Dialect},
    dist::Distribution,
    methods::TaskKind,
    pingback::{DeliveryRecord, FaultRule},
};
use tokio::{
    net::{TcpListener, TcpSocket},
    time::Instant,
};

/// The solve time every test task gets (turnstile unless said otherwise).
pub const SOLVE: Duration = Duration::from_secs(5);

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    /// Arrival order at the receiver, from 0.
    pub seq: usize,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    /// Query parameters, in order.
    pub query_pairs: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// Form parameters from the body, in order.
    pub form: Vec<(String, String)>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Arrival time.
    pub at: Instant,
}

impl Hit {
    /// The callback parameters: the body for POST, the query for GET.
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

    /// Arrival in ms since `zero`.
    pub fn ms(&self, zero: Instant) -> u64 {
        (self.at - zero).as_millis() as u64
    }
}

/// What the receiver answers to one request.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// 200 at once.
    pub const OK: Reply = Reply {
        status: 200,
        delay: Duration::ZERO,
    };

    /// A status at once.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
        }
    }

    /// 200 after a wait.
    pub fn slow(delay: Duration) -> Reply {
        Reply { status: 200, delay }
    }
}

type Plan = dyn Fn(&Hit) -> Reply + Send + Sync;

struct Shared {
    hits: Mutex<Vec<Hit>>,
    plan: Box<Plan>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A callback receiver on `127.0.0.1` that records every request.
#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let query = uri.query().unwrap_or("").to_owned();
    let pairs = |s: &[u8]| -> Vec<(String, String)> {
        form_urlencoded::parse(s)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let hit = {
        let mut hits = shared.hits.lock().unwrap();
        let hit = Hit {
            seq: hits.len(),
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
            content_type,
            at: Instant::now(),
        };
        hits.push(hit.clone());
        hit
    };
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(shared.clone());
    let reply = (shared.plan)(&hit);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    (StatusCode::from_u16(reply.status).unwrap(), "OK")
}

impl Receiver {
    /// A receiver answering 200 "OK" at once.
    pub async fn start() -> Receiver {
        Receiver::with_plan(|_| Reply::OK).await
    }

    /// A receiver answering as `plan` says.
    pub async fn with_plan(plan: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::serve(listener, plan)
    }

    fn serve(listener: TcpListener, plan: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> Self {
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            hits: Mutex::new(Vec::new()),
            plan: Box::new(plan),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(record).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, shared }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Requests carrying this `id`.
    pub fn hits_for(&self, id: u64) -> Vec<Hit> {
        let id = id.to_string();
        self.hits()
            .into_iter()
            .filter(|h| h.param("id") == Some(id.as_str()))
            .collect()
    }

    /// The most requests it ever handled at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

/// A port that refuses connections (bound, not listening) until [`Refusing::listen`].
pub struct Refusing {
    socket: TcpSocket,
    addr: SocketAddr,
}

impl Refusing {
    /// Binds `127.0.0.1:0` without listening: connections are refused.
    pub fn bind() -> Refusing {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        Refusing { socket, addr }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts accepting on the same port, as a receiver answering 200.
    pub fn listen(self) -> Receiver {
        let listener = self.socket.listen(1024).unwrap();
        Receiver::serve(listener, |_| Reply::OK)
    }
}

/// A config for exact timing: the given seed and dialect, every kind solved
/// in exactly [`SOLVE`], an account with plenty of threads and balance.
pub fn config(seed: u64, dialect: Dialect, rules: Vec<FaultRule>) -> Config {
    let mut cfg = Config {
        seed,
        dialect,
        ..Config::default()
    };
    cfg.accounts = vec![AccountConfig {
        key: DEFAULT_KEY.to_owned(),
        threads: 100_000,
        balance: 1_000_000.0,
    }];
    cfg.solving.default_time = Some(Distribution::Fixed(SOLVE));
    cfg.solving.times = TaskKind::ALL
        .into_iter()
        .map(|k| (k, Distribution::Fixed(SOLVE)))
        .collect();
    cfg.pingback.rules = rules;
    cfg
}

/// A started mock and the instant its simulated clock reads zero.
pub struct Mock {
    /// The server.
    pub server: MockServer,
    /// Simulated time zero, as a tokio instant.
    pub zero: Instant,
    /// A client for the API.
    pub client: reqwest::Client,
}

impl Mock {
    /// Starts a mock with a config.
    pub async fn start(cfg: Config) -> Mock {
        let server = MockServer::start_with(cfg).await.unwrap();
        let zero = Instant::now() - server.state().now();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Mock {
            server,
            zero,
            client,
        }
    }

    /// Simulated ms now.
    pub fn now_ms(&self) -> u64 {
        self.server.state().now().as_millis() as u64
    }

    /// Ms since simulated zero of an instant.
    pub fn ms(&self, at: Instant) -> u64 {
        (at - self.zero).as_millis() as u64
    }

    /// Registers a callback host (needed in the 2captcha dialect).
    pub async fn register(&self, url: &str) {
        let text = self
            .client
            .get(format!("{}/res.php", self.server.uri()))
            .query(&[
                ("key", DEFAULT_KEY),
                ("action", "add_pingback"),
                ("addr", url),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.starts_with("OK"), "add_pingback: {text}");
    }

    /// Submits a turnstile task with a pingback URL; returns the task id.
    pub async fn submit(&self, pingback: &str) -> u64 {
        self.submit_kind(TaskKind::Turnstile, pingback).await
    }

    /// Submits a task of a kind (turnstile, recaptcha-v2 or geetest) with a
    /// pingback URL; returns the task id.
    pub async fn submit_kind(&self, kind: TaskKind, pingback: &str) -> u64 {
        let text = self.submit_raw(kind, pingback).await;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], 1, "submit failed: {text}");
        v["request"].as_str().unwrap().parse().unwrap()
    }

    /// Submits and returns the raw JSON answer.
    pub async fn submit_raw(&self, kind: TaskKind, pingback: &str) -> String {
        let mut params: Vec<(&str, &str)> = vec![
            ("key", DEFAULT_KEY),
            ("json", "1"),
            ("pageurl", "https://example.com/login"),
            ("pingback", pingback),
        ];
        match kind {
            TaskKind::Turnstile => {
                params.extend([("method", "turnstile"), ("sitekey", "0x4AAAAAAAB")]);
            }
            TaskKind::RecaptchaV2 => {
                params.extend([("method", "userrecaptcha"), ("googlekey", "6LcAAAAAAAA")]);
            }
            TaskKind::Geetest => {
                params.extend([
                    ("method", "geetest"),
                    ("gt", "022397c99c9f646f6477822485f30404"),
                    ("challenge", "a66f31a53a5b4a4a4a4a4a4a4a4a4a4a"),
                ]);
            }
            other => panic!("submit_kind does not build {other:?}"),
        }
        let uri = format!("{}/in.php", self.server.uri());
        let req = match self.server.state().config().dialect {
            // 2captcha-python always POSTs in.php.
            Dialect::TwoCaptcha => self.client.post(uri).form(&params),
            Dialect::Captchaai => self.client.get(uri).query(&params),
        };
        req.send().await.unwrap().text().await.unwrap()
    }

    /// The answer (or error code) the task's pingback must carry.
    pub fn code_of(&self, id: u64) -> String {
        self.server
            .state()
            .task(id)
            .unwrap()
            .outcome
            .code()
            .to_owned()
    }

    /// The outbound journal of one task.
    pub fn journal(&self, id: u64) -> Vec<DeliveryRecord> {
        self.server
            .state()
            .deliveries(0, usize::MAX, Some(id))
            .into_iter()
            .map(|n| n.entry)
            .collect()
    }

    /// The whole outbound journal.
    pub fn journal_all(&self) -> Vec<DeliveryRecord> {
        self.server
            .state()
            .deliveries(0, usize::MAX, None)
            .into_iter()
            .map(|n| n.entry)
            .collect()
    }

    /// GET an admin route as JSON.
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        self.client
            .get(format!("{}/__admin{path}", self.server.uri()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Sleeps on the (paused) clock until simulated `ms` after `zero`.
pub async fn until_ms(mock: &Mock, ms: u64) {
    tokio::time::sleep_until(mock.zero + Duration::from_millis(ms)).await;
}
