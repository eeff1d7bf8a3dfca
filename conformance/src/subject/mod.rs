//! Subjects: what the harness grades.
//!
//! Where they sit in the flow: scenario → runner → mock and **subject** → timeline → checks
//! → report. A [`Subject`] says what it is and can be graded on ([`Capabilities`]) and is
//! started once per run. It may host a pingback receiver (an axum router the harness serves,
//! behind its receiver-side fault layer) and returns a [`Driver`] that solves each workload
//! task the way its application would, recording what the application sees through the
//! [`Recorder`]: the task id after submit, then each result or error handed to the
//! application. A [`Probe`] lets the harness ask the receiver what it stored, to check that
//! nothing changed state that should not have.
//!
//! - `reference`: `captchaai-client`'s client, receiver and store ([`Reference`]; its
//!   store on Redis: [`ReferenceOnRedis`]); `clock_hold`: the paused clock held still while
//!   that store waits for Redis;
//! - `external_receiver`: any pingback endpoint, by URL (`--receiver`); `replicas`: several
//!   replicas of one (the relay in front of them); `waiter`: the application's long poll;
//! - `client_program`: any client program, by command (`--client-cmd`);
//! - `tasks`: realistic task inputs per kind, shared by all of them.
//!
//! Deliberately broken subjects live in the test tree and prove the harness can fail.

mod client_program;
mod clock_hold;
mod external_receiver;
pub mod reference;
mod replicas;
pub mod tasks;
mod waiter;

pub(crate) use client_program::ExternalClient;
pub(crate) use external_receiver::ExternalReceiver;
pub use reference::{Reference, ReferenceOnRedis};

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

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

/// The local addresses callbacks leave from. Genuine pingbacks (the mock's) leave from
/// `trusted`; the harness's forged callbacks leave from `trusted` too, so each meets only
/// the defence it tests (the secret, registration), except `untrusted-source` ones, which
/// carry everything right but leave from `untrusted`: only an allow-list refuses them.
///
/// On Linux all of 127.0.0.0/8 is local, so the defaults work for a receiver on loopback.
/// On macOS only 127.0.0.1 exists until an alias is added (`sudo ifconfig lo0 alias
/// 127.0.0.2`): `untrusted-source` callbacks then cannot be sent, and the check that grades
/// them says so (NOT-GRADED, with the error), never OK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    /// Where genuine pingbacks leave from (`--trusted-source`; default 127.0.0.1).
    pub trusted: IpAddr,
    /// Where `untrusted-source` callbacks leave from (`--spoof-from`; default 127.0.0.2).
    pub untrusted: IpAddr,
}

impl Sources {
    /// 127.0.0.1 and 127.0.0.2.
    pub const LOOPBACK: Sources = Sources {
        trusted: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        untrusted: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
    };
}

impl Default for Sources {
    fn default() -> Self {
        Sources::LOOPBACK
    }
}

/// What a subject is, and what it can be graded on, for one scenario: the one value the
/// runner asks a [`Subject`] for, and the run record carries to the checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capabilities {
    /// It hosts a pingback receiver the harness serves (behind the receiver-side fault layer).
    pub hosts_receiver: bool,
    /// Every party lives in the harness's runtime: the clock is paused and timing exact.
    /// Otherwise the mock runs with the scenario's time scale and timing checks widen.
    pub in_process: bool,
    /// It reports what its application receives (results and errors); a bare receiver does
    /// not, and is graded from the HTTP side only.
    pub observes_app: bool,
    /// Its receiver must accept registered task ids only (so refusing an unknown id is graded).
    pub registered_only: bool,
    /// Its callback URL carries a shared secret the receiver checks (so refusing a forgery is
    /// graded).
    pub secret: bool,
    /// Where callbacks leave from.
    pub sources: Sources,
    /// Its receiver accepts callbacks from `sources.trusted` only (so refusing an
    /// `untrusted-source` callback is graded).
    pub source_checked: bool,
    /// How fast (real time) its receiver must acknowledge a valid callback, if graded.
    pub latency_budget: Option<Duration>,
    /// The mock must serve HTTPS.
    pub mock_tls: bool,
    /// The application's long poll for a result can be opened (`--wait-url`), so whether a
    /// result stored through another replica wakes it is graded.
    pub waits: bool,
}

impl Capabilities {
    /// An in-process subject with a receiver of its own and an application side, graded on
    /// what the scenario sets (`registered-only`, `secret`, `allow-list`, callbacks from the
    /// default [`Sources`]): what [`Subject::capabilities`] returns unless a subject says
    /// otherwise.
    pub fn in_process(scenario: &Scenario) -> Self {
        Capabilities {
            hosts_receiver: true,
            in_process: true,
            observes_app: true,
            registered_only: scenario.subject.registered_only,
            secret: scenario.subject.secret,
            sources: Sources::default(),
            source_checked: scenario.subject.allow_list,
            latency_budget: None,
            mock_tls: false,
            waits: false,
        }
    }
}

/// Something the harness can grade.
pub trait Subject: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> String;

    /// What it is and can be graded on, for a scenario.
    fn capabilities(&self, scenario: &Scenario) -> Capabilities {
        Capabilities::in_process(scenario)
    }

    /// How many replicas of one endpoint its callbacks are spread over (cross-replica
    /// scenarios need two or more).
    fn replicas(&self) -> usize {
        1
    }

    /// Whether the subject can run a scenario; `Err` gives the reason to skip it.
    fn supports(&self, _scenario: &Scenario) -> Result<(), String> {
        Ok(())
    }

    /// Starts the subject for one run.
    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>>;
}
