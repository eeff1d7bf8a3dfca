//! The reference subject: `captchaai-client`'s client, pingback receiver,
//! idempotent store and router, wired the way the crate's docs recommend.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use captchaai_client::{
    Client, Error as ClientError, TaskId,
    receiver::{
        Receiver, ReceiverConfig, RedisConfig, ResultSource, ResultStore, StoreConfig, StoreEvent,
    },
    router::{Dispatch, ResultRouter},
    strategy::{Solver, Strategy},
};
use tokio_util::sync::CancellationToken;

use super::{BoxFuture, Driver, Probe, RunContext, Started, Subject, clock_hold::ClockHold, tasks};
use crate::{
    scenario::{Scenario, StrategyName, WorkTask},
    timeline::{AppErrorKind, Event, Recorder, ResultPath, Source},
};

/// `captchaai-client` as a subject.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

/// The shared secret the reference receiver uses for a seed.
pub(crate) fn secret_for(seed: u64) -> String {
    // SplitMix64's finaliser, as the mock derives its own seeds: any fixed mixing works
    // (reports must stay the same for a seed), this one keeps every secret of old reports.
    let mut z = (seed ^ 0x5EC2E7).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("s{:016x}", z ^ (z >> 31))
}

fn result_path(s: ResultSource) -> ResultPath {
    match s {
        ResultSource::Pingback => ResultPath::Pingback,
        ResultSource::Poll => ResultPath::Poll,
        ResultSource::Manual => ResultPath::Manual,
    }
}

fn source_name(s: ResultSource) -> &'static str {
    result_path(s).name()
}

fn record_store_event(rec: &Recorder, e: &StoreEvent) {
    let (what, task) = match e {
        StoreEvent::Registered { .. } => return,
        StoreEvent::Stored(r) => (
            format!("stored from {}", source_name(r.source())),
            Some(r.task_id().get()),
        ),
        StoreEvent::Duplicate { task_id, source } => (
            format!("duplicate from {} ignored", source_name(*source)),
            Some(task_id.get()),
        ),
        StoreEvent::Conflict {
            task_id, source, ..
        } => (
            format!(
                "conflicting result from {} ignored, first kept",
                source_name(*source)
            ),
            Some(task_id.get()),
        ),
        StoreEvent::Rejected { task_id, reason } => {
            (format!("rejected: {reason}"), task_id.map(TaskId::get))
        }
        StoreEvent::Evicted { task_id, .. } => ("evicted".to_owned(), Some(task_id.get())),
        _ => (format!("{e:?}"), None),
    };
    rec.record(Source::Receiver, Event::Store { what, task });
}

/// Records an error the application received.
pub fn record_error(rec: &Recorder, ordinal: u64, task: Option<u64>, e: &ClientError) {
    rec.error(
        ordinal,
        task,
        AppErrorKind::from_name(e.kind().as_str()),
        e.api_code().map(str::to_owned),
        e.message(),
    );
}

impl Subject for Reference {
    fn name(&self) -> String {
        "reference (captchaai-client)".to_owned()
    }

    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>> {
        Box::pin(async move {
            let store = watched(&ctx, ResultStore::with_config(store_config(&ctx.scenario)));
            start(self, ctx, store).await
        })
    }
}

/// `captchaai-client` as a subject with its receiver's store in Redis (`--reference-store`):
/// every run has a key prefix of its own, and the paused clock of the run stands still
/// while a call to Redis is out ([`ClockHold`](super::clock_hold)).
#[derive(Clone, Debug)]
pub struct ReferenceOnRedis {
    redis: RedisConfig,
}

/// How long no call to Redis may finish, in real time, before the run's clock moves on
/// anyway (and the calls out time out): the store's own bound of one call.
const REDIS_STALL: Duration = captchaai_client::receiver::DEFAULT_REDIS_TIMEOUT;

/// Redis counts a ttl in real time, the run in simulated time: the store's ttl gets this
/// much on top of the longest simulated run, so that nothing expires before the run reads
/// it back even if the run takes far longer in real time than in simulated time (a
/// 1,000,000-task run takes minutes). The keys of a run go when their ttl ends.
const REDIS_REAL_TIME_MARGIN: Duration = Duration::from_secs(6 * 3600);

impl ReferenceOnRedis {
    /// The reference subject on the Redis at `url` (`redis://host:port/db`); an invalid
    /// URL is refused here, an unreachable Redis by [`ReferenceOnRedis::check`].
    pub fn new(url: &str) -> Result<Self, String> {
        let redis = RedisConfig::new(url).map_err(|e| e.to_string())?;
        Ok(ReferenceOnRedis { redis })
    }

    /// The Redis URL, any password replaced by `***`.
    pub fn url(&self) -> String {
        self.redis.url()
    }

    /// Asks Redis once, as a run will (`PING`, then the store's script, under a key prefix
    /// no run uses): Ok if the store can work there.
    pub async fn check(&self) -> Result<(), String> {
        let config = self
            .redis
            .clone()
            .with_key_prefix(run_prefix("check"))
            .map_err(|e| e.to_string())?;
        let store = ResultStore::with_redis(config, StoreConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        store.health().await.map_err(|e| e.to_string())?;
        store.len().await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// A key prefix of its own for each run (and check) of this process: runs on one Redis,
/// in this process or another, never see each other's entries.
fn run_prefix(what: &str) -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let salt: u64 = rand::random();
    format!(
        "captchaai-conformance:{salt:016x}-{}:{what}:",
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

impl Subject for ReferenceOnRedis {
    fn name(&self) -> String {
        format!(
            "reference (captchaai-client, store on redis at {})",
            self.url()
        )
    }

    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>> {
        Box::pin(async move {
            let hold = ClockHold::new(REDIS_STALL);
            let redis = self
                .redis
                .clone()
                .with_key_prefix(run_prefix("run"))
                .map_err(|e| e.to_string())?
                .with_call_hook(move || Box::new(hold.enter()));
            let mut limits = store_config(&ctx.scenario);
            limits.ttl += REDIS_REAL_TIME_MARGIN;
            let store = ResultStore::with_redis(redis, limits)
                .await
                .map_err(|e| format!("the result store on redis: {e}"))?;
            let store = watched(&ctx, store);
            start(&Reference, ctx, store).await
        })
    }
}

/// Starts the reference subject with its receiver on `store`.
async fn start(
    subject: &Reference,
    ctx: RunContext,
    store: ResultStore,
) -> Result<Started, String> {
    let s = &ctx.scenario.subject;

    let mut rcfg = ReceiverConfig::default().registered_only(s.registered_only);
    let caps = subject.capabilities(&ctx.scenario);
    if caps.source_checked {
        // Only the address genuine pingbacks leave from, as CaptchaAI's published
        // callback addresses are meant to be used.
        rcfg = rcfg.allow_network(ipnet::IpNet::from(caps.sources.trusted));
    }
    if s.secret {
        rcfg = rcfg
            .with_secret(secret_for(ctx.seed))
            .map_err(|e| e.to_string())?;
    }
    let base = ctx
        .receiver_base
        .clone()
        .ok_or("the reference subject needs a receiver address")?;
    let callback_url = rcfg.callback_url(&base).map_err(|e| e.to_string())?;
    let receiver = Receiver::new(rcfg, store.clone());

    let client = Client::builder(ctx.mock_uri.clone(), ctx.api_key.clone())
        .json(s.json)
        .deadline(s.deadline)
        .seed(ctx.seed)
        .build()
        .map_err(|e| e.to_string())?;
    let strategy = match s.strategy {
        StrategyName::PollOnly => Strategy::PollOnly,
        StrategyName::PingbackOnly => Strategy::PingbackOnly,
        StrategyName::PingbackWithFallback => Strategy::PingbackWithFallback {
            quiet_period: s.fallback_after,
        },
    };
    // In the 2captcha dialect the application registers its callback host first.
    if strategy.uses_pingback()
        && ctx.scenario.mock.dialect == captchaai_mock::Dialect::TwoCaptcha
        && let Err(e) = client.add_pingback(&callback_url).await
    {
        ctx.recorder.record(
            Source::App,
            Event::Note {
                message: format!("add_pingback failed: {e}"),
            },
        );
    }
    let mut solver = Solver::new(client, store.clone(), strategy);
    if strategy.uses_pingback() {
        solver = solver.with_pingback_url(callback_url.clone());
    }

    let ordinals: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let cancel = CancellationToken::new();
    let router = s
        .router
        .then(|| result_router(&ctx, &store, &ordinals, &cancel));

    let driver = ReferenceDriver {
        solver,
        router,
        ordinals,
        recorder: ctx.recorder.clone(),
        cancel,
    };
    Ok(Started {
        receiver: Some(receiver.router()),
        callback_url: strategy.uses_pingback().then_some(callback_url),
        driver: Arc::new(driver),
        probe: Some(Arc::new(StoreProbe(store))),
    })
}

/// How long the reference subject keeps what it received: past the longest the run can
/// last (the harness reads the results back at the end), with an hour to spare.
fn retention(scenario: &Scenario) -> Duration {
    crate::runner::longest_in_process(scenario) + Duration::from_secs(3600)
}

/// The most ids the run can make the receiver hold at once: every task of the workload,
/// the unknown id a malformed callback may carry (at most one per task: a task's schedule
/// has one fault), and every forged callback's.
fn ids_in_flight(scenario: &Scenario) -> usize {
    scenario.tasks.len() * 2 + scenario.inject.len()
}

/// The store's limits for a run, from the scenario: its results outlive the run and it
/// holds every id the run can name, so no result the subject took is expired or evicted by
/// the harness's own configuration (never below the defaults).
fn store_config(scenario: &Scenario) -> StoreConfig {
    let default = StoreConfig::default();
    StoreConfig {
        ttl: retention(scenario).max(default.ttl),
        capacity: ids_in_flight(scenario).max(default.capacity),
        ..default
    }
}

/// The store behind the receiver, its events recorded.
fn watched(ctx: &RunContext, store: ResultStore) -> ResultStore {
    let rec = ctx.recorder.clone();
    store.on_event(move |e| record_store_event(&rec, e));
    store
}

/// The router (a handler per route of the workload, each recording what it is handed),
/// running until `cancel`.
fn result_router(
    ctx: &RunContext,
    store: &ResultStore,
    ordinals: &Arc<Mutex<HashMap<u64, u64>>>,
    cancel: &CancellationToken,
) -> ResultRouter {
    let handler = {
        let rec = ctx.recorder.clone();
        let ordinals = ordinals.clone();
        move |d: Dispatch| {
            let id = d.result.task_id().get();
            let ordinal = ordinals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
                .copied()
                .unwrap_or(0);
            rec.result(
                ordinal,
                Some(id),
                d.result.code(),
                Some(result_path(d.result.source())),
                d.route.as_deref(),
            );
        }
    };
    // It remembers every id it routes or dispatches for the whole run, as the store keeps
    // their results (its default retention, a day, is shorter than the longest run).
    let mut b = ResultRouter::builder()
        .retention(retention(&ctx.scenario))
        .capacity(ids_in_flight(&ctx.scenario))
        .default_handler(handler.clone());
    let mut routes: Vec<&str> = ctx
        .scenario
        .tasks
        .iter()
        .filter_map(|t| t.route.as_deref())
        .collect();
    routes.sort_unstable();
    routes.dedup();
    for r in routes {
        b = b.route(r, handler.clone());
    }
    let router = b.build(store);
    let r2 = router.clone();
    let c2 = cancel.clone();
    tokio::spawn(async move { r2.run(c2).await });
    router
}

struct ReferenceDriver {
    solver: Solver,
    router: Option<ResultRouter>,
    ordinals: Arc<Mutex<HashMap<u64, u64>>>,
    recorder: Recorder,
    cancel: CancellationToken,
}

impl Driver for ReferenceDriver {
    fn run(&self, task: WorkTask) -> BoxFuture<'static, ()> {
        let solver = self.solver.clone();
        let router = self.router.clone();
        let ordinals = self.ordinals.clone();
        let rec = self.recorder.clone();
        Box::pin(async move {
            let t = tasks::build(task.kind, &task.params);
            let id = match solver.submit(&t).await {
                Ok(id) => id,
                Err(e) => return record_error(&rec, task.ordinal, None, &e),
            };
            ordinals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.get(), task.ordinal);
            rec.submitted(task.ordinal, id.get());
            if let Some(router) = &router {
                let route = task.route.clone().unwrap_or_else(|| "default".into());
                if let Err(e) = router.assign(id, route).await {
                    let message = format!("assigning task {id} to its route failed: {e}");
                    rec.record(Source::App, Event::Note { message });
                }
            }
            match solver.wait_for(&t, id).await {
                Ok(solution) if router.is_none() => {
                    let kept = solver.store().get(id).await.ok().flatten();
                    let via = kept.map(|r| result_path(r.source()));
                    rec.result(task.ordinal, Some(id.get()), solution.raw(), via, None);
                }
                Ok(_) => {} // the router handler records it
                Err(e) if router.is_some() && e.is_unsolvable() => {} // dispatched as a result with the error code
                Err(e) => record_error(&rec, task.ordinal, Some(id.get()), &e),
            }
        })
    }

    fn finish(&self) -> BoxFuture<'static, ()> {
        let router = self.router.clone();
        let cancel = self.cancel.clone();
        Box::pin(async move {
            if let Some(r) = router {
                r.flush_unassigned();
            }
            cancel.cancel();
        })
    }
}

struct StoreProbe(ResultStore);

impl Probe for StoreProbe {
    fn stored(&self, task_id: &str) -> BoxFuture<'static, Result<Option<String>, String>> {
        let store = self.0.clone();
        let id = task_id.parse::<u64>().ok();
        Box::pin(async move {
            let Some(id) = id else { return Ok(None) };
            let kept = store
                .get(TaskId::new(id))
                .await
                .map_err(|e| e.to_string())?;
            Ok(kept.map(|r| r.code().to_owned()))
        })
    }
}
