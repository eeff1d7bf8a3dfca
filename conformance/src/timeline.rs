//! One ordered timeline per run.
//!
//! Events come from four places, all stamped with the mock's simulated clock:
//! the mock's inbound journal (submits, polls and their answers), its outbound
//! journal (every pingback attempt and the receiver's answer), the harness's
//! own records (what the receiver in front of the subject saw, callbacks the
//! harness injected) and the application (ids, results and errors the subject
//! handed to it). [`Timeline::assemble`] merges them in a canonical order:
//! time, then source, then each source's own order.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use captchaai_mock::{AttemptOutcome, InboundRequest, MockHandle, PingbackAttempt};
use serde::Serialize;

use crate::scenario::InjectedCallback;

/// Where an event was observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The mock's API (in.php / res.php).
    Api,
    /// The mock's pingback dispatcher.
    Dispatcher,
    /// The harness, in front of the subject's receiver.
    Receiver,
    /// Callbacks the harness forged.
    Injector,
    /// The application side of the subject.
    App,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// An `in.php` request and its answer.
    Submit {
        /// The new task, when accepted.
        task: Option<u64>,
        /// The `method` parameter.
        method: Option<String>,
        /// The answer (`OK|id` or a code).
        answer: String,
    },
    /// A `res.php` `get`/`get2` and its answer.
    Poll {
        /// The task polled.
        task: Option<u64>,
        /// The answer, shortened.
        answer: String,
    },
    /// Any other `res.php` request.
    Request {
        /// The `action`.
        action: Option<String>,
        /// The answer, shortened.
        answer: String,
    },
    /// A pingback attempt and what the receiver answered.
    Delivery {
        /// The task.
        task: u64,
        /// Genuine, duplicate, conflicting, or a malformed kind.
        kind: String,
        /// Attempt number.
        attempt: u32,
        /// HTTP method.
        method: String,
        /// The `id` sent.
        id: Option<String>,
        /// The `code` sent, shortened.
        code: Option<String>,
        /// Length of the `code` sent.
        code_len: usize,
        /// delivered / rejected / timeout / refused / error / dropped / shed.
        outcome: String,
        /// The receiver's status.
        status: Option<u16>,
        /// The receiver's answer body, shortened.
        response: Option<String>,
        /// Simulated time the receiver took to answer, in ms.
        latency_ms: Option<f64>,
        /// The task's fault.
        fault: String,
    },
    /// A callback as the harness saw it in front of the subject's receiver.
    Received {
        /// HTTP method.
        method: String,
        /// The `id` parameter.
        id: Option<String>,
        /// The `code` parameter, shortened.
        code: Option<String>,
        /// The status returned.
        status: u16,
        /// `subject`, or `env` when a receiver-side fault answered instead.
        handled_by: String,
    },
    /// A callback the harness forged.
    Injected {
        /// What kind.
        callback: InjectedCallback,
        /// The task it claims to be for.
        task: Option<u64>,
        /// The `id` sent.
        id: String,
        /// The status returned.
        status: Option<u16>,
        /// A transport error.
        error: Option<String>,
    },
    /// The application learnt a task's id.
    AppSubmitted {
        /// Workload ordinal.
        ordinal: u64,
        /// Task id.
        task: u64,
    },
    /// The application received a result.
    AppResult {
        /// Workload ordinal.
        ordinal: u64,
        /// Task id.
        task: Option<u64>,
        /// The answer, or an error code carried as a result.
        code: String,
        /// How it arrived (pingback / poll), when the subject knows.
        via: Option<String>,
        /// Router route that handled it.
        route: Option<String>,
    },
    /// The application received an error.
    AppError {
        /// Workload ordinal.
        ordinal: u64,
        /// Task id, if the submit succeeded.
        task: Option<u64>,
        /// Error kind (timeout, unsolvable, invalid-key, bad-input, ...).
        kind: String,
        /// The API code, if any.
        code: Option<String>,
        /// The message.
        message: String,
    },
    /// A remark from the harness or an external subject (ignored output, failed set-up).
    Note {
        /// What.
        message: String,
    },
    /// Something the subject's own store reported (reference subject).
    Store {
        /// What.
        what: String,
        /// The task.
        task: Option<u64>,
    },
}

/// One timeline entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// Simulated milliseconds since the run started.
    pub at_ms: u64,
    /// Where it was observed.
    pub source: Source,
    /// Order within its source.
    pub seq: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

impl Entry {
    /// The task the entry concerns, if any.
    pub fn task(&self) -> Option<u64> {
        match &self.event {
            Event::Submit { task, .. } | Event::Poll { task, .. } => *task,
            Event::Delivery { task, .. } => Some(*task),
            Event::Received { id, .. } => id.as_deref().and_then(|i| i.parse().ok()),
            Event::Injected { task, .. } => *task,
            Event::AppSubmitted { task, .. } => Some(*task),
            Event::AppResult { task, .. }
            | Event::AppError { task, .. }
            | Event::Store { task, .. } => *task,
            Event::Request { .. } | Event::Note { .. } => None,
        }
    }
}

/// [`short`] for a value the journal already truncated: names its real length.
fn short_of(s: &str, len: usize) -> String {
    let head: String = s.chars().take(40).collect();
    if len <= 40 && s.chars().count() <= 40 {
        s.to_owned()
    } else {
        format!("{head}…({len} chars)")
    }
}

/// Shortens long values (tokens, oversized codes) for display.
pub fn short(s: &str) -> String {
    cut(s, 40)
}

/// `s` cut to `max` characters, saying how long it was.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}…({} chars)", s.chars().count())
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.at_ms as f64 / 1000.0;
        write!(f, "{t:>10.3}s  ")?;
        match &self.event {
            Event::Submit {
                task,
                method,
                answer,
            } => {
                write!(
                    f,
                    "submit    {} → {}",
                    method.as_deref().unwrap_or("?"),
                    short(answer)
                )?;
                if let Some(t) = task {
                    write!(f, " (task {t})")?;
                }
                Ok(())
            }
            Event::Poll { task, answer } => {
                write!(
                    f,
                    "poll      task {} → {}",
                    task.map_or("?".into(), |t| t.to_string()),
                    short(answer)
                )
            }
            Event::Request { action, answer } => {
                write!(
                    f,
                    "request   {} → {}",
                    action.as_deref().unwrap_or("?"),
                    short(answer)
                )
            }
            Event::Delivery {
                task,
                kind,
                attempt,
                method,
                code,
                code_len,
                outcome,
                status,
                fault,
                id,
                ..
            } => {
                write!(
                    f,
                    "pingback  task {task} {kind} #{attempt} {method} id={} code={} → {outcome}{} [{fault}]",
                    id.as_deref().unwrap_or("∅"),
                    code.as_deref()
                        .map_or("∅".into(), |c| short_of(c, *code_len)),
                    status.map(|s| format!(" {s}")).unwrap_or_default()
                )
            }
            Event::Received {
                method,
                id,
                code,
                status,
                handled_by,
            } => write!(
                f,
                "received  {method} id={} code={} → {status} (by {handled_by})",
                id.as_deref().unwrap_or("∅"),
                // Shortened when recorded.
                code.as_deref().unwrap_or("∅")
            ),
            Event::Injected {
                callback,
                id,
                status,
                error,
                ..
            } => write!(
                f,
                "injected  {} id={id} → {}",
                serde_json::to_value(callback)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                status.map_or_else(|| error.clone().unwrap_or_default(), |s| s.to_string())
            ),
            Event::AppSubmitted { ordinal, task } => {
                write!(f, "app       #{ordinal} submitted as task {task}")
            }
            Event::AppResult {
                ordinal,
                task,
                code,
                via,
                route,
            } => {
                write!(f, "app       #{ordinal} result {}", short(code))?;
                if let Some(t) = task {
                    write!(f, " (task {t})")?;
                }
                if let Some(v) = via {
                    write!(f, " via {v}")?;
                }
                if let Some(r) = route {
                    write!(f, " route {r}")?;
                }
                Ok(())
            }
            Event::AppError {
                ordinal,
                kind,
                code,
                message,
                ..
            } => {
                write!(
                    f,
                    "app       #{ordinal} error {kind}{}: {}",
                    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
                    short(message)
                )
            }
            Event::Note { message } => write!(f, "note      {message}"),
            Event::Store { what, task } => {
                write!(
                    f,
                    "store     {what}{}",
                    task.map(|t| format!(" task {t}")).unwrap_or_default()
                )
            }
        }
    }
}

/// Where the harness and the subject record their events during a run.
#[derive(Clone)]
pub struct Recorder {
    state: MockHandle,
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder stamping events with this mock's clock.
    pub fn new(state: MockHandle) -> Self {
        Recorder {
            state,
            entries: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Records an event now.
    pub fn record(&self, source: Source, event: Event) {
        let at_ms = self.state.now().as_millis() as u64;
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let seq = e.len() as u64;
        e.push(Entry {
            at_ms,
            source,
            seq,
            event,
        });
    }

    /// The application learnt a task id.
    pub fn submitted(&self, ordinal: u64, task: u64) {
        self.record(Source::App, Event::AppSubmitted { ordinal, task });
    }

    /// The application received a result.
    pub fn result(
        &self,
        ordinal: u64,
        task: Option<u64>,
        code: impl Into<String>,
        via: Option<&str>,
        route: Option<&str>,
    ) {
        self.record(
            Source::App,
            Event::AppResult {
                ordinal,
                task,
                code: code.into(),
                via: via.map(str::to_owned),
                route: route.map(str::to_owned),
            },
        );
    }

    /// The application received an error.
    pub fn error(
        &self,
        ordinal: u64,
        task: Option<u64>,
        kind: impl Into<String>,
        code: Option<String>,
        message: impl Into<String>,
    ) {
        self.record(
            Source::App,
            Event::AppError {
                ordinal,
                task,
                kind: kind.into(),
                code,
                message: message.into(),
            },
        );
    }

    /// Task id per ordinal, as the application learnt them so far.
    pub fn ids(&self) -> std::collections::BTreeMap<u64, u64> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.iter()
            .filter_map(|e| match e.event {
                Event::AppSubmitted { ordinal, task } => Some((ordinal, task)),
                _ => None,
            })
            .collect()
    }

    /// A copy of the entries so far.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A run's ordered history.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timeline {
    /// Entries in canonical order.
    pub entries: Vec<Entry>,
}

fn from_inbound(e: InboundRequest) -> Entry {
    let event = match (e.endpoint, e.action.as_deref()) {
        ("in.php" | "solve.php", _) => Event::Submit {
            task: e.task_id,
            method: e.action.map(std::borrow::Cow::into_owned),
            answer: e.answer.into_owned(),
        },
        (_, Some("get" | "get2")) => Event::Poll {
            task: e.task_id,
            answer: e.answer.into_owned(),
        },
        _ => Event::Request {
            action: e.action.map(std::borrow::Cow::into_owned),
            answer: e.answer.into_owned(),
        },
    };
    Entry {
        at_ms: e.at_ms,
        source: Source::Api,
        seq: e.seq,
        event,
    }
}

fn outcome_name(o: &AttemptOutcome) -> &'static str {
    match o {
        AttemptOutcome::Delivered { .. } => "delivered",
        AttemptOutcome::Rejected { .. } => "rejected",
        AttemptOutcome::Timeout => "timeout",
        AttemptOutcome::Refused { .. } => "refused",
        AttemptOutcome::Error { .. } => "error",
        AttemptOutcome::Dropped => "dropped",
        AttemptOutcome::Shed => "shed",
    }
}

fn from_delivery(d: PingbackAttempt) -> Entry {
    Entry {
        at_ms: d.sent_at_ms,
        source: Source::Dispatcher,
        seq: d.seq,
        event: Event::Delivery {
            task: d.task_id,
            kind: d.kind.label().to_owned(),
            attempt: d.attempt,
            method: d.method.as_str().to_owned(),
            id: d.id,
            code: d.code,
            code_len: d.code_len,
            outcome: outcome_name(&d.outcome).to_owned(),
            status: d.outcome.status(),
            response: d.response,
            latency_ms: d.latency_us.map(|us| us as f64 / 1000.0),
            fault: d.fault.to_string(),
        },
    }
}

impl Timeline {
    /// Merges the mock's journals and the recorder into one canonical order.
    pub fn assemble(state: &MockHandle, recorder: &Recorder) -> Timeline {
        let mut entries: Vec<Entry> = state.journal().into_iter().map(from_inbound).collect();
        entries.extend(state.pingbacks().into_iter().map(from_delivery));
        entries.extend(recorder.take());
        entries.sort_by_key(|e| (e.at_ms, e.source, e.seq));
        Timeline { entries }
    }

    /// Entries about one task.
    pub fn for_task(&self, task: u64) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.task() == Some(task))
    }
}
