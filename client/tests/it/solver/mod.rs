//! Strategies, fan-out and the result router against a small in-process fake of CaptchaAI
//! that can deliver pingbacks, all on one current-thread runtime under tokio's paused clock
//! (real sockets on 127.0.0.1), so the SDK's real timings (10 s initial wait, 5 s interval)
//! run in milliseconds and deterministically.

mod fan_out;
mod router;
mod strategies;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::any;
use captchaai_client::Client;
use captchaai_client::receiver::{Receiver, ReceiverConfig, ResultStore};
use captchaai_client::strategy::{Solver, Strategy};
use tokio::time::Instant;

use crate::support::{
    EventLog, KEY, ShutdownOnDrop, http, record_events, secs, serve, serve_router,
};

#[derive(Clone, Copy, Debug)]
enum Pingback {
    /// Never sent.
    Drop,
    /// Sent this long after the submit.
    After(Duration),
    /// Sent (and answered) before the submit's own answer goes out.
    BeforeSubmitAnswer,
}

#[derive(Clone, Debug)]
struct Plan {
    solve_after: Duration,
    pingback: Pingback,
    /// `None`: the answer is `token-<id>`.
    code: Option<&'static str>,
}

impl Plan {
    fn new(solve_after: Duration, pingback: Pingback) -> Self {
        Plan {
            solve_after,
            pingback,
            code: None,
        }
    }
}

#[derive(Default)]
struct FakeState {
    next_id: u64,
    created: HashMap<u64, Instant>,
    submits: Vec<(Instant, Option<String>)>,
    polls: Vec<(u64, Instant)>,
    pingbacks: Vec<(u64, Instant, u16)>,
}

#[derive(Clone)]
struct Fake {
    plan: Plan,
    state: Arc<Mutex<FakeState>>,
    http: reqwest::Client,
}

impl Fake {
    fn code(&self, id: u64) -> String {
        self.plan
            .code
            .map_or_else(|| format!("token-{id}"), str::to_owned)
    }

    async fn deliver(&self, url: &str, id: u64) {
        let mut url = reqwest::Url::parse(url).unwrap();
        url.query_pairs_mut()
            .append_pair("id", &id.to_string())
            .append_pair("code", &self.code(id));
        let status = self.http.get(url).send().await.unwrap().status().as_u16();
        self.state
            .lock()
            .unwrap()
            .pingbacks
            .push((id, Instant::now(), status));
    }
}

async fn in_php(State(fake): State<Fake>, Query(q): Query<HashMap<String, String>>) -> String {
    let id = {
        let mut s = fake.state.lock().unwrap();
        s.next_id += 1;
        let id = 1000 + s.next_id;
        s.created.insert(id, Instant::now());
        s.submits.push((Instant::now(), q.get("pingback").cloned()));
        id
    };
    if let Some(url) = q.get("pingback").cloned() {
        match fake.plan.pingback {
            Pingback::Drop => {}
            Pingback::BeforeSubmitAnswer => fake.deliver(&url, id).await,
            Pingback::After(delay) => {
                let fake = fake.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    fake.deliver(&url, id).await;
                });
            }
        }
    }
    format!(r#"{{"status":1,"request":"{id}"}}"#)
}

async fn res_php(State(fake): State<Fake>, Query(q): Query<HashMap<String, String>>) -> String {
    let id: u64 = q.get("id").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut s = fake.state.lock().unwrap();
    s.polls.push((id, Instant::now()));
    match s.created.get(&id) {
        Some(created) if created.elapsed() >= fake.plan.solve_after => {
            let code = fake.code(id);
            let status = if code.starts_with("ERROR") { 0 } else { 1 };
            format!(r#"{{"status":{status},"request":"{code}"}}"#)
        }
        Some(_) => r#"{"status":0,"request":"CAPCHA_NOT_READY"}"#.to_owned(),
        None => r#"{"status":0,"request":"ERROR_WRONG_CAPTCHA_ID"}"#.to_owned(),
    }
}

struct Env {
    fake: Fake,
    fake_base: String,
    store: ResultStore,
    client: Client,
    pingback_url: String,
    events: EventLog,
    _fake: ShutdownOnDrop,
    _receiver: ShutdownOnDrop,
}

impl Env {
    async fn start(plan: Plan) -> Env {
        let fake = Fake {
            plan,
            state: Arc::default(),
            http: http(),
        };
        let app = Router::new()
            .route("/in.php", any(in_php))
            .route("/res.php", any(res_php))
            .with_state(fake.clone());
        let (fake_addr, fake_server) = serve_router(app).await;

        let store = ResultStore::new();
        let events = record_events(&store);
        let config = ReceiverConfig::default()
            .with_secret("s3cret")
            .unwrap()
            .allow_network("127.0.0.0/8".parse().unwrap());
        let receiver = Receiver::new(config.clone(), store.clone());
        let (receiver_addr, receiver_server) = serve(receiver).await;
        let pingback_url = config
            .callback_url(&format!("http://{receiver_addr}"))
            .unwrap();

        let client = Client::builder(format!("http://{fake_addr}"), KEY)
            .deadline(secs(120))
            .seed(1)
            .build()
            .unwrap();
        Env {
            fake,
            fake_base: format!("http://{fake_addr}"),
            store,
            client,
            pingback_url,
            events,
            _fake: fake_server,
            _receiver: receiver_server,
        }
    }

    fn solver(&self, strategy: Strategy) -> Solver {
        Solver::new(self.client.clone(), self.store.clone(), strategy)
            .with_pingback_url(self.pingback_url.clone())
    }

    /// Poll times relative to the first submit.
    fn poll_offsets(&self) -> Vec<Duration> {
        let s = self.fake.state.lock().unwrap();
        let t0 = s.submits[0].0;
        s.polls.iter().map(|(_, at)| *at - t0).collect()
    }

    fn submits(&self) -> Vec<(Instant, Option<String>)> {
        self.fake.state.lock().unwrap().submits.clone()
    }
}

/// Offsets within 50 ms of the expected seconds.
fn assert_offsets(got: &[Duration], expected_secs: &[u64]) {
    assert_eq!(
        got.len(),
        expected_secs.len(),
        "{got:?} vs {expected_secs:?}"
    );
    for (g, e) in got.iter().zip(expected_secs) {
        let e = secs(*e);
        let diff = g.abs_diff(e);
        assert!(
            diff < Duration::from_millis(50),
            "{got:?} vs {expected_secs:?}"
        );
    }
}
