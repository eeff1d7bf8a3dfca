//! Subjects: what the harness grades.
//!
//! A [`Subject`] is started once per run. It may host a pingback receiver
//! (an axum router the harness serves, behind its receiver-side fault layer)
//! and returns a [`Driver`] that solves each workload task the way its
//! application would, recording what the application sees through the
//! [`Recorder`]: the task id after submit, then each result or error handed
//! to the application. A [`Probe`] lets the harness ask the receiver what it
//! stored, to check that nothing changed state that should not have.
//!
//! The reference subject ([`reference::Reference`]) is `captchaai-client`'s
//! client, receiver and store. Deliberately broken subjects live in the test
//! tree and prove the harness can fail.

pub mod external;
pub mod reference;
pub mod tasks;

use std::{future::Future, pin::Pin, sync::Arc};

use axum::Router;

use crate::{scenario::Scenario, timeline::Recorder};

/// A boxed future, as subjects return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a subject gets to start a run.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// The run's seed.
    pub seed: u64,
    /// The mock's base URL.
    pub mock_uri: String,
    /// The API key the client must use (per the scenario's key choice).
    pub api_key: String,
    /// `http://127.0.0.1:PORT` where the subject's receiver will be served, if it has one.
    pub receiver_base: Option<String>,
    /// Where to record what the application sees.
    pub recorder: Recorder,
    /// The mock's state (ground truth, journals).
    pub mock: captchaai_mock::MockHandle,
    /// Simulated seconds per real second (1 on the paused clock).
    pub time_scale: f64,
    /// The mock's CA certificate, when it serves HTTPS.
    pub ca_path: Option<std::path::PathBuf>,
}

/// A started subject.
pub struct Started {
    /// The pingback endpoint to serve at `receiver_base` (None: no receiver, or an external one).
    pub receiver: Option<Router>,
    /// The URL the client passes as `pingback` (None: the subject does not use pingbacks).
    pub callback_url: Option<String>,
    /// Runs each workload task.
    pub driver: Arc<dyn Driver>,
    /// Reads back what the receiver stored.
    pub probe: Option<Arc<dyn Probe>>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

/// Solves workload tasks as the subject's application would.
pub trait Driver: Send + Sync {
    /// Solves one task, recording the task id, then each result or error, in the recorder.
    fn run(&self, task: crate::scenario::WorkTask) -> BoxFuture<'static, ()>;

    /// Called once after every task has finished (flush routers, stop background work).
    fn finish(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// After [`Driver::finish`]: why the subject itself broke off the run (a
    /// client program that exited with tasks unreported), if it did.
    fn broke_off(&self) -> Option<String> {
        None
    }
}

/// Reads what a receiver stored.
pub trait Probe: Send + Sync {
    /// The code stored for a task id (`None`: nothing stored), or why it could not be read
    /// (the results endpoint refused, timed out or answered something else).
    fn stored(&self, task_id: &str) -> BoxFuture<'static, Result<Option<String>, String>>;
}

/// Something the harness can grade.
pub trait Subject: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> String;

    /// Whether the subject hosts a receiver the harness must serve.
    fn hosts_receiver(&self) -> bool {
        true
    }

    /// Whether every party lives in the harness's runtime (then the clock is paused;
    /// otherwise the mock runs with the scenario's time scale).
    fn in_process(&self) -> bool {
        true
    }

    /// Whether the subject reports what its application receives (results and
    /// errors); a bare receiver does not, and is graded from the HTTP side only.
    fn observes_app(&self) -> bool {
        true
    }

    /// Whether the receiver is expected to accept registered task ids only.
    fn enforces_registration(&self, scenario: &Scenario) -> bool {
        scenario.subject.registered_only
    }

    /// Whether the callback URL carries a shared secret the receiver checks.
    fn uses_secret(&self, scenario: &Scenario) -> bool {
        scenario.subject.secret
    }

    /// How fast (real time) the receiver must acknowledge a valid callback.
    fn latency_budget(&self) -> Option<std::time::Duration> {
        None
    }

    /// Whether the mock must serve HTTPS.
    fn mock_tls(&self) -> bool {
        false
    }

    /// Whether the subject can run a scenario; `Err` gives the reason to skip it.
    fn supports(&self, _scenario: &Scenario) -> Result<(), String> {
        Ok(())
    }

    /// Starts the subject for one run.
    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>>;
}
