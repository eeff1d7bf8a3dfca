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
    MockServer,
    pingback::faults::{CallbackMethod, Schedule},
    state::{Outcome, TaskView},
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
        scenario,
        seed,
        timeline: Timeline::default(),
        truth: BTreeMap::new(),
        ids: BTreeMap::new(),
        stored: BTreeMap::new(),
        probed: false,
        busy_rejections: 0,
        ended_at_ms: 0,
        callback_url: None,
        subject: subject.name(),
        aborted: Some(why),
        in_process: subject.in_process(),
    }
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
    let mock = match MockServer::start_with(cfg).await {
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
    let recorder = Recorder::new(mock.state().clone());
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
    // The application registers its callback host first in the 2captcha dialect.
    if let Some(url) = &started.callback_url
        && scenario.mock.dialect == captchaai_mock::config::Dialect::TwoCaptcha
    {
        let _ = http
            .get(format!("{}/res.php", mock.uri()))
            .query(&[
                ("key", key_for(scenario.subject.key).as_str()),
                ("action", "add_pingback"),
                ("addr", url.as_str()),
            ])
            .send()
            .await;
    }

    // Injections run alongside the workload.
    let mut injections = Vec::new();
    for inj in scenario.inject.clone() {
        let recorder = recorder.clone();
        let http = http.clone();
        let url = started.callback_url.clone();
        let method = match scenario.mock.dialect {
            captchaai_mock::config::Dialect::Captchaai => CallbackMethod::Get,
            captchaai_mock::config::Dialect::TwoCaptcha => CallbackMethod::Post,
        };
        injections.push(tokio::spawn(async move {
            tokio::time::sleep(inj.at).await;
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
                SubmitPattern::Every(d) => tokio::time::sleep(d).await,
                SubmitPattern::PerSecond(n) => {
                    tokio::time::sleep(Duration::from_secs_f64(1.0 / n.max(1) as f64)).await
                }
            }
        }
        runs.push(tokio::spawn(driver.run(task)));
    }
    let cap = scenario
        .batch_deadline
        .unwrap_or(Duration::ZERO)
        .max(scenario.subject.deadline * 3)
        + Duration::from_secs(600);
    let mut aborted_why = None;
    let all = futures::future::join_all(runs);
    if tokio::time::timeout(cap, all).await.is_err() {
        aborted_why = Some(format!(
            "the subject did not finish its tasks within {} of simulated time",
            humantime::format_duration(cap)
        ));
    }
    driver.finish().await;
    for i in injections {
        let _ = i.await;
    }

    // Let scheduled pingbacks (late duplicates, retries) play out.
    let state = mock.state().clone();
    let mut step = Duration::from_millis(100);
    for _ in 0..200 {
        if state.dispatcher().stats().pending == 0 {
            break;
        }
        tokio::time::sleep(step).await;
        step = (step * 2).min(Duration::from_secs(3600));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let ids = recorder.ids();
    let truth = collect_truth(&state.tasks(usize::MAX));
    let mut stored = BTreeMap::new();
    if let Some(probe) = &started.probe {
        let mut asked: BTreeSet<String> = truth.keys().map(u64::to_string).collect();
        for e in state.deliveries(0, usize::MAX, None) {
            if let Some(id) = e.entry.id {
                asked.insert(id);
            }
        }
        for e in &recorder.snapshot() {
            if let Event::Injected { id, .. } = &e.event {
                asked.insert(id.clone());
            }
        }
        for id in asked {
            let v = probe.stored(&id).await;
            stored.insert(id, v);
        }
    }
    let busy_rejections = state.counters().busy_rejections;
    let ended_at_ms = state.now().as_millis() as u64;
    let timeline = Timeline::assemble(&state, &recorder);
    shutdown.cancel();
    mock.shutdown().await;
    RunRecord {
        scenario,
        seed,
        timeline,
        truth,
        ids,
        stored,
        probed: started.probe.is_some(),
        busy_rejections,
        ended_at_ms,
        callback_url: started.callback_url,
        subject: subject.name(),
        aborted: aborted_why,
        in_process: subject.in_process(),
    }
}

fn collect_truth(tasks: &[TaskView]) -> BTreeMap<u64, Truth> {
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
