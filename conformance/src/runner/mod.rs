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
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use captchaai_mock::MockServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub(crate) use receiver_env::ENV_FAILURE_BODY;
pub(crate) use record::{RunRecord, Truth};

use crate::{
    scenario::{KeyChoice, SCENARIO_KEY, Scenario, SubmitPattern},
    subject::{Capabilities, RunContext, Started, Subject},
    timeline::{Recorder, Timeline},
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
        let started = match self.start_subject(&mock, &recorder, &shutdown, scale).await {
            Ok(s) => s,
            Err(why) => return self.aborted(why),
        };
        let injections = inject::spawn_all(
            &self.scenario,
            started.callback_url.as_deref(),
            &recorder,
            scale,
        );
        let aborted = self.drive_workload(&started, scale).await;
        for i in injections {
            let _ = i.await;
        }
        let state = mock.handle();
        settle::drain(&state, self.caps.in_process, scale).await;

        let ids = recorder.ids();
        let truth = record::collect_truth(&state, &state.tasks());
        let (stored, probe_error) = match &started.probe {
            Some(probe) => probe::read_stored(probe.as_ref(), &state, &recorder, &truth).await,
            None => (BTreeMap::new(), None),
        };
        let busy_rejections = state.counters().busy_rejections;
        let ended_at_ms = state.now().as_millis() as u64;
        let timeline = Timeline::assemble(&state, &recorder);
        shutdown.cancel();
        mock.shutdown().await;
        if self.caps.mock_tls {
            let _ = std::fs::remove_dir_all(&ca_dir);
        }
        RunRecord {
            scenario: self.scenario,
            timeline,
            truth,
            ids,
            stored,
            probed: started.probe.is_some(),
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
    /// needs it, its CA in the returned folder).
    async fn start_mock(&self) -> Result<(MockServer, TimeScale, PathBuf), String> {
        let mut cfg = self.scenario.mock.clone();
        cfg.seed = self.seed;
        if self.caps.in_process {
            cfg.time_scale = 1.0;
        } else {
            // Another process outlives this run (a receiver serves every scenario
            // and every replay): give the run task ids nobody has used.
            cfg.first_task_id = unique_first_id();
        }
        let scale = TimeScale(cfg.time_scale);
        let ca_dir = std::env::temp_dir().join(format!(
            "captchaai-conformance-ca-{}-{}",
            std::process::id(),
            self.seed
        ));
        let started_mock = if self.caps.mock_tls {
            MockServer::builder().config(cfg).tls(&ca_dir).start().await
        } else {
            MockServer::start_with(cfg).await
        };
        match started_mock {
            Ok(m) => Ok((m, scale, ca_dir)),
            Err(e) => Err(format!("cannot start the mock: {e}")),
        }
    }

    /// Starts the subject and serves its receiver (if it hosts one) on a free port, behind
    /// the receiver-side layer.
    async fn start_subject(
        &self,
        mock: &MockServer,
        recorder: &Recorder,
        shutdown: &CancellationToken,
        scale: TimeScale,
    ) -> Result<Started, String> {
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
        if let (Some(listener), Some(router)) = (listener, started.receiver.take()) {
            let app = receiver_env::with_receiver_env(router, &self.scenario, recorder.clone());
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
        Ok(started)
    }

    /// Submits the workload at the scenario's pace and waits for every task, at most the
    /// run's cap; then lets the subject finish. The reason the run stopped early, if it did.
    async fn drive_workload(&self, started: &Started, scale: TimeScale) -> Option<String> {
        let scenario = &self.scenario;
        let driver = started.driver.clone();
        let mut runs = Vec::new();
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
            runs.push(tokio::spawn(driver.run(task)));
        }
        let longest = scenario.batch_deadline.unwrap_or(Duration::ZERO);
        let cap = if self.caps.in_process {
            longest.max(scenario.subject.deadline * 3) + Duration::from_secs(600)
        } else {
            // Another process keeps its own time: the deadline twice over, plus a margin.
            longest.max(scenario.subject.deadline * 2) + Duration::from_secs(60)
        };
        let mut aborted = None;
        let all = futures::future::join_all(runs);
        if tokio::time::timeout(scale.real(cap), all).await.is_err() {
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
