//! The world every client-vs-mock test runs in: the real `captchaai-mock` (`MockServer`), the
//! reference receiver (axum on `127.0.0.1:0`, served with connect info) writing into a
//! `ResultStore`, and a `Solver` over the real `Client`, all in the test's own paused,
//! current-thread runtime. Plus the helpers that compare what the application got with the
//! mock's ground truth and journals.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use captchaai_client::receiver::{
    Receiver, ReceiverConfig, ResultSource, ResultStore, StoreEvent, TaskResult,
};
use captchaai_client::strategy::{Solver, Strategy};
use captchaai_client::task::Turnstile;
use captchaai_client::{Client, Error, Solution, Task, TaskId};
use captchaai_mock::{
    AccountConfig, AttemptOutcome, Config, DEFAULT_KEY, Distribution, FaultRule, MockServer,
    Outcome, PingbackAttempt,
};
use futures::future::join_all;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every test task takes exactly this long to solve (unless a test says otherwise).
pub(crate) const SOLVE: Duration = Duration::from_secs(5);
/// The shared secret in the callback URL.
const SECRET: &str = "e2e-s3cret";

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A token task (GET submit, text answer).
pub(crate) fn turnstile() -> Task {
    Turnstile::new("0x4AAAAAAAC3DHQFLr1GavRN", "https://example.com/login").into()
}

/// A mock configuration: seed 7, every method solved in exactly [`SOLVE`], these fault rules.
pub(crate) fn mock_config(rules: Vec<FaultRule>) -> Config {
    let mut config = Config {
        seed: 7,
        ..Config::default()
    };
    config.solving.default_time = Some(Distribution::Fixed(SOLVE));
    config.pingback.rules = rules;
    config
}

/// The default key with room for `threads` concurrent tasks.
pub(crate) fn account(threads: u32) -> AccountConfig {
    AccountConfig {
        threads,
        ..AccountConfig::new(DEFAULT_KEY)
    }
}

/// What the receiver's host application does to callbacks before (or after) the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReceiverFault {
    /// Nothing: the receiver answers.
    None,
    /// The first `n` callbacks of each task id get HTTP 500 without reaching the receiver.
    FailBefore(u32),
    /// The first `n` callbacks of each task id reach the receiver, which records them, but
    /// the application answers HTTP 500 anyway (a crash after the write).
    FailAfter(u32),
}

/// How to build an [`Env`].
pub(crate) struct Setup {
    pub(crate) mock: Config,
    pub(crate) strategy: Strategy,
    pub(crate) registered_only: bool,
    pub(crate) receiver_fault: ReceiverFault,
    pub(crate) deadline: Duration,
    pub(crate) json: bool,
}

impl Setup {
    /// [`mock_config`] with these rules, pingback with a 60 s fallback, receiver accepting
    /// early callbacks, 180 s client deadline.
    pub(crate) fn new(rules: Vec<FaultRule>) -> Setup {
        Setup {
            mock: mock_config(rules),
            strategy: Strategy::PingbackWithFallback {
                quiet_period: secs(60),
            },
            registered_only: false,
            receiver_fault: ReceiverFault::None,
            deadline: secs(180),
            json: true,
        }
    }

    /// `json=1` (default) or plain-text answers, as 2captcha-python reads them.
    pub(crate) fn json(mut self, json: bool) -> Setup {
        self.json = json;
        self
    }

    pub(crate) fn strategy(mut self, strategy: Strategy) -> Setup {
        self.strategy = strategy;
        self
    }

    pub(crate) fn quiet_period(self, quiet_period: Duration) -> Setup {
        self.strategy(Strategy::PingbackWithFallback { quiet_period })
    }

    pub(crate) fn registered_only(mut self, on: bool) -> Setup {
        self.registered_only = on;
        self
    }

    pub(crate) fn receiver_fault(mut self, fault: ReceiverFault) -> Setup {
        self.receiver_fault = fault;
        self
    }

    pub(crate) fn deadline(mut self, deadline: Duration) -> Setup {
        self.deadline = deadline;
        self
    }

    pub(crate) fn config(mut self, edit: impl FnOnce(&mut Config)) -> Setup {
        edit(&mut self.mock);
        self
    }

    pub(crate) async fn start(self) -> Env {
        Env::start(self).await
    }
}

/// Mock, receiver, store, client and solver, torn down on drop.
pub(crate) struct Env {
    pub(crate) mock: MockServer,
    pub(crate) store: ResultStore,
    pub(crate) solver: Solver,
    pub(crate) pingback_url: String,
    events: Arc<Mutex<Vec<StoreEvent>>>,
    shutdown: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[derive(Clone)]
struct FaultState {
    fault: ReceiverFault,
    seen: Arc<Mutex<HashMap<String, u32>>>,
}

/// The `id` of a GET callback (the captchaai dialect; POST bodies are not inspected).
fn callback_id(request: &Request) -> String {
    request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .unwrap_or("")
        .to_owned()
}

async fn host_app_faults(
    State(state): State<FaultState>,
    request: Request,
    next: Next,
) -> Response {
    let attempt = {
        let mut seen = state.seen.lock().unwrap();
        let n = seen.entry(callback_id(&request)).or_default();
        *n += 1;
        *n
    };
    let failure = (StatusCode::INTERNAL_SERVER_ERROR, "host application failed").into_response();
    match state.fault {
        ReceiverFault::FailBefore(n) if attempt <= n => failure,
        ReceiverFault::FailAfter(n) if attempt <= n => {
            let _ = next.run(request).await;
            failure
        }
        _ => next.run(request).await,
    }
}

impl Env {
    async fn start(setup: Setup) -> Env {
        let shutdown = CancellationToken::new();
        let mock = MockServer::start_with(setup.mock)
            .await
            .expect("starting the mock");

        let store = ResultStore::new();
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&events);
        store.on_event(move |e| log.lock().unwrap().push(e.clone()));

        let config = ReceiverConfig::default()
            .with_secret(SECRET)
            .unwrap()
            .allow_network("127.0.0.0/8".parse().unwrap())
            .registered_only(setup.registered_only);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pingback_url = config.callback_url(&format!("http://{addr}")).unwrap();
        let receiver = Receiver::new(config, store.clone());
        let mut app = axum::Router::new().merge(receiver.router());
        if setup.receiver_fault != ReceiverFault::None {
            let state = FaultState {
                fault: setup.receiver_fault,
                seen: Arc::default(),
            };
            app = app.layer(middleware::from_fn_with_state(state, host_app_faults));
        }
        let token = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(token.cancelled_owned())
            .await
            .unwrap();
        });

        let client = Client::builder(mock.uri(), mock.key())
            .deadline(setup.deadline)
            .json(setup.json)
            .seed(1)
            .build()
            .unwrap();
        let solver = Solver::new(client, store.clone(), setup.strategy)
            .with_pingback_url(pingback_url.clone());
        Env {
            mock,
            store,
            solver,
            pingback_url,
            events,
            shutdown,
        }
    }

    /// Registers the receiver's host for pingbacks (2captcha's `add_pingback`). The client
    /// has no API for it, so this is a plain `res.php` request.
    pub(crate) async fn add_pingback_host(&self) {
        let answer = self
            .res(&[
                ("action", "add_pingback"),
                ("addr", self.pingback_url.as_str()),
            ])
            .await;
        assert_eq!(answer, "OK");
    }

    /// `GET res.php` with the mock's key and these parameters: the answer's body.
    pub(crate) async fn res(&self, params: &[(&str, &str)]) -> String {
        let mut query = vec![("key", self.mock.key())];
        query.extend(params.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        http.get(format!("{}/res.php", self.mock.uri()))
            .query(&query)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Submits and waits for every task concurrently; the application's view: one
    /// `(task id, result)` per task that was accepted by `in.php`.
    pub(crate) async fn solve_all(&self, tasks: &[Task]) -> Vec<(TaskId, Result<Solution, Error>)> {
        join_all(tasks.iter().map(|task| async move {
            let id = self.solver.submit(task).await.expect("submit");
            (id, self.solver.wait_for(task, id).await)
        }))
        .await
    }

    /// As [`Env::solve_all`], one task after the other.
    pub(crate) async fn solve_in_turn(
        &self,
        tasks: &[Task],
    ) -> Vec<(TaskId, Result<Solution, Error>)> {
        let mut out = Vec::new();
        for task in tasks {
            let id = self.solver.submit(task).await.expect("submit");
            out.push((id, self.solver.wait_for(task, id).await));
        }
        out
    }

    /// Lets simulated time run so late copies, retries and reorder windows finish, then
    /// checks the mock has nothing left to send.
    pub(crate) async fn settle(&self) {
        tokio::time::sleep(secs(300)).await;
        let pending = self.mock.pingback_stats().pending;
        assert_eq!(pending, 0, "the mock still has pingbacks in flight");
    }

    /// The mock's ground truth for a task.
    pub(crate) fn truth(&self, id: TaskId) -> Outcome {
        self.mock
            .task(id.get())
            .unwrap_or_else(|| panic!("the mock does not know task {id}"))
            .outcome
    }

    /// Every delivery attempt the mock journalled for a task, in order.
    pub(crate) fn deliveries(&self, id: TaskId) -> Vec<PingbackAttempt> {
        self.mock.pingbacks().for_task(id.get()).list()
    }

    /// Every delivery attempt, in journal order.
    pub(crate) fn all_deliveries(&self) -> Vec<PingbackAttempt> {
        self.mock.pingbacks().list()
    }

    /// `res.php?action=get` requests the mock received for a task.
    pub(crate) fn polls(&self, id: TaskId) -> usize {
        self.mock
            .journal()
            .endpoint("res.php")
            .action("get")
            .for_task(id.get())
            .count()
    }

    /// Every store event so far.
    pub(crate) fn events(&self) -> Vec<StoreEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The store events of one task, in order.
    pub(crate) fn events_of(&self, id: TaskId) -> Vec<StoreEvent> {
        self.events()
            .into_iter()
            .filter(|e| event_task(e) == Some(id))
            .collect()
    }

    /// The result the store keeps for a task (the in-memory store answers when first
    /// polled, so checks can stay synchronous).
    pub(crate) fn kept(&self, id: TaskId) -> TaskResult {
        futures::FutureExt::now_or_never(self.store.get(id))
            .expect("the in-memory store never waits")
            .expect("the in-memory store never fails")
            .unwrap_or_else(|| panic!("no result stored for task {id}"))
    }

    /// The core property: every task reached the application exactly once, with the mock's
    /// ground truth, and the store published exactly one first result per task (and none for
    /// a task that was never submitted).
    pub(crate) fn assert_exactly_once_with_truth(
        &self,
        results: &[(TaskId, Result<Solution, Error>)],
    ) {
        let mut handed: BTreeMap<TaskId, usize> = BTreeMap::new();
        for (id, _) in results {
            *handed.entry(*id).or_default() += 1;
        }
        for (id, n) in &handed {
            assert_eq!(*n, 1, "task {id} was handed to the application {n} times");
        }
        for (id, result) in results {
            assert_matches_truth(*id, result, &self.truth(*id));
            assert_eq!(
                self.kept(*id).code(),
                self.truth(*id).code(),
                "the store keeps a wrong result for task {id}"
            );
        }
        let mut stored: BTreeMap<TaskId, usize> = BTreeMap::new();
        for event in self.events() {
            if let StoreEvent::Stored(r) = event {
                *stored.entry(r.task_id()).or_default() += 1;
            }
        }
        let stored_ids: Vec<TaskId> = stored.keys().copied().collect();
        let handed_ids: Vec<TaskId> = handed.keys().copied().collect();
        assert_eq!(
            stored_ids, handed_ids,
            "the store published results for other tasks than the submitted ones"
        );
        for (id, n) in stored {
            assert_eq!(n, 1, "the store published {n} first results for task {id}");
        }
    }
}

/// The task an event concerns.
pub(crate) fn event_task(event: &StoreEvent) -> Option<TaskId> {
    match event {
        StoreEvent::Registered { task_id }
        | StoreEvent::Duplicate { task_id, .. }
        | StoreEvent::Conflict { task_id, .. }
        | StoreEvent::Evicted { task_id, .. } => Some(*task_id),
        StoreEvent::Stored(r) => Some(r.task_id()),
        StoreEvent::Rejected { task_id, .. } => *task_id,
        _ => None,
    }
}

/// A solve result equals the ground truth: the same answer, or the same error code.
pub(crate) fn assert_matches_truth(id: TaskId, result: &Result<Solution, Error>, truth: &Outcome) {
    match (result, truth) {
        (Ok(solution), Outcome::Solved { answer, .. }) => {
            assert_eq!(solution.task_id(), id);
            assert_eq!(solution.raw(), answer, "task {id}: wrong answer");
        }
        (Err(e), Outcome::Failed { code }) => {
            assert_eq!(e.api_code(), Some(code.as_str()), "task {id}: {e}");
        }
        (got, want) => panic!("task {id}: the application got {got:?}, the truth is {want:?}"),
    }
}

/// The HTTP status of an attempt that reached the receiver.
pub(crate) fn status(record: &PingbackAttempt) -> Option<u16> {
    record.outcome.status()
}

/// True when the attempt carried `code` (the journal truncates long codes to 120 characters).
pub(crate) fn sent_code(record: &PingbackAttempt, code: &str) -> bool {
    record.code_len == code.len()
        && record
            .code
            .as_deref()
            .is_some_and(|c| code.starts_with(c.trim_end_matches('…')))
}

/// True when the attempt was answered 2xx.
pub(crate) fn delivered(record: &PingbackAttempt) -> bool {
    matches!(record.outcome, AttemptOutcome::Delivered { .. })
}

/// Where the store's result of a task came from.
pub(crate) fn source(env: &Env, id: TaskId) -> ResultSource {
    env.kept(id).source()
}
