//! Shared pieces of the pingback tests: a mock configured for exact timing, small submit
//! helpers, the crate's recording receiver ([`PingbackRecorder`]) and a port that refuses
//! connections.
//!
//! Everything runs in the test's own (paused, `current_thread`) runtime, so
//! arrival times recorded with `tokio::time::Instant` are exact simulated
//! times: a callback due 7 s after start arrives at exactly 7 000 ms.

use std::{net::SocketAddr, time::Duration};

pub(crate) use captchaai_mock::testing::{Callback, PingbackRecorder, Reply};
use captchaai_mock::{
    AccountConfig, Config, DEFAULT_KEY, Dialect, Distribution, FaultRule, MockServer,
    PingbackAttempt, TaskKind,
};
use tokio::{net::TcpSocket, time::Instant};

/// The solve time every test task gets (turnstile unless said otherwise).
/// A 40 x 16 black PNG of 131 bytes (a comment chunk takes it over the 100-byte minimum),
/// base64.
const SMALL_PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAACgAAAAQCAIAAADrtar6AAAAJ3RFWHRDb21tZW50AGEgNDAgeCAxNiBibGFjayBpbWFnZSBmb3IgdGVzdHOcK13BAAAAF0lEQVR42mNgGAWjYBSMglEwCkbBQAMAB5AAAa8T4zAAAAAASUVORK5CYII=";

pub(crate) const SOLVE: Duration = Duration::from_secs(5);

/// A port that refuses connections (bound, not listening) until [`Refusing::listen`].
pub(crate) struct Refusing {
    socket: TcpSocket,
    addr: SocketAddr,
}

impl Refusing {
    /// Binds `127.0.0.1:0` without listening: connections are refused.
    pub(crate) fn bind() -> Refusing {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        Refusing { socket, addr }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts accepting on the same port, as a recorder answering 200.
    pub(crate) async fn listen(self) -> PingbackRecorder {
        let listener = self.socket.listen(1024).unwrap();
        PingbackRecorder::builder()
            .listener(listener)
            .start()
            .await
            .unwrap()
    }
}

/// A recorder answering 200 at once.
pub(crate) async fn recorder() -> PingbackRecorder {
    PingbackRecorder::start().await.unwrap()
}

/// A recorder answering as `plan` says.
pub(crate) async fn recorder_with(
    plan: impl Fn(&Callback) -> Reply + Send + Sync + 'static,
) -> PingbackRecorder {
    PingbackRecorder::builder()
        .reply_with(move |callback, _| plan(callback))
        .start()
        .await
        .unwrap()
}

/// A config for exact timing: the given seed and dialect, every kind solved
/// in exactly [`SOLVE`], an account with plenty of threads and balance.
pub(crate) fn config(seed: u64, dialect: Dialect, rules: Vec<FaultRule>) -> Config {
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
pub(crate) struct Mock {
    /// The server.
    pub(crate) server: MockServer,
    /// Simulated time zero, as a tokio instant.
    pub(crate) zero: Instant,
    /// A client for the API.
    pub(crate) client: reqwest::Client,
}

impl Mock {
    /// Starts a mock with a config.
    pub(crate) async fn start(cfg: Config) -> Mock {
        Mock::from_server(MockServer::start_with(cfg).await.unwrap())
    }

    /// A mock started some other way (the builder).
    pub(crate) fn from_server(server: MockServer) -> Mock {
        let zero = Instant::now() - server.now();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Mock {
            server,
            zero,
            client,
        }
    }

    /// Simulated ms now.
    pub(crate) fn now_ms(&self) -> u64 {
        self.server.now().as_millis() as u64
    }

    /// Ms since simulated zero of an instant.
    pub(crate) fn ms(&self, at: Instant) -> u64 {
        (at - self.zero).as_millis() as u64
    }

    /// Registers a callback host (needed in the 2captcha dialect).
    pub(crate) async fn register(&self, url: &str) {
        let text = self.res(&[("action", "add_pingback"), ("addr", url)]).await;
        assert!(text.starts_with("OK"), "add_pingback: {text}");
    }

    /// `res.php` with the default key and these parameters: the answer's body.
    pub(crate) async fn res(&self, params: &[(&str, &str)]) -> String {
        super::res_php(&self.client, &self.server.uri(), DEFAULT_KEY, params).await
    }

    /// Submits a turnstile task with a pingback URL; returns the task id.
    pub(crate) async fn submit(&self, pingback: &str) -> u64 {
        self.submit_kind(TaskKind::Turnstile, pingback).await
    }

    /// Submits a task of a kind (turnstile, recaptcha-v2 or geetest) with a
    /// pingback URL; returns the task id.
    pub(crate) async fn submit_kind(&self, kind: TaskKind, pingback: &str) -> u64 {
        let text = self.submit_raw(kind, pingback).await;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], 1, "submit failed: {text}");
        v["request"].as_str().unwrap().parse().unwrap()
    }

    /// Submits and returns the raw JSON answer (`coordinates` with a 40 x 16 PNG).
    pub(crate) async fn submit_raw(&self, kind: TaskKind, pingback: &str) -> String {
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
            TaskKind::GeetestV4 => {
                params.extend([
                    ("method", "geetest_v4"),
                    ("captcha_id", "e392e1d7fd421dc63325744d5a2b9c73"),
                ]);
            }
            TaskKind::Coordinates => {
                params.extend([
                    ("method", "base64"),
                    ("coordinatescaptcha", "1"),
                    ("textinstructions", "click the apples"),
                    ("body", SMALL_PNG_BASE64),
                ]);
            }
            other => panic!("submit_kind does not build {other:?}"),
        }
        let uri = format!("{}/in.php", self.server.uri());
        let req = match self.server.config().dialect {
            // 2captcha-python always POSTs in.php.
            Dialect::TwoCaptcha => self.client.post(uri).form(&params),
            Dialect::Captchaai => self.client.get(uri).query(&params),
        };
        req.send().await.unwrap().text().await.unwrap()
    }

    /// The answer (or error code) the task's pingback must carry.
    pub(crate) fn code_of(&self, id: u64) -> String {
        self.server.task(id).unwrap().outcome.code().to_owned()
    }

    /// The outbound journal of one task.
    pub(crate) fn journal(&self, id: u64) -> Vec<PingbackAttempt> {
        self.server.pingbacks().for_task(id).list()
    }

    /// The whole outbound journal.
    pub(crate) fn journal_all(&self) -> Vec<PingbackAttempt> {
        self.server.pingbacks().list()
    }

    /// GET an admin route as JSON.
    pub(crate) async fn admin_get(&self, path: &str) -> serde_json::Value {
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
pub(crate) async fn until_ms(mock: &Mock, ms: u64) {
    tokio::time::sleep_until(mock.zero + Duration::from_millis(ms)).await;
}
