//! What a timeline holds: [`Entry`], one observed [`Event`] stamped with simulated time and
//! where it was seen ([`Source`]).

use serde::Serialize;

use super::kinds::{ApiAnswer, AppErrorKind, CallbackKind, DeliveryOutcome, HandledBy, ResultPath};
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
        answer: ApiAnswer,
    },
    /// A `res.php` `get`/`get2` and its answer.
    Poll {
        /// The task polled.
        task: Option<u64>,
        /// The answer.
        answer: ApiAnswer,
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
        kind: CallbackKind,
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
        /// How the attempt ended.
        outcome: DeliveryOutcome,
        /// The receiver's status.
        status: Option<u16>,
        /// The receiver's answer body, shortened.
        response: Option<String>,
        /// Simulated time the receiver took to answer, in ms.
        latency_ms: Option<f64>,
        /// The task's fault, as the mock describes its compiled schedule (text: no check
        /// grades it, a reader does).
        fault: String,
        /// Who answered: a receiver-side fault of the scenario answers with a body of its
        /// own, told apart here once.
        #[serde(skip)]
        handled_by: HandledBy,
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
        handled_by: HandledBy,
        /// The replica (from 1) the harness forwarded it to, when the endpoint has several.
        #[serde(skip_serializing_if = "Option::is_none")]
        replica: Option<usize>,
    },
    /// A callback the harness forged.
    Injected {
        /// What kind.
        callback: InjectedCallback,
        /// The task it claims to be for.
        task: Option<u64>,
        /// The `id` sent.
        id: String,
        /// The local address it was sent from, when the harness chose one.
        from: Option<std::net::IpAddr>,
        /// How it ended: answered (`delivered` for 2xx, `rejected` otherwise), `timeout`,
        /// `refused`, or `error` (it could not be sent, or another transport error).
        outcome: DeliveryOutcome,
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
        /// How it arrived, when the subject knows.
        via: Option<ResultPath>,
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
        kind: AppErrorKind,
        /// The API code, if any.
        code: Option<String>,
        /// The message.
        message: String,
    },
    /// The application opened a long poll for a task's result (`--wait-url`).
    WaitOpened {
        /// The task.
        task: u64,
        /// The replica (from 1) it was opened on.
        replica: usize,
    },
    /// The application's long poll ended.
    Waited {
        /// The task.
        task: u64,
        /// The replica (from 1) it was opened on.
        replica: usize,
        /// The status it answered, if it did.
        status: Option<u16>,
        /// The code it answered (200), shortened.
        code: Option<String>,
        /// Why it has no answer: a transport error, or the harness stopped waiting.
        error: Option<String>,
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
            Event::AppSubmitted { task, .. }
            | Event::WaitOpened { task, .. }
            | Event::Waited { task, .. } => Some(*task),
            Event::AppResult { task, .. }
            | Event::AppError { task, .. }
            | Event::Store { task, .. } => *task,
            Event::Request { .. } | Event::Note { .. } => None,
        }
    }
}
