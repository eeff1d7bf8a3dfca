//! Any client program, run as a command (`--client-cmd`), graded from the API side and from
//! what it reports on stdout.
//!
//! The program runs against the mock with the scenario's time scale (never the paused clock:
//! another process does not share this runtime's clock). `output` reads what it prints,
//! `driver` waits for its reports and ends it.
//!
//! # The `--client-cmd` contract
//!
//! The harness starts the mock, then runs the command with `sh -c` and:
//!
//! - environment: `CAPTCHAAI_BASE_URL` (the mock), `CAPTCHAAI_KEY`,
//!   `CAPTCHAAI_TIME_SCALE` (simulated seconds per real second: a client that
//!   can should divide its own waits by it, so its schedule is graded as
//!   written), `CAPTCHAAI_DEADLINE_SECONDS` (the scenario's per-task deadline,
//!   in simulated seconds), `CAPTCHAAI_SCENARIO`, and with `--tls` the CA
//!   variables `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`,
//!   `NODE_EXTRA_CA_CERTS` pointing at the mock's generated CA;
//! - stdin: one JSON object per task, then end of file:
//!   `{"ref":"1","method":"turnstile","params":{"method":"turnstile","sitekey":"...","pageurl":"..."}}`
//!   (`method` is the task kind; `params` are the `in.php` parameters, without `key`);
//! - stdout: one JSON object per task, in any order:
//!   `{"ref":"1","task_id":"74000000001","outcome":"solved","answer":"..."}` or
//!   `{"ref":"1","task_id":"74000000001","outcome":"error","error":"timeout","code":null}`
//!   where `error` is one of `timeout`, `unsolvable`, `invalid-key`,
//!   `bad-input`, `no-threads`, `thread-limit`, `network`, `api`, and `code` the
//!   API code when there was one. Other lines are ignored (the first
//!   [`MAX_NOTED_LINES`] are noted), and so is what a line holds past [`MAX_LINE`];
//! - exit: 0 once every task has a line. Once it has reported everything the
//!   program has [`EXIT_GRACE`] to exit by itself; a non-zero status, or still
//!   running then, fails `run-completed`.
//!
//! Its whole process group is stopped at the end (whatever it left running
//! too), or at the scenario's deadline plus a margin, or when the harness is stopped by
//! SIGTERM or SIGINT.

mod driver;
mod output;

use std::{collections::BTreeMap, process::Stdio, sync::Arc, time::Duration};

use tokio::io::AsyncWriteExt;

use super::{BoxFuture, Capabilities, RunContext, Started, Subject, tasks};
use crate::scenario::{Scenario, ScenarioKind, StrategyName, WorkTask};
use driver::{ClientDriver, ClientShared};

/// How long a client program that reported every task has to exit by itself.
pub(crate) const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The longest output line read whole; the rest of a longer line is discarded.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// How many ignored output lines (and stderr lines) are noted in the timeline.
pub(crate) const MAX_NOTED_LINES: usize = 50;

/// The JSON line the harness writes for each task.
fn task_line(task: &WorkTask) -> serde_json::Value {
    let t = tasks::build(task.kind, &task.params);
    let params: BTreeMap<&str, String> = t.params().into_iter().collect();
    serde_json::json!({ "ref": task.ordinal.to_string(), "method": task.kind.name(), "params": params })
}

/// Any client program, run as a command (see the module docs for the contract).
#[derive(Clone, Debug)]
pub(crate) struct ExternalClient {
    /// The command, run with `sh -c`.
    pub(crate) cmd: String,
    /// Serve the mock over HTTPS with a generated CA the child is told to trust.
    pub(crate) tls: bool,
}

impl ExternalClient {
    /// `sh -c CMD` with the contract's environment, its pipes, in a process group of its own.
    fn command(&self, ctx: &RunContext) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&self.cmd)
            .env("CAPTCHAAI_BASE_URL", &ctx.mock_uri)
            .env("CAPTCHAAI_KEY", &ctx.api_key)
            .env("CAPTCHAAI_TIME_SCALE", ctx.time_scale.to_string())
            .env(
                "CAPTCHAAI_DEADLINE_SECONDS",
                ctx.scenario.subject.deadline.as_secs_f64().to_string(),
            )
            .env("CAPTCHAAI_SCENARIO", &ctx.scenario.id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        if let Some(ca) = &ctx.ca_path {
            for var in [
                "SSL_CERT_FILE",
                "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE",
                "NODE_EXTRA_CA_CERTS",
            ] {
                cmd.env(var, ca);
            }
        }
        cmd
    }
}

impl Subject for ExternalClient {
    fn name(&self) -> String {
        format!("client `{}`", self.cmd)
    }

    fn capabilities(&self, scenario: &Scenario) -> Capabilities {
        Capabilities {
            hosts_receiver: false,
            in_process: false,
            mock_tls: self.tls,
            ..Capabilities::in_process(scenario)
        }
    }

    fn supports(&self, scenario: &Scenario) -> Result<(), String> {
        if scenario.subject.strategy != StrategyName::PollOnly || !scenario.inject.is_empty() {
            return Err("needs a pingback receiver: --client-cmd grades polling clients".into());
        }
        if scenario.kind == ScenarioKind::Receiver {
            return Err("a receiver scenario".into());
        }
        Ok(())
    }

    /// Runs the program, feeds it the tasks, and reads what it prints as it goes.
    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>> {
        let this = self.clone();
        Box::pin(async move {
            let mut child = this
                .command(&ctx)
                .spawn()
                .map_err(|e| format!("cannot run `{}`: {e}", this.cmd))?;
            let pid = child.id();
            let mut stdin = child.stdin.take().ok_or("no stdin")?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let stderr = child.stderr.take().ok_or("no stderr")?;
            let mut input = String::new();
            for t in &ctx.scenario.tasks {
                input.push_str(&task_line(t).to_string());
                input.push('\n');
            }
            tokio::spawn(async move {
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.shutdown().await;
            });
            let shared = Arc::new(ClientShared::default());
            tokio::spawn(output::read_stdout(
                stdout,
                ctx.recorder.clone(),
                shared.clone(),
            ));
            tokio::spawn(output::read_stderr(stderr, ctx.recorder.clone()));
            let driver = ClientDriver::new(
                shared,
                pid,
                child,
                ctx.recorder.clone(),
                ctx.scenario.tasks.len(),
            );
            Ok(Started {
                receiver: None,
                callback_url: None,
                driver: Arc::new(driver),
                probe: None,
            })
        })
    }
}
