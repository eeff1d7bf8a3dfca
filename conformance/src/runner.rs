//! Runs one scenario against one subject and collects its record.
//!
//! In-process subjects run on a `current_thread` runtime with tokio's clock
//! paused: mock, subject and harness share one clock, real sockets on
//! 127.0.0.1 carry every request, and a run with hours of simulated time takes
//! milliseconds. Subjects in another process get a normal runtime and the
//! mock's time scale instead (never pause the clock when a party lives outside
//! the runtime).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use captchaai_mock::{
    AttemptOutcome, CallbackMethod, MockHandle, MockServer, Outcome, Schedule, TaskState, TaskView,
};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    scenario::{InjectedCallback, KeyChoice, SCENARIO_KEY, Scenario, SubmitPattern},
    subject::{RunContext, Started, Subject},
    timeline::{Event, Recorder, Source, Timeline, short},
};

/// The body a receiver-side fault answers with, so checks can tell it from the subject's own answers.
pub const ENV_FAILURE_BODY: &str = "conformance-env: injected receiver failure";

/// What the mock decided for one task (ground truth).
#[derive(Clone, Debug, Serialize)]
pub struct Truth {
    /// Task id.
    pub task: u64,
    /// Ordinal.
    pub ordinal: u64,
    /// Kind.
    pub kind: String,
    /// The answer or failure code.
    pub outcome: Outcome,
    /// When it finished (None: never).
    pub finish_at_ms: Option<u64>,
    /// The compiled pingback schedule.
    pub schedule: Option<Schedule>,
    /// The `code` its conflicting duplicates carry, if its schedule sends any.
    pub conflicting_code: Option<String>,
}

/// Everything a run produced, for the checkers.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// The seed used.
    pub seed: u64,
    /// The ordered history.
    pub timeline: Timeline,
    /// Ground truth per task id.
    pub truth: BTreeMap<u64, Truth>,
    /// Task id per workload ordinal, as the application learnt them.
    pub ids: BTreeMap<u64, u64>,
    /// What the receiver stored per id the harness asked about (None: nothing); empty without a probe.
    pub stored: BTreeMap<String, Option<String>>,
    /// Whether a probe was available.
    pub probed: bool,
    /// Why the probe could not read what the receiver stored (the storage checks are then
    /// not graded).
    pub probe_error: Option<String>,
    /// Submits the mock rejected as busy.
    pub busy_rejections: u64,
    /// Simulated time at the end of the run.
    pub ended_at_ms: u64,
    /// The callback URL the subject used.
    pub callback_url: Option<String>,
    /// The subject's name.
    pub subject: String,
    /// A problem that stopped the run early.
    pub aborted: Option<String>,
    /// Whether everything ran on one paused clock (exact timing).
    pub in_process: bool,
    /// Whether the subject reported what its application received.
    pub app_observed: bool,
    /// Whether the receiver must accept registered ids only.
    pub registered_only: bool,
    /// Whether the callback URL carries a secret the receiver checks.
    pub secret: bool,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// How fast (real time) valid callbacks must be acknowledged, if graded.
    pub latency_budget: Option<Duration>,
}

impl RunRecord {
    /// Ground truth of a workload ordinal.
    pub fn truth_of(&self, ordinal: u64) -> Option<&Truth> {
        self.ids.get(&ordinal).and_then(|id| self.truth.get(id))
    }
}

/// Runs a scenario on a fresh runtime (paused clock for in-process subjects).
pub fn run(scenario: Arc<Scenario>, subject: &dyn Subject, seed: u64) -> RunRecord {
    let mut builder = if subject.in_process() {
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.start_paused(true);
        b
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            return aborted(
                scenario,
                seed,
                subject,
                format!("cannot start a runtime: {e}"),
            );
        }
    };
    let s2 = scenario.clone();
    let rec = runtime.block_on(async move { run_async(s2, subject, seed).await });
    runtime.shutdown_timeout(Duration::from_millis(100));
    rec
}

fn aborted(scenario: Arc<Scenario>, seed: u64, subject: &dyn Subject, why: String) -> RunRecord {
    RunRecord {
        scenario: scenario.clone(),
        seed,
        timeline: Timeline::default(),
        truth: BTreeMap::new(),
        ids: BTreeMap::new(),
        stored: BTreeMap::new(),
        probed: false,
        probe_error: None,
        busy_rejections: 0,
        ended_at_ms: 0,
        callback_url: None,
        subject: subject.name(),
        aborted: Some(why),
        in_process: subject.in_process(),
        app_observed: subject.observes_app(),
        registered_only: subject.enforces_registration(&scenario),
        secret: subject.uses_secret(&scenario),
        time_scale: 1.0,
        latency_budget: subject.latency_budget(),
    }
}

/// A first task id no earlier run has used: a slot from the wall clock and
/// a counter, 100 000 ids per slot, above every id a default mock hands out.
fn unique_first_id() -> u64 {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    #[allow(clippy::disallowed_methods)] // uniqueness across processes, not simulated time
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let slot = (now_ms.wrapping_mul(16) + n % 16) % 100_000_000;
    75_000_000_000_000 + slot * 100_000 + 1
}

fn key_for(choice: KeyChoice) -> String {
    match choice {
        KeyChoice::Valid => SCENARIO_KEY.to_owned(),
        KeyChoice::Unknown => "ffffffffffffffffffffffffffffffff".to_owned(),
        KeyChoice::Malformed => "too-short-key".to_owned(),
    }
}

async fn run_async(scenario: Arc<Scenario>, subject: &dyn Subject, seed: u64) -> RunRecord {
    let mut cfg = scenario.mock.clone();
    cfg.seed = seed;
    if subject.in_process() {
        cfg.time_scale = 1.0;
    }
    if !subject.in_process() {
        // Another process outlives this run (a receiver serves every scenario
        // and every replay): give the run task ids nobody has used.
        cfg.first_task_id = unique_first_id();
    }
    let scale = cfg.time_scale;
    // The harness's own timers (pacing, caps, grace) run in simulated time.
    let real = move |d: Duration| {
        if scale == 1.0 {
            d
        } else {
            Duration::from_secs_f64(d.as_secs_f64() / scale)
        }
    };
    let ca_dir = std::env::temp_dir().join(format!(
        "captchaai-conformance-ca-{}-{seed}",
        std::process::id()
    ));
    let started_mock = if subject.mock_tls() {
        MockServer::builder().config(cfg).tls(&ca_dir).start().await
    } else {
        MockServer::start_with(cfg).await
    };
    let mock = match started_mock {
        Ok(m) => m,
        Err(e) => {
            return aborted(
                scenario,
                seed,
                subject,
                format!("cannot start the mock: {e}"),
            );
        }
    };
    let recorder = Recorder::new(mock.handle());
    let shutdown = CancellationToken::new();

    let listener = if subject.hosts_receiver() {
        match TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await {
            Ok(l) => Some(l),
            Err(e) => {
                return aborted(
                    scenario,
                    seed,
                    subject,
                    format!("cannot bind the receiver: {e}"),
                );
            }
        }
    } else {
        None
    };
    let receiver_base = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| format!("http://{a}"));
    let ctx = RunContext {
        scenario: scenario.clone(),
        seed,
        mock_uri: mock.uri(),
        api_key: key_for(scenario.subject.key),
        receiver_base: receiver_base.clone(),
        recorder: recorder.clone(),
        mock: mock.handle(),
        time_scale: scale,
        ca_path: mock.ca_path().map(std::path::Path::to_path_buf),
    };
    let started: Started = match subject.start(ctx).await {
        Ok(s) => s,
        Err(e) => {
            return aborted(
                scenario,
                seed,
                subject,
                format!("cannot start the subject: {e}"),
            );
        }
    };
    if let (Some(listener), Some(router)) = (listener, started.receiver) {
        let app = with_receiver_env(router, &scenario, recorder.clone());
        let token = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await;
        });
    }

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    // Injections run alongside the workload.
    let mut injections = Vec::new();
    for inj in scenario.inject.clone() {
        let recorder = recorder.clone();
        let http = http.clone();
        let url = started.callback_url.clone();
        let method = scenario.mock.dialect.callback_method();
        injections.push(tokio::spawn(async move {
            tokio::time::sleep(real(inj.at)).await;
            inject(
                &http,
                &recorder,
                url.as_deref(),
                method,
                inj.callback,
                inj.task,
            )
            .await;
        }));
    }

    // The workload, paced by the submit pattern.
    let driver = started.driver.clone();
    let mut runs = Vec::new();
    for (i, task) in scenario.tasks.iter().cloned().enumerate() {
        if i > 0 {
            match scenario.submit {
                SubmitPattern::AllAtOnce => {}
                SubmitPattern::Every(d) => tokio::time::sleep(real(d)).await,
                SubmitPattern::PerSecond(n) => {
                    tokio::time::sleep(real(Duration::from_secs_f64(1.0 / n.max(1) as f64))).await
                }
            }
        }
        runs.push(tokio::spawn(driver.run(task)));
    }
    let longest = scenario.batch_deadline.unwrap_or(Duration::ZERO);
    let cap = if subject.in_process() {
        longest.max(scenario.subject.deadline * 3) + Duration::from_secs(600)
    } else {
        // Another process keeps its own time: the deadline twice over, plus a margin.
        longest.max(scenario.subject.deadline * 2) + Duration::from_secs(60)
    };
    let mut aborted_why = None;
    let all = futures::future::join_all(runs);
    if tokio::time::timeout(real(cap), all).await.is_err() {
        aborted_why = Some(format!(
            "the subject did not finish its tasks within {} of simulated time",
            humantime::format_duration(cap)
        ));
    }
    driver.finish().await;
    if let Some(why) = driver.broke_off() {
        aborted_why.get_or_insert(why);
    }
    for i in injections {
        let _ = i.await;
    }

    // Let scheduled pingbacks (late duplicates, retries) play out.
    let state = mock.handle();
    let mut step = Duration::from_millis(100);
    let drain_for = if subject.in_process() {
        Duration::from_secs(3 * 86_400)
    } else {
        Duration::from_secs(30)
    };
    let drain_until = tokio::time::Instant::now() + drain_for;
    while tokio::time::Instant::now() < drain_until {
        if state.pingback_stats().pending == 0 && deliveries_settled(&state) {
            break;
        }
        if subject.in_process() {
            tokio::time::sleep(step).await;
            step = (step * 2).min(Duration::from_secs(3600));
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(real(Duration::from_secs(1))).await;

    let ids = recorder.ids();
    let truth = collect_truth(&state, &state.tasks());
    let mut stored = BTreeMap::new();
    let mut probe_error = None;
    if let Some(probe) = &started.probe {
        let mut asked: BTreeSet<String> = truth.keys().map(u64::to_string).collect();
        for e in state.pingbacks() {
            if let Some(id) = e.id {
                asked.insert(id);
            }
        }
        for e in &recorder.snapshot() {
            if let Event::Injected { id, .. } = &e.event {
                asked.insert(id.clone());
            }
        }
        for id in asked {
            match probe.stored(&id).await {
                Ok(v) => {
                    stored.insert(id, v);
                }
                Err(why) => {
                    // One failure says the endpoint is down or broken: asking about every
                    // other id would only multiply the wait.
                    probe_error = Some(why);
                    break;
                }
            }
        }
    }
    let busy_rejections = state.counters().busy_rejections;
    let ended_at_ms = state.now().as_millis() as u64;
    let timeline = Timeline::assemble(&state, &recorder);
    shutdown.cancel();
    mock.shutdown().await;
    if subject.mock_tls() {
        let _ = std::fs::remove_dir_all(&ca_dir);
    }
    let registered_only = subject.enforces_registration(&scenario);
    let secret = subject.uses_secret(&scenario);
    RunRecord {
        scenario,
        seed,
        timeline,
        truth,
        ids,
        stored,
        probed: started.probe.is_some(),
        probe_error,
        busy_rejections,
        ended_at_ms,
        callback_url: started.callback_url,
        subject: subject.name(),
        aborted: aborted_why,
        in_process: subject.in_process(),
        app_observed: subject.observes_app(),
        registered_only,
        secret,
        time_scale: scale,
        latency_budget: subject.latency_budget(),
    }
}

/// True when every finished task's planned callbacks have all been attempted
/// (or recorded as dropped or shed): nothing is still held back, for example
/// in a reorder window waiting for its max-hold.
fn deliveries_settled(state: &MockHandle) -> bool {
    let mut first_attempts: std::collections::HashMap<u64, usize> =
        std::collections::HashMap::new();
    for r in state.pingbacks() {
        if r.attempt <= 1 || matches!(r.outcome, AttemptOutcome::Dropped | AttemptOutcome::Shed) {
            *first_attempts.entry(r.task_id).or_default() += 1;
        }
    }
    state.tasks().iter().all(|t| {
        let Some(schedule) = &t.schedule else {
            return true;
        };
        if !matches!(t.state, TaskState::Solved | TaskState::Failed) {
            return true;
        }
        let planned = schedule.deliveries.len().max(1);
        first_attempts.get(&t.id).copied().unwrap_or(0) >= planned
    })
}

fn collect_truth(state: &MockHandle, tasks: &[TaskView]) -> BTreeMap<u64, Truth> {
    tasks
        .iter()
        .map(|t| {
            (
                t.id,
                Truth {
                    task: t.id,
                    ordinal: t.ordinal,
                    kind: t.kind.name().to_owned(),
                    outcome: t.outcome.clone(),
                    finish_at_ms: t.finish_at_ms,
                    schedule: t.schedule.clone(),
                    conflicting_code: state.conflicting_code(t.id),
                },
            )
        })
        .collect()
}

/// Sends one forged callback to the receiver and records what it answered.
async fn inject(
    http: &reqwest::Client,
    recorder: &Recorder,
    callback_url: Option<&str>,
    method: CallbackMethod,
    kind: InjectedCallback,
    ordinal: u64,
) {
    let Some(url) = callback_url else { return };
    let Ok(mut url) = reqwest::Url::parse(url) else {
        return;
    };
    let task = recorder.ids().get(&ordinal).copied();
    let id = match kind {
        InjectedCallback::UnknownId => (9_100_000_000_000 + ordinal).to_string(),
        _ => match task {
            Some(t) => t.to_string(),
            None => {
                recorder.record(
                    Source::Injector,
                    Event::Injected {
                        callback: kind,
                        task: None,
                        id: String::new(),
                        status: None,
                        error: Some(format!("task #{ordinal} had no id yet")),
                    },
                );
                return;
            }
        },
    };
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match kind {
        InjectedCallback::Spoofed => {
            url.set_query(None);
        }
        InjectedCallback::WrongSecret => {
            url.set_query(None);
            for (k, _) in &pairs {
                url.query_pairs_mut().append_pair(k, "wrong-secret");
            }
        }
        InjectedCallback::UnknownId => {}
    }
    let code = "03AFY_forged_token_from_the_conformance_harness";
    let req = match method {
        CallbackMethod::Get => {
            url.query_pairs_mut()
                .append_pair("id", &id)
                .append_pair("code", code);
            http.get(url)
        }
        CallbackMethod::Post => http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("id={id}&code={code}")),
    };
    let (status, error) = match tokio::time::timeout(
        Duration::from_secs(30),
        req.header("x-conformance-injected", "1").send(),
    )
    .await
    {
        Ok(Ok(r)) => (Some(r.status().as_u16()), None),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(_) => (None, Some("timeout".to_owned())),
    };
    recorder.record(
        Source::Injector,
        Event::Injected {
            callback: kind,
            task,
            id,
            status,
            error,
        },
    );
}

/// Puts the receiver-side faults (fail the first N, add latency) and the
/// harness's view of every callback in front of the subject's router.
fn with_receiver_env(router: Router, scenario: &Scenario, recorder: Recorder) -> Router {
    let env = scenario.receiver.clone();
    let failed = Arc::new(AtomicU32::new(0));
    router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let env = env.clone();
        let failed = failed.clone();
        let recorder = recorder.clone();
        async move {
            let injected = req.headers().contains_key("x-conformance-injected");
            let method = req.method().to_string();
            let (req, id, code) = read_params(req).await;
            if !injected
                && env.fail_first > 0
                && failed.fetch_add(1, Ordering::Relaxed) < env.fail_first
            {
                recorder.record(
                    Source::Receiver,
                    Event::Received {
                        method,
                        id,
                        code: code.map(|c| short(&c)),
                        status: env.fail_status,
                        handled_by: "env".into(),
                    },
                );
                let status = StatusCode::from_u16(env.fail_status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return (status, ENV_FAILURE_BODY).into_response();
            }
            if let Some(l) = env.latency.filter(|_| !injected) {
                tokio::time::sleep(l).await;
            }
            let resp: Response = next.run(req).await;
            if !injected {
                recorder.record(
                    Source::Receiver,
                    Event::Received {
                        method,
                        id,
                        code: code.map(|c| short(&c)),
                        status: resp.status().as_u16(),
                        handled_by: "subject".into(),
                    },
                );
            }
            resp
        }
    }))
}

/// Reads `id` and `code` from the query or a form body, and rebuilds the request.
async fn read_params(req: Request) -> (Request, Option<String>, Option<String>) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut id = None;
    let mut code = None;
    let query = parts.uri.query().unwrap_or("").as_bytes().to_vec();
    for src in [query.as_slice(), bytes.as_ref()] {
        for (k, v) in form_urlencoded::parse(src) {
            match &*k {
                "id" if id.is_none() => id = Some(v.into_owned()),
                "code" if code.is_none() => code = Some(v.into_owned()),
                _ => {}
            }
        }
    }
    (Request::from_parts(parts, Body::from(bytes)), id, code)
}
