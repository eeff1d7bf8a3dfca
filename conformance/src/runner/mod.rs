//! Runs one scenario against one subject and collects its record.
//!
//! Where it sits in the flow: scenario → **runner** → mock and subject → timeline → checks →
//! report. A run goes through its phases in order: start the mock (the scenario's settings,
//! the run's seed), start the subject (its receiver served behind the receiver-side layer),
//! forge the scenario's callbacks at their times, drive the workload at the scenario's pace,
//! let scheduled pingbacks settle, read back what the receiver stored, and assemble the
//! timeline into a [`RunRecord`] for the checks.
//!
//! In-process subjects run on a `current_thread` runtime with tokio's clock paused: mock,
//! subject and harness share one clock, real sockets on 127.0.0.1 carry every request, and
//! a run with hours of simulated time takes milliseconds. Subjects in another process get a
//! normal runtime and the mock's time scale instead (never pause the clock when a party
//! lives outside the runtime).
//!
//! - `record`: [`RunRecord`] and the ground truth;
//! - `receiver_env`: the layer in front of an in-process receiver (faults, observation);
//! - `inject`: forged callbacks;
//! - `settle`: waiting for scheduled pingbacks;
//! - `probe`: reading what the receiver stored.

mod inject;
mod probe;
mod receiver_env;
mod record;
mod settle;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use captchaai_mock::MockServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub(crate) use inject::{FORGED_CODE, not_local};
pub(crate) use receiver_env::ENV_FAILURE_BODY;
pub(crate) use record::{RunRecord, Truth};

use crate::{
    scenario::{KeyChoice, SCENARIO_KEY, Scenario, SubmitPattern},
    subject::{Capabilities, RunContext, Started, Subject},
    timeline::{Deliveries, Recorder, Timeline},
};

/// Runs a scenario on a fresh runtime (paused clock for in-process subjects).
pub(crate) fn run(scenario: Arc<Scenario>, subject: &dyn Subject, seed: u64) -> RunRecord {
    let caps = subject.capabilities(&scenario);
    let mut builder = if caps.in_process {
        let mut b = tokio::runtime::Builder::new_current_thread();
        b.start_paused(true);
        b
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            return RunRecord::aborted(scenario, caps, format!("cannot start a runtime: {e}"));
        }
    };
    let run = Run {
        scenario,
        subject,
        caps,
        seed,
    };
    let rec = runtime.block_on(run.run());
    runtime.shutdown_timeout(Duration::from_millis(100));
    rec
}

/// The private folder of a TLS mock's CA, registered for removal should the harness exit on
/// a signal; removed when dropped.
struct CaDir {
    dir: tempfile::TempDir,
    _registered: crate::cleanup::DirGuard,
}

/// Simulated seconds per real second: the harness's own timers (pacing, caps, grace) run
/// in simulated time, and sleep this much shorter in real time.
#[derive(Clone, Copy, Debug)]
struct TimeScale(f64);

impl TimeScale {
    /// The real time a simulated duration takes.
    fn real(self, d: Duration) -> Duration {
        if self.0 == 1.0 {
            d
        } else {
            Duration::from_secs_f64(d.as_secs_f64() / self.0)
        }
    }
}

/// One run's inputs.
struct Run<'a> {
    scenario: Arc<Scenario>,
    subject: &'a dyn Subject,
    caps: Capabilities,
    seed: u64,
}

impl Run<'_> {
    /// Every phase, in order.
    async fn run(self) -> RunRecord {
        let (mock, scale, ca_dir) = match self.start_mock().await {
            Ok(m) => m,
            Err(why) => return self.aborted(why),
        };
        let recorder = Recorder::new(mock.handle());
        let shutdown = CancellationToken::new();
        let (started, serving) = match self.start_subject(&mock, &recorder, &shutdown, scale).await
        {
            Ok(s) => s,
            Err(why) => return self.aborted(why),
        };
        let injections = inject::spawn_all(
            &self.scenario,
            started.callback_url.as_deref(),
            &recorder,
            inject::Senders {
                scale,
                sources: self.caps.sources,
                // In-process runs keep the ids their reports have always shown; a run with
                // another process forges ids from its own block, never handed out.
                unknown_ids: if self.caps.in_process {
                    inject::IN_PROCESS_UNKNOWN_IDS
                } else {
                    mock.config().first_task_id + ids_for(&self.scenario) / 2
                },
            },
        );
        let aborted = self.drive_workload(&started, scale).await;
        for i in injections {
            let _ = i.await;
        }
        let state = mock.handle();
        let mut deliveries = Deliveries::default();
        settle::drain(&state, &mut deliveries, self.caps.in_process, scale).await;

        let ids = recorder.ids();
        let truth = record::collect_truth(&state, state.tasks());
        let (stored, probe_error) = match &started.probe {
            Some(probe) => {
                probe::read_stored(probe.as_ref(), &state, &mut deliveries, &recorder, &truth).await
            }
            None => (BTreeMap::new(), None),
        };
        let busy_rejections = state.counters().busy_rejections;
        let ended_at_ms = state.now().as_millis() as u64;
        // The subject's part is over: stop it and its receiver before the timeline is
        // built, so that what they hold (the store, the client's tasks) is freed first.
        shutdown.cancel();
        let probed = started.probe.is_some();
        drop(started);
        if let Some(serving) = serving {
            let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
        }
        let timeline = Timeline::assemble(&state, deliveries, &recorder);
        mock.shutdown().await;
        drop(ca_dir);
        RunRecord {
            scenario: self.scenario,
            timeline,
            truth,
            ids,
            stored,
            probed,
            probe_error,
            busy_rejections,
            ended_at_ms,
            aborted,
            caps: self.caps,
            time_scale: scale.0,
        }
    }

    fn aborted(self, why: String) -> RunRecord {
        RunRecord::aborted(self.scenario, self.caps, why)
    }

    /// The mock with the scenario's settings and the run's seed (HTTPS when the subject
    /// needs it, its CA in a private folder of its own, removed when the returned value drops).
    async fn start_mock(&self) -> Result<(MockServer, TimeScale, Option<CaDir>), String> {
        let mut cfg = self.scenario.mock.clone();
        cfg.seed = self.seed;
        cfg.pingback.source_address = Some(self.caps.sources.trusted);
        if self.caps.in_process {
            cfg.time_scale = 1.0;
        } else {
            // Another process outlives this run (a receiver serves every scenario
            // and every replay): give the run task ids nobody has used.
            cfg.first_task_id = reserve_ids(ids_for(&self.scenario));
        }
        let scale = TimeScale(cfg.time_scale);
        if !self.caps.mock_tls {
            return match MockServer::start_with(cfg).await {
                Ok(m) => Ok((m, scale, None)),
                Err(e) => Err(format!("cannot start the mock: {e}")),
            };
        }
        let dir = tempfile::Builder::new()
            .prefix("captchaai-conformance-ca-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| format!("cannot create a folder for the mock's CA: {e}"))?;
        let ca_dir = CaDir {
            _registered: crate::cleanup::track_dir(dir.path().to_owned()),
            dir,
        };
        match MockServer::builder()
            .config(cfg)
            .tls(ca_dir.dir.path())
            .start()
            .await
        {
            Ok(m) => Ok((m, scale, Some(ca_dir))),
            Err(e) => Err(format!("cannot start the mock: {e}")),
        }
    }

    /// Starts the subject and serves its receiver (if it hosts one) on a free port, behind
    /// the receiver-side layer, until `shutdown`; gives the task serving it.
    async fn start_subject(
        &self,
        mock: &MockServer,
        recorder: &Recorder,
        shutdown: &CancellationToken,
        scale: TimeScale,
    ) -> Result<(Started, Option<tokio::task::JoinHandle<()>>), String> {
        let listener = if self.caps.hosts_receiver {
            match TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await {
                Ok(l) => Some(l),
                Err(e) => return Err(format!("cannot bind the receiver: {e}")),
            }
        } else {
            None
        };
        let ctx = RunContext {
            scenario: self.scenario.clone(),
            seed: self.seed,
            mock_uri: mock.uri(),
            api_key: key_for(self.scenario.subject.key),
            receiver_base: listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| format!("http://{a}")),
            recorder: recorder.clone(),
            mock: mock.handle(),
            time_scale: scale.0,
            ca_path: mock.ca_path().map(std::path::Path::to_path_buf),
        };
        let mut started = match self.subject.start(ctx).await {
            Ok(s) => s,
            Err(e) => return Err(format!("cannot start the subject: {e}")),
        };
        let mut serving = None;
        if let (Some(listener), Some(router)) = (listener, started.receiver.take()) {
            let app = receiver_env::with_receiver_env(router, &self.scenario, recorder.clone());
            let token = shutdown.clone();
            serving = Some(tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await;
            }));
        }
        Ok((started, serving))
    }

    /// Submits the workload at the scenario's pace and waits for every task, at most the
    /// run's cap; then lets the subject finish. The reason the run stopped early, if it did.
    async fn drive_workload(&self, started: &Started, scale: TimeScale) -> Option<String> {
        let scenario = &self.scenario;
        let driver = started.driver.clone();
        // A JoinSet polls only the tasks that finished: awaiting every handle in turn
        // (`join_all`) re-polls the pending ones each time the runtime's budget runs out,
        // quadratic in the tasks.
        let mut runs = tokio::task::JoinSet::new();
        for (i, task) in scenario.tasks.iter().cloned().enumerate() {
            if i > 0 {
                match scenario.submit {
                    SubmitPattern::AllAtOnce => {}
                    SubmitPattern::Every(d) => tokio::time::sleep(scale.real(d)).await,
                    SubmitPattern::PerSecond(n) => {
                        let gap = Duration::from_secs_f64(1.0 / n.max(1) as f64);
                        tokio::time::sleep(scale.real(gap)).await
                    }
                }
            }
            runs.spawn(driver.run(task));
        }
        let cap = workload_cap(scenario, self.caps.in_process);
        let mut aborted = None;
        let all = async { while runs.join_next().await.is_some() {} };
        if tokio::time::timeout(scale.real(cap), all).await.is_err() {
            // The tasks still running go on, as detached tasks: what they record before
            // the run ends is graded.
            runs.detach_all();
            aborted = Some(format!(
                "the subject did not finish its tasks within {} of simulated time",
                humantime::format_duration(cap)
            ));
        }
        driver.finish().await;
        if let Some(why) = driver.broke_off() {
            aborted.get_or_insert(why);
        }
        aborted
    }
}

/// How long the runner waits for the workload's tasks after the last submit.
fn workload_cap(scenario: &Scenario, in_process: bool) -> Duration {
    let longest = scenario.batch_deadline.unwrap_or(Duration::ZERO);
    if in_process {
        longest.max(scenario.subject.deadline * 3) + Duration::from_secs(600)
    } else {
        // Another process keeps its own time: the deadline twice over, plus a margin.
        longest.max(scenario.subject.deadline * 2) + Duration::from_secs(60)
    }
}

/// The most simulated time an in-process run of `scenario` can last, phase by phase: the
/// submits and the wait for their tasks (or the last forged callback, if later), then
/// settling. An in-process subject that keeps what it receives for this long still has it
/// when the run reads it back.
pub(crate) fn longest_in_process(scenario: &Scenario) -> Duration {
    let workload = scenario.submit_span() + workload_cap(scenario, true);
    let injections = scenario
        .inject
        .iter()
        .map(|i| i.at)
        .max()
        .unwrap_or_default();
    workload.max(injections) + settle::LONGEST_IN_PROCESS
}

/// The first id of a block of task ids no other run of this process uses, `len` long, for a
/// run with another process (a receiver keeps what it stored across scenarios, runs and
/// replays, so ids must never repeat). Blocks are handed out in turn from a start taken from
/// the wall clock, 1 000 ids per millisecond: a later process starts above every block an
/// earlier one could have used unless it reserved more than that per millisecond it ran.
/// Every id stays above those a default mock hands out and below 2^53 (ids a JavaScript
/// receiver could read as a number).
fn reserve_ids(len: u64) -> u64 {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        #[allow(clippy::disallowed_methods)] // uniqueness across processes, not simulated time
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        std::sync::atomic::AtomicU64::new(75_000_000_000_000 + (now_ms % 8_000_000_000_000) * 1000)
    });
    next.fetch_add(len, Ordering::Relaxed)
}

/// How many ids a run with another process reserves: ten per task (a client program may
/// submit again), at least 10 000.
fn ids_for(scenario: &Scenario) -> u64 {
    (scenario.tasks.len() as u64 * 10).max(10_000)
}

fn key_for(choice: KeyChoice) -> String {
    match choice {
        KeyChoice::Valid => SCENARIO_KEY.to_owned(),
        KeyChoice::Unknown => "ffffffffffffffffffffffffffffffff".to_owned(),
        KeyChoice::Malformed => "too-short-key".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::reserve_ids;

    /// Task ids of runs with another process never repeat: each run gets a block of its
    /// own, above a default mock's ids and below 2^53.
    #[test]
    fn id_blocks_never_overlap() {
        let blocks = [(reserve_ids(10_000), 10_000), (reserve_ids(25_000), 25_000)];
        let third = reserve_ids(10_000);
        assert!(blocks[0].0 + blocks[0].1 <= blocks[1].0);
        assert!(blocks[1].0 + blocks[1].1 <= third);
        assert!(blocks[0].0 > captchaai_mock::DEFAULT_FIRST_TASK_ID + 1_000_000_000);
        assert!(third + 10_000 < 1 << 53);
    }
}
