//! Strategies, fan-out and the result router against a small in-process fake of CaptchaAI
//! that can deliver pingbacks, all on one current-thread runtime under tokio's paused clock
//! (real sockets on 127.0.0.1), so the SDK's real timings (10 s initial wait, 5 s interval)
//! run in milliseconds and deterministically.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::any;
use captchaai_client::Client;
use captchaai_client::fanout::{FanOutConfig, Rate, fan_out};
use captchaai_client::receiver::{
    Receiver, ReceiverConfig, ResultSource, ResultStore, StoreConfig, StoreEvent,
};
use captchaai_client::router::{Dispatch, ResultRouter};
use captchaai_client::strategy::{Solver, Strategy};
use futures::StreamExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::{
    EventLog, KEY, ShutdownOnDrop, http, record_events, secs, serve, serve_router, turnstile,
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

#[tokio::test(start_paused = true)]
async fn poll_only_follows_the_sdk_timing_and_sends_no_pingback() {
    let env = Env::start(Plan::new(secs(12), Pingback::Drop)).await;
    let solution = env
        .solver(Strategy::PollOnly)
        .solve(&turnstile())
        .await
        .unwrap();
    assert_eq!(solution.token(), Some("token-1001"));
    assert_eq!(env.submits()[0].1, None, "no pingback url for PollOnly");
    // Turnstile: first poll after 10 s, then every 5 s.
    assert_offsets(&env.poll_offsets(), &[10, 15]);
    let kept = env.store.get(solution.task_id()).unwrap();
    assert_eq!(kept.source(), ResultSource::Poll);
}

#[tokio::test(start_paused = true)]
async fn pingback_only_waits_for_the_callback_and_never_polls() {
    let env = Env::start(Plan::new(secs(7), Pingback::After(secs(7)))).await;
    let started = Instant::now();
    let solution = env
        .solver(Strategy::PingbackOnly)
        .solve(&turnstile())
        .await
        .unwrap();
    assert_eq!(solution.token(), Some("token-1001"));
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(7) && elapsed < secs(8), "{elapsed:?}");
    assert!(env.poll_offsets().is_empty());
    let url = env.submits()[0].1.clone().unwrap();
    assert!(url.ends_with("/pingback?token=s3cret"), "{url}");
    // Let the fake see the receiver's answer.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(env.fake.state.lock().unwrap().pingbacks[0].2, 200);
}

#[tokio::test(start_paused = true)]
async fn fallback_does_not_poll_when_the_pingback_arrives_in_the_quiet_period() {
    let env = Env::start(Plan::new(secs(7), Pingback::After(secs(7)))).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(20),
    };
    let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
    assert_eq!(solution.raw(), "token-1001");
    assert!(env.poll_offsets().is_empty());
}

#[tokio::test(start_paused = true)]
async fn fallback_polls_after_the_quiet_period_when_the_pingback_is_lost() {
    let env = Env::start(Plan::new(secs(27), Pingback::Drop)).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(20),
    };
    let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
    assert_eq!(solution.raw(), "token-1001");
    // First poll right at the end of the quiet period, then the interval.
    assert_offsets(&env.poll_offsets(), &[20, 25, 30]);
    assert_eq!(
        env.store.get(solution.task_id()).unwrap().source(),
        ResultSource::Poll
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_pingback_after_a_polled_result_is_a_no_op() {
    let env = Env::start(Plan::new(secs(6), Pingback::After(secs(30)))).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(5),
    };
    let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
    // The quiet period (5 s) is shorter than Turnstile's initial wait (10 s): the first poll
    // waits for the latter.
    assert_offsets(&env.poll_offsets(), &[10]);
    tokio::time::sleep(secs(40)).await;
    let pingbacks = env.fake.state.lock().unwrap().pingbacks.clone();
    assert_eq!(pingbacks.len(), 1);
    assert_eq!(pingbacks[0].2, 200, "the late pingback is acknowledged");
    let stats = env.store.stats();
    assert_eq!((stats.stored, stats.duplicates, stats.conflicts), (1, 1, 0));
    assert_eq!(
        env.store.get(solution.task_id()).unwrap().source(),
        ResultSource::Poll
    );
    assert_offsets(&env.poll_offsets(), &[10]);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_period_longer_than_an_overridden_initial_wait_rules() {
    let env = Env::start(Plan::new(secs(9), Pingback::Drop)).await;
    let client = Client::builder(env.fake_base.clone(), KEY)
        .poll_timing_override(Duration::ZERO, secs(3))
        .build()
        .unwrap();
    let solver = Solver::new(
        client,
        env.store.clone(),
        Strategy::PingbackWithFallback {
            quiet_period: secs(4),
        },
    )
    .with_pingback_url(env.pingback_url.clone());
    solver.solve(&turnstile()).await.unwrap();
    assert_offsets(&env.poll_offsets(), &[4, 7, 10]);
}

#[tokio::test(start_paused = true)]
async fn an_early_pingback_before_the_submit_answer_is_not_lost() {
    for strategy in [
        Strategy::PingbackOnly,
        Strategy::PingbackWithFallback {
            quiet_period: secs(20),
        },
    ] {
        let env = Env::start(Plan::new(secs(0), Pingback::BeforeSubmitAnswer)).await;
        let started = Instant::now();
        let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
        assert_eq!(solution.raw(), "token-1001");
        assert!(started.elapsed() < Duration::from_millis(50));
        assert!(env.poll_offsets().is_empty());
        let events = env.events.lock().unwrap().clone();
        let stored_at = events
            .iter()
            .position(|e| matches!(e, StoreEvent::Stored(_)))
            .unwrap();
        let registered_at = events
            .iter()
            .position(|e| matches!(e, StoreEvent::Registered { .. }))
            .unwrap();
        assert!(
            stored_at < registered_at,
            "the result really came first: {events:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn pingback_only_times_out_at_the_deadline() {
    let env = Env::start(Plan::new(secs(1000), Pingback::Drop)).await;
    let started = Instant::now();
    let err = env
        .solver(Strategy::PingbackOnly)
        .solve(&turnstile())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(120) && elapsed < secs(121), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn poll_only_times_out_at_the_deadline_without_polling_closer_than_the_interval() {
    let env = Env::start(Plan::new(secs(1000), Pingback::Drop)).await;
    let started = Instant::now();
    let err = env
        .solver(Strategy::PollOnly)
        .solve(&turnstile())
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(120) && elapsed < secs(121), "{elapsed:?}");
    let offsets = env.poll_offsets();
    // 10, 15, ..., 115: a poll at 120 s would be at the deadline itself.
    assert_eq!(offsets.len(), 22, "{offsets:?}");
    for pair in offsets.windows(2) {
        assert!(pair[1] - pair[0] >= secs(5));
    }
}

#[tokio::test(start_paused = true)]
async fn an_unsolvable_pingback_is_an_unsolvable_error() {
    let mut plan = Plan::new(secs(3), Pingback::After(secs(3)));
    plan.code = Some("ERROR_CAPTCHA_UNSOLVABLE");
    let env = Env::start(plan).await;
    let err = env
        .solver(Strategy::PingbackOnly)
        .solve(&turnstile())
        .await
        .unwrap_err();
    assert!(err.is_unsolvable());
    assert_eq!(err.api_code(), Some("ERROR_CAPTCHA_UNSOLVABLE"));
}

#[tokio::test(start_paused = true)]
async fn an_unsolvable_poll_is_recorded_so_the_pingback_is_a_duplicate() {
    let mut plan = Plan::new(secs(3), Pingback::After(secs(30)));
    plan.code = Some("ERROR_CAPTCHA_UNSOLVABLE");
    let env = Env::start(plan).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(5),
    };
    let err = env.solver(strategy).solve(&turnstile()).await.unwrap_err();
    assert!(err.is_unsolvable());
    tokio::time::sleep(secs(40)).await;
    let stats = env.store.stats();
    assert_eq!((stats.stored, stats.duplicates), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn pingback_strategies_need_a_url() {
    let env = Env::start(Plan::new(secs(1), Pingback::Drop)).await;
    let solver = Solver::new(
        env.client.clone(),
        env.store.clone(),
        Strategy::PingbackOnly,
    );
    let err = solver.solve(&turnstile()).await.unwrap_err();
    assert!(err.is_bad_input());
    assert!(env.submits().is_empty());
}

#[tokio::test(start_paused = true)]
async fn paused_clock_runs_are_deterministic() {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let env = Env::start(Plan::new(secs(33), Pingback::Drop)).await;
        let strategy = Strategy::PingbackWithFallback {
            quiet_period: secs(12),
        };
        env.solver(strategy).solve(&turnstile()).await.unwrap();
        runs.push(env.poll_offsets());
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[1], runs[2]);
}

// ---------------------------------------------------------------- fan-out

#[tokio::test(start_paused = true)]
async fn fan_out_rate_limits_submits_and_streams_every_result_once() {
    let env = Env::start(Plan::new(secs(3), Pingback::After(secs(3)))).await;
    let solver = env.solver(Strategy::PingbackOnly);
    let tasks = (0..6).map(|i| (format!("job-{i}"), turnstile()));
    let config = FanOutConfig::new(secs(60)).rate(Rate::per_second(NonZeroU32::new(2).unwrap()));
    let results: Vec<(String, _)> = fan_out(&solver, tasks, config).collect().await;
    assert_eq!(results.len(), 6);
    let mut refs: Vec<&str> = results.iter().map(|(r, _)| r.as_str()).collect();
    refs.sort_unstable();
    assert_eq!(refs, ["job-0", "job-1", "job-2", "job-3", "job-4", "job-5"]);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    let submits = env.submits();
    let t0 = submits[0].0;
    for (i, (at, _)) in submits.iter().enumerate() {
        let expected = Duration::from_millis(500) * i as u32;
        let offset = *at - t0;
        assert!(
            offset >= expected && offset < expected + Duration::from_millis(50),
            "submit {i} at {offset:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn fan_out_deadline_times_out_running_and_unsubmitted_tasks() {
    let env = Env::start(Plan::new(secs(1000), Pingback::Drop)).await;
    let solver = env.solver(Strategy::PingbackOnly);
    let tasks = (0..4).map(|i| (i, turnstile()));
    let config = FanOutConfig::new(secs(7)).rate(Rate::every(secs(5)));
    let started = Instant::now();
    let results: Vec<(i32, _)> = fan_out(&solver, tasks, config).collect().await;
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(7) && elapsed < secs(8), "{elapsed:?}");
    assert_eq!(
        results.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(
        results
            .iter()
            .all(|(_, r)| r.as_ref().unwrap_err().is_timeout())
    );
    assert_eq!(env.submits().len(), 2, "submits at 0 s and 5 s only");
}

#[tokio::test(start_paused = true)]
async fn fan_out_respects_max_in_flight() {
    let env = Env::start(Plan::new(secs(4), Pingback::After(secs(4)))).await;
    let solver = env.solver(Strategy::PingbackOnly);
    let tasks = (0..4).map(|i| (i, turnstile()));
    let config = FanOutConfig::new(secs(60)).max_in_flight(std::num::NonZeroUsize::new(2).unwrap());
    let results: Vec<(i32, _)> = fan_out(&solver, tasks, config).collect().await;
    assert_eq!(results.len(), 4);
    let submits = env.submits();
    let t0 = submits[0].0;
    let offsets: Vec<u64> = submits.iter().map(|(at, _)| (*at - t0).as_secs()).collect();
    assert_eq!(offsets, vec![0, 0, 4, 4]);
}

// ---------------------------------------------------------------- router

#[tokio::test(start_paused = true)]
async fn router_dispatches_once_when_a_result_arrives_by_poll_and_by_pingback() {
    let env = Env::start(Plan::new(secs(6), Pingback::After(secs(30)))).await;
    let seen: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let log = Arc::clone(&seen);
    let fallback: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let other = Arc::clone(&fallback);
    let router = ResultRouter::builder()
        .route("login", move |d| log.lock().unwrap().push(d))
        .default_handler(move |d| other.lock().unwrap().push(d))
        .build(&env.store);
    let solver = env.solver(Strategy::PingbackWithFallback {
        quiet_period: secs(5),
    });
    let task = turnstile();
    let id = solver.submit(&task).await.unwrap();
    router.assign(id, "login");
    let solution = solver.wait_for(&task, id).await.unwrap();
    tokio::time::sleep(secs(40)).await; // the late pingback arrives
    assert_eq!(env.store.stats().duplicates, 1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].route.as_deref(), Some("login"));
    assert_eq!(seen[0].result.code(), solution.raw());
    assert!(fallback.lock().unwrap().is_empty());
    assert_eq!(router.stats().dispatched, 1);
}

#[tokio::test(start_paused = true)]
async fn router_holds_early_results_until_assigned_and_flushes_strays_to_the_default() {
    let store = ResultStore::new();
    let routed: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let log = Arc::clone(&routed);
    let defaulted: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let other = Arc::clone(&defaulted);
    let router = ResultRouter::builder()
        .route("a", move |d| log.lock().unwrap().push(d))
        .default_handler(move |d| other.lock().unwrap().push(d))
        .unassigned_grace(secs(10))
        .build(&store);
    let shutdown = CancellationToken::new();
    let runner = {
        let router = router.clone();
        let token = shutdown.clone();
        tokio::spawn(async move { router.run(token).await })
    };
    let early = captchaai_client::TaskId::new(1);
    let stray = captchaai_client::TaskId::new(2);
    store.record(early, "x", ResultSource::Pingback).unwrap();
    store.record(stray, "y", ResultSource::Pingback).unwrap();
    tokio::time::sleep(secs(2)).await;
    assert!(routed.lock().unwrap().is_empty());
    router.assign(early, "a");
    assert_eq!(routed.lock().unwrap().len(), 1);
    tokio::time::sleep(secs(7)).await;
    assert!(
        defaulted.lock().unwrap().is_empty(),
        "still in its grace period"
    );
    tokio::time::sleep(secs(2)).await;
    let defaulted = defaulted.lock().unwrap().clone();
    assert_eq!(defaulted.len(), 1);
    assert_eq!(defaulted[0].route, None);
    assert_eq!(defaulted[0].result.code(), "y");
    // Assigning after the flush does not dispatch again.
    router.assign(stray, "a");
    assert_eq!(routed.lock().unwrap().len(), 1);
    assert_eq!(router.stats().dispatched, 2);
    shutdown.cancel();
    runner.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn router_never_dispatches_twice_after_the_store_forgets_a_task() {
    // The store forgets a task ten minutes (here one) after its result; a pingback the
    // service retries after that is a "first" result to the store, not to the router.
    let store = ResultStore::with_config(StoreConfig {
        ttl: secs(60),
        ..StoreConfig::default()
    });
    let seen: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let log = Arc::clone(&seen);
    let router = ResultRouter::builder()
        .route("login", {
            let log = Arc::clone(&log);
            move |d| log.lock().unwrap().push(d)
        })
        .default_handler(move |d| log.lock().unwrap().push(d))
        .retention(secs(3600))
        .build(&store);
    let id = captchaai_client::TaskId::new(7);
    let pending = captchaai_client::TaskId::new(8);
    router.assign(id, "login");
    router.assign(pending, "login");
    store.record(id, "tok", ResultSource::Poll).unwrap();
    tokio::time::sleep(secs(120)).await;
    assert!(store.is_empty(), "the store forgot both tasks");
    assert_eq!(store.stats().evicted, 1);
    store.record(id, "tok", ResultSource::Pingback).unwrap();
    // The route of a task still pending outlives the store's entry too.
    store
        .record(pending, "late", ResultSource::Pingback)
        .unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1].route.as_deref(), Some("login"));
        assert_eq!(seen[1].result.code(), "late");
    }
    assert_eq!(router.stats().dispatched, 2);
}
