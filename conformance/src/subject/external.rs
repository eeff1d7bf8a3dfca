//! External subjects: any pingback endpoint by URL, any client program by command.
//!
//! Both run against the mock with the scenario's time scale (never the
//! paused clock: another process does not share this runtime's clock).
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
//! too), or at the scenario's deadline plus a margin.

use std::{
    collections::{BTreeMap, HashMap},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use captchaai_mock::{MockHandle, TaskState};
use futures::StreamExt as _;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::Notify,
};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::{BoxFuture, Driver, Probe, RunContext, Started, Subject, tasks};
use crate::{
    scenario::{Scenario, ScenarioKind, StrategyName, WorkTask},
    timeline::{Event, Recorder, Source},
};

/// The JSON line the harness writes for each task.
pub fn task_line(task: &WorkTask) -> serde_json::Value {
    let t = tasks::build(task.kind, &task.params);
    let params: BTreeMap<&str, String> = t.params().into_iter().collect();
    serde_json::json!({ "ref": task.ordinal.to_string(), "method": task.kind.name(), "params": params })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// A pingback endpoint run by someone else, graded from the HTTP side.
#[derive(Clone, Debug)]
pub struct ExternalReceiver {
    /// The callback URL given to the mock as `pingback` (a query such as `?token=s3cret` is kept).
    pub url: String,
    /// `http://host/results/{id}`: 200 with the stored code, 404 when nothing is stored.
    pub results_url: Option<String>,
    /// `http://host/register/{id}`: the harness POSTs each task id here after submitting, as the application would.
    pub register_url: Option<String>,
    /// How fast (real time) a valid callback must be acknowledged.
    pub latency_budget: Duration,
}

impl Subject for ExternalReceiver {
    fn name(&self) -> String {
        format!("receiver at {}", self.url)
    }

    fn hosts_receiver(&self) -> bool {
        false
    }

    fn in_process(&self) -> bool {
        false
    }

    fn observes_app(&self) -> bool {
        false
    }

    fn latency_budget(&self) -> Option<Duration> {
        Some(self.latency_budget)
    }

    fn enforces_registration(&self, scenario: &Scenario) -> bool {
        self.register_url.is_some() && scenario.subject.registered_only
    }

    fn uses_secret(&self, scenario: &Scenario) -> bool {
        scenario.subject.secret && self.url.contains('?')
    }

    fn supports(&self, scenario: &Scenario) -> Result<(), String> {
        if scenario.kind != ScenarioKind::Receiver {
            return Err(
                "not a receiver scenario: --receiver grades a pingback endpoint only".into(),
            );
        }
        if scenario.receiver.fail_first > 0 || scenario.receiver.latency.is_some() {
            return Err("injects faults inside the receiver, which only works in-process".into());
        }
        Ok(())
    }

    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>> {
        let this = self.clone();
        Box::pin(async move {
            // The application registers its callback host first in the 2captcha dialect.
            if ctx.scenario.mock.dialect == captchaai_mock::Dialect::TwoCaptcha {
                let _ = http()
                    .get(format!("{}/res.php", ctx.mock_uri))
                    .query(&[
                        ("key", ctx.api_key.as_str()),
                        ("action", "add_pingback"),
                        ("addr", this.url.as_str()),
                    ])
                    .send()
                    .await;
            }
            let driver = SubmitOnly {
                http: http(),
                ctx: ctx.clone(),
                callback_url: this.url.clone(),
                register_url: this.register_url.clone(),
            };
            Ok(Started {
                receiver: None,
                callback_url: Some(this.url.clone()),
                driver: Arc::new(driver),
                probe: this.results_url.clone().map(|t| {
                    Arc::new(ResultsUrl {
                        template: t,
                        http: http(),
                    }) as Arc<dyn Probe>
                }),
            })
        })
    }
}

/// Submits each task with the external receiver's URL and waits until the mock has finished it.
struct SubmitOnly {
    http: reqwest::Client,
    ctx: RunContext,
    callback_url: String,
    register_url: Option<String>,
}

impl Driver for SubmitOnly {
    fn run(&self, task: WorkTask) -> BoxFuture<'static, ()> {
        let http = self.http.clone();
        let ctx = self.ctx.clone();
        let url = self.callback_url.clone();
        let register = self.register_url.clone();
        Box::pin(async move {
            let t = tasks::build(task.kind, &task.params);
            let mut form: Vec<(String, String)> = t
                .params()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            form.push(("key".into(), ctx.api_key.clone()));
            form.push(("json".into(), "1".into()));
            form.push(("pingback".into(), url));
            let resp = http
                .post(format!("{}/in.php", ctx.mock_uri))
                .form(&form)
                .send()
                .await;
            let body: Option<serde_json::Value> = match resp {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            let id = body.as_ref().and_then(|b| match &b["request"] {
                serde_json::Value::String(s) if b["status"] == 1 => s.parse::<u64>().ok(),
                serde_json::Value::Number(n) if b["status"] == 1 => n.as_u64(),
                _ => None,
            });
            let Some(id) = id else {
                ctx.recorder.record(
                    Source::App,
                    Event::Note {
                        message: format!(
                            "harness submit for task #{} failed: {body:?}",
                            task.ordinal
                        ),
                    },
                );
                return;
            };
            ctx.recorder.submitted(task.ordinal, id);
            if let Some(template) = register {
                let r = http
                    .post(template.replace("{id}", &id.to_string()))
                    .send()
                    .await;
                if !r.as_ref().is_ok_and(|r| r.status().is_success()) {
                    ctx.recorder.record(
                        Source::App,
                        Event::Note {
                            message: format!(
                                "registering task {id} failed: {}",
                                r.map_or_else(|e| e.to_string(), |r| r.status().to_string())
                            ),
                        },
                    );
                }
            }
            wait_finished(&ctx.mock, id).await;
        })
    }
}

/// Waits (real time, bounded by the caller) until the mock has finished a task.
async fn wait_finished(mock: &MockHandle, id: u64) {
    loop {
        match mock.task(id) {
            Some(t) if matches!(t.state, TaskState::Solved | TaskState::Failed) => return,
            Some(t) if t.finish_at_ms.is_none() => return, // never finishes: nothing to wait for
            None => return,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

struct ResultsUrl {
    template: String,
    http: reqwest::Client,
}

impl Probe for ResultsUrl {
    fn stored(&self, task_id: &str) -> BoxFuture<'static, Result<Option<String>, String>> {
        let url = self.template.replace("{id}", &urlencode(task_id));
        let http = self.http.clone();
        Box::pin(async move {
            let failed = |why: String| format!("GET {url}: {why}");
            let r = http
                .get(&url)
                .timeout(RESULTS_TIMEOUT)
                .send()
                .await
                .map_err(|e| failed(transport_error(&e)))?;
            match r.status().as_u16() {
                200 => {}
                404 => return Ok(None),
                s => return Err(failed(format!("answered {s} (the contract: 200 or 404)"))),
            }
            let text = r.text().await.map_err(|e| failed(transport_error(&e)))?;
            Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
        })
    }
}

/// How long the results endpoint may take to say what it stored for one task.
const RESULTS_TIMEOUT: Duration = Duration::from_secs(5);

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {}s", RESULTS_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "connection refused".into()
    } else {
        "the request failed".into()
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// How long a client program that reported every task has to exit by itself.
pub const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The longest output line read whole; the rest of a longer line is discarded.
pub const MAX_LINE: usize = 1 << 20;

/// How many ignored output lines (and stderr lines) are noted in the timeline.
pub const MAX_NOTED_LINES: usize = 50;

/// Any client program, run as a command (see the module docs for the contract).
#[derive(Clone, Debug)]
pub struct ExternalClient {
    /// The command, run with `sh -c`.
    pub cmd: String,
    /// Serve the mock over HTTPS with a generated CA the child is told to trust.
    pub tls: bool,
}

impl Subject for ExternalClient {
    fn name(&self) -> String {
        format!("client `{}`", self.cmd)
    }

    fn hosts_receiver(&self) -> bool {
        false
    }

    fn in_process(&self) -> bool {
        false
    }

    fn mock_tls(&self) -> bool {
        self.tls
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

    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>> {
        let this = self.clone();
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c")
                .arg(&this.cmd)
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
            let mut child = cmd
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
            let shared = Arc::new(ClientShared {
                done: Mutex::default(),
                notify: Notify::new(),
                exited: Mutex::new(false),
            });
            let s2 = shared.clone();
            let rec = ctx.recorder.clone();
            tokio::spawn(async move {
                let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
                let mut ignored = 0usize;
                let mut note = |message: String| {
                    ignored += 1;
                    if ignored <= MAX_NOTED_LINES {
                        rec.record(Source::App, Event::Note { message });
                    } else if ignored == MAX_NOTED_LINES + 1 {
                        rec.record(
                            Source::App,
                            Event::Note {
                                message: "more output ignored (not noted)".into(),
                            },
                        );
                    }
                };
                while let Some(line) = lines.next().await {
                    let line = match line {
                        Ok(line) => line,
                        Err(LinesCodecError::MaxLineLengthExceeded) => {
                            note(format!(
                                "ignored output: a line longer than {MAX_LINE} bytes"
                            ));
                            continue;
                        }
                        Err(LinesCodecError::Io(_)) => break,
                    };
                    match record_line(&rec, &line) {
                        Ok(ordinal) => {
                            s2.done
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(ordinal, ());
                            s2.notify.notify_waiters();
                        }
                        Err(Some(why)) => note(why),
                        Err(None) => {}
                    }
                }
                *s2.exited.lock().unwrap_or_else(|p| p.into_inner()) = true;
                s2.notify.notify_waiters();
            });
            let rec = ctx.recorder.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                let mut kept = 0;
                while let Ok(Some(line)) = lines.next_line().await {
                    if kept < MAX_NOTED_LINES {
                        rec.record(
                            Source::App,
                            Event::Note {
                                // Long enough for a Python traceback's last line.
                                message: format!("stderr: {}", crate::timeline::cut(&line, 160)),
                            },
                        );
                        kept += 1;
                    }
                }
            });
            let driver = ClientDriver {
                shared,
                pid,
                child: Arc::new(tokio::sync::Mutex::new(Some(child))),
                rec: ctx.recorder.clone(),
                tasks: ctx.scenario.tasks.len(),
                exit: Arc::new(Mutex::new(None)),
            };
            Ok(Started {
                receiver: None,
                callback_url: None,
                driver: Arc::new(driver),
                probe: None,
            })
        })
    }
}

struct ClientShared {
    done: Mutex<HashMap<u64, ()>>,
    notify: Notify,
    exited: Mutex<bool>,
}

struct ClientDriver {
    shared: Arc<ClientShared>,
    pid: Option<u32>,
    child: Arc<tokio::sync::Mutex<Option<tokio::process::Child>>>,
    rec: Recorder,
    tasks: usize,
    /// How the program ended, when the harness saw it end (or gave up on it).
    exit: Arc<Mutex<Option<Ending>>>,
}

/// How a client program's run ended.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// It exited by itself with this status.
    Exited(std::process::ExitStatus),
    /// It reported every task but was still running [`EXIT_GRACE`] later: killed.
    Lingered,
}

/// Parses one output line: the task ordinal it completes, or why it is ignored (`None`:
/// a blank line, not worth a note).
fn record_line(rec: &Recorder, line: &str) -> Result<u64, Option<String>> {
    let ignored = |why: &str| {
        Some(format!(
            "ignored output ({why}): {}",
            crate::timeline::short(line)
        ))
    };
    if line.trim().is_empty() {
        return Err(None);
    }
    let v: serde_json::Value = match serde_json::from_str(line.trim()) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => return Err(ignored("not a JSON object")),
    };
    let text = |k: &str| match &v[k] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let Some(ordinal) = text("ref").and_then(|r| r.parse::<u64>().ok()) else {
        return Err(ignored("no numeric \"ref\""));
    };
    let answer = text("answer").filter(|a| !a.is_empty());
    let solved = match text("outcome").as_deref() {
        Some("solved") if answer.is_some() => true,
        Some("solved") => return Err(ignored("\"solved\" without an \"answer\"")),
        Some("error") => false,
        _ => return Err(ignored("\"outcome\" must be \"solved\" or \"error\"")),
    };
    let task = text("task_id").and_then(|t| t.parse::<u64>().ok());
    if let Some(t) = task
        && !rec.ids().contains_key(&ordinal)
    {
        rec.submitted(ordinal, t);
    }
    if solved {
        rec.result(ordinal, task, answer.unwrap_or_default(), None, None);
    } else {
        rec.error(
            ordinal,
            task,
            text("error").unwrap_or_else(|| "api".into()),
            text("code"),
            text("message").unwrap_or_default(),
        );
    }
    Ok(ordinal)
}

impl Driver for ClientDriver {
    fn run(&self, task: WorkTask) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            loop {
                let notified = shared.notify.notified();
                if shared
                    .done
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains_key(&task.ordinal)
                    || *shared.exited.lock().unwrap_or_else(|p| p.into_inner())
                {
                    return;
                }
                notified.await;
            }
        })
    }

    fn finish(&self) -> BoxFuture<'static, ()> {
        let pid = self.pid;
        let child = self.child.clone();
        let rec = self.rec.clone();
        let exit = self.exit.clone();
        let shared = self.shared.clone();
        let tasks = self.tasks;
        Box::pin(async move {
            let Some(mut c) = child.lock().await.take() else {
                return;
            };
            // Everything reported (or its output closed): by the contract it exits now,
            // by itself. Otherwise the run is over for it (its deadline passed).
            let reported = shared.done.lock().unwrap_or_else(|p| p.into_inner()).len();
            let closed = *shared.exited.lock().unwrap_or_else(|p| p.into_inner());
            let grace = if reported >= tasks || closed {
                EXIT_GRACE
            } else {
                Duration::ZERO
            };
            let status = match tokio::time::timeout(grace, c.wait()).await {
                Ok(Ok(status)) => Some(status),
                _ => c.try_wait().ok().flatten(),
            };
            // The whole process group (`sh -c` and whatever it started, still running or
            // left behind), which the child leads: its pgid is its pid. Never 0 or 1.
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let ending = match status {
                Some(status) => {
                    rec.record(
                        Source::App,
                        Event::Note {
                            message: format!("the client program exited: {status}"),
                        },
                    );
                    Some(Ending::Exited(status))
                }
                None => {
                    let _ = c.kill().await;
                    let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
                    (grace > Duration::ZERO).then(|| {
                        rec.record(
                            Source::App,
                            Event::Note {
                                message: format!(
                                    "the client program was still running {}s after its last result: killed",
                                    EXIT_GRACE.as_secs()
                                ),
                            },
                        );
                        Ending::Lingered
                    })
                }
            };
            *exit.lock().unwrap_or_else(|p| p.into_inner()) = ending;
        })
    }

    fn broke_off(&self) -> Option<String> {
        let ending = (*self.exit.lock().unwrap_or_else(|p| p.into_inner()))?;
        let reported = self
            .shared
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        match ending {
            Ending::Exited(status) => (reported < self.tasks || !status.success()).then(|| {
                format!(
                    "the client program exited ({status}) having reported {reported} of {} task(s); \
                     its stderr is in the evidence",
                    self.tasks
                )
            }),
            Ending::Lingered => Some(format!(
                "the client program reported {reported} of {} task(s) but had not exited {}s \
                 later (it should exit 0 once every task is reported): killed",
                self.tasks,
                EXIT_GRACE.as_secs()
            )),
        }
    }
}
