//! The typed values timeline events carry: what kind of callback was sent, how its
//! attempt ended, what an API answer means, how a result reached the application.
//!
//! They are decided once, where an event enters the timeline (the mock's journals,
//! the recorder), so checks match on types and never parse a string again. Each
//! serialises as the word the JSON report has always shown (`"genuine"`,
//! `"delivered"`, `"timeout"`), and [`name`](CallbackKind::name) gives the same
//! word for the terminal.

use serde::{Serialize, Serializer};

/// What a pingback attempt carried, as the mock's fault schedule planned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallbackKind {
    /// The task's real id and code.
    Genuine,
    /// An identical replay of the genuine callback.
    Duplicate,
    /// The task's id with a different code.
    Conflicting,
    /// No `id` parameter.
    MissingId,
    /// No `code` parameter.
    MissingCode,
    /// An `id` that is not a number.
    NonNumericId,
    /// An id the service never issued.
    UnknownId,
    /// The id of an earlier, finished task, with a different code.
    StaleId,
    /// A `code` of 100 000 characters.
    OversizedCode,
    /// The genuine callback sent with the other HTTP method.
    WrongMethod,
}

/// How a correct receiver answers a kind of callback (see [`CallbackKind::expected`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expected {
    /// 2xx: the callback is valid (genuine, or a copy of it).
    Acknowledge,
    /// 4xx, always: the callback cannot be a genuine one.
    Reject,
    /// 4xx when the receiver takes registered ids only; otherwise it cannot tell an unknown
    /// id from an early one.
    RejectIfRegisteredOnly,
    /// Anything but a 5xx: a stale id is well-formed, and the other HTTP method may be served.
    NoCrash,
}

impl CallbackKind {
    /// The kebab-case name reports show.
    pub fn name(self) -> &'static str {
        match self {
            CallbackKind::Genuine => "genuine",
            CallbackKind::Duplicate => "duplicate",
            CallbackKind::Conflicting => "conflicting",
            CallbackKind::MissingId => "missing-id",
            CallbackKind::MissingCode => "missing-code",
            CallbackKind::NonNumericId => "non-numeric-id",
            CallbackKind::UnknownId => "unknown-id",
            CallbackKind::StaleId => "stale-id",
            CallbackKind::OversizedCode => "oversized-code",
            CallbackKind::WrongMethod => "wrong-method",
        }
    }

    /// True for a valid callback: the genuine one or a copy of it (identical or conflicting).
    pub fn is_valid(self) -> bool {
        self.expected() == Expected::Acknowledge
    }

    /// How a correct receiver answers it.
    pub(crate) fn expected(self) -> Expected {
        match self {
            CallbackKind::Genuine | CallbackKind::Duplicate | CallbackKind::Conflicting => {
                Expected::Acknowledge
            }
            CallbackKind::MissingId
            | CallbackKind::MissingCode
            | CallbackKind::NonNumericId
            | CallbackKind::OversizedCode => Expected::Reject,
            CallbackKind::UnknownId => Expected::RejectIfRegisteredOnly,
            CallbackKind::StaleId | CallbackKind::WrongMethod => Expected::NoCrash,
        }
    }
}

/// How one pingback attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver answered something else.
    Rejected,
    /// No answer within the attempt timeout.
    Timeout,
    /// The connection was refused or reset before an answer.
    Refused,
    /// Another transport error.
    Error,
    /// Dropped by the fault schedule: never sent.
    Dropped,
    /// Shed because the dispatcher's queue was full: never sent.
    Shed,
    /// Blocked because the URL points at the mock itself: never sent.
    Blocked,
}

impl DeliveryOutcome {
    /// The word reports show.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Rejected => "rejected",
            DeliveryOutcome::Timeout => "timeout",
            DeliveryOutcome::Refused => "refused",
            DeliveryOutcome::Error => "error",
            DeliveryOutcome::Dropped => "dropped",
            DeliveryOutcome::Shed => "shed",
            DeliveryOutcome::Blocked => "blocked",
        }
    }

    /// False for an attempt the mock decided never to send (dropped, shed or blocked).
    pub fn was_sent(self) -> bool {
        !matches!(
            self,
            DeliveryOutcome::Dropped | DeliveryOutcome::Shed | DeliveryOutcome::Blocked
        )
    }
}

/// Who answered a callback on the receiver's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandledBy {
    /// The subject's receiver.
    #[default]
    Subject,
    /// A receiver-side fault of the scenario (`[receiver] fail-first`), in front of it.
    Env,
}

impl HandledBy {
    /// `subject` or `env`.
    pub fn name(self) -> &'static str {
        match self {
            HandledBy::Subject => "subject",
            HandledBy::Env => "env",
        }
    }
}

/// What an API answer means, decided from its text once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerClass {
    /// `CAPCHA_NOT_READY`: the task is still being solved.
    NotReady,
    /// `ERROR_WRONG_...` or `ERROR_KEY_...`: the request named an id or a key the service
    /// does not accept; it says nothing about the task.
    WrongRequest,
    /// `MAX_USER_TURN`: too many submits at once; the account is banned for a while.
    MaxUserTurn,
    /// Anything else: `OK|...`, the task's answer or failure, another error.
    Other,
}

impl AnswerClass {
    fn of(text: &str) -> Self {
        if text == "CAPCHA_NOT_READY" {
            AnswerClass::NotReady
        } else if text.starts_with("ERROR_WRONG") || text.starts_with("ERROR_KEY") {
            AnswerClass::WrongRequest
        } else if text.contains("MAX_USER_TURN") {
            AnswerClass::MaxUserTurn
        } else {
            AnswerClass::Other
        }
    }

    /// For a poll: true when the answer settles the task (a result, a failure, or an error
    /// that is not about the request itself), so polling should stop.
    pub fn ends_polling(self) -> bool {
        !matches!(self, AnswerClass::NotReady | AnswerClass::WrongRequest)
    }
}

/// An API answer in its plain form (`OK|...`, `CAPCHA_NOT_READY`, an error code), with its
/// class. Serialises as the text alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiAnswer {
    text: String,
    class: AnswerClass,
}

impl ApiAnswer {
    /// Classifies an answer's text.
    pub(crate) fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let class = AnswerClass::of(&text);
        ApiAnswer { text, class }
    }

    /// The answer as the mock sent it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What it means.
    pub fn class(&self) -> AnswerClass {
        self.class
    }
}

impl Serialize for ApiAnswer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// How a result reached the application, when the subject knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultPath {
    /// By the pingback.
    Pingback,
    /// By polling `res.php`.
    Poll,
    /// Put in the store by the application itself.
    Manual,
}

impl ResultPath {
    /// `pingback`, `poll` or `manual`.
    pub fn name(self) -> &'static str {
        match self {
            ResultPath::Pingback => "pingback",
            ResultPath::Poll => "poll",
            ResultPath::Manual => "manual",
        }
    }
}

/// The kind of an error the application received. Serialises as its name; a client program
/// may report kinds of its own, kept as [`AppErrorKind::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AppErrorKind {
    /// `timeout`: no result before the deadline.
    Timeout,
    /// `unsolvable`: the service could not solve the task.
    Unsolvable,
    /// `invalid-key`: the API key was refused.
    InvalidKey,
    /// `bad-input`: the task's parameters were refused.
    BadInput,
    /// `no-threads`: no free thread, retries exhausted.
    NoThreads,
    /// `thread-limit`: the account's thread limit, retries exhausted.
    ThreadLimit,
    /// `network`: a transport error.
    Network,
    /// `api`: another API error.
    Api,
    /// Any other name.
    Other(String),
}

impl AppErrorKind {
    /// The kind a name stands for (`"timeout"` is [`AppErrorKind::Timeout`]).
    pub fn from_name(name: &str) -> Self {
        match name {
            "timeout" => AppErrorKind::Timeout,
            "unsolvable" => AppErrorKind::Unsolvable,
            "invalid-key" => AppErrorKind::InvalidKey,
            "bad-input" => AppErrorKind::BadInput,
            "no-threads" => AppErrorKind::NoThreads,
            "thread-limit" => AppErrorKind::ThreadLimit,
            "network" => AppErrorKind::Network,
            "api" => AppErrorKind::Api,
            other => AppErrorKind::Other(other.to_owned()),
        }
    }

    /// The kebab-case name.
    pub fn name(&self) -> &str {
        match self {
            AppErrorKind::Timeout => "timeout",
            AppErrorKind::Unsolvable => "unsolvable",
            AppErrorKind::InvalidKey => "invalid-key",
            AppErrorKind::BadInput => "bad-input",
            AppErrorKind::NoThreads => "no-threads",
            AppErrorKind::ThreadLimit => "thread-limit",
            AppErrorKind::Network => "network",
            AppErrorKind::Api => "api",
            AppErrorKind::Other(name) => name,
        }
    }
}

impl Serialize for AppErrorKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_once() {
        let class = |t: &str| ApiAnswer::new(t).class();
        assert_eq!(class("CAPCHA_NOT_READY"), AnswerClass::NotReady);
        assert_eq!(class("ERROR_WRONG_CAPTCHA_ID"), AnswerClass::WrongRequest);
        assert_eq!(class("ERROR_KEY_DOES_NOT_EXIST"), AnswerClass::WrongRequest);
        assert_eq!(class("MAX_USER_TURN"), AnswerClass::MaxUserTurn);
        assert_eq!(class("OK|03AFY"), AnswerClass::Other);
        assert!(class("ERROR_CAPTCHA_UNSOLVABLE").ends_polling());
        assert!(!class("CAPCHA_NOT_READY").ends_polling());
    }

    #[test]
    fn names_round_trip_and_serialise_as_the_report_shows_them() {
        for name in ["timeout", "unsolvable", "bad-input", "api", "segfault"] {
            let kind = AppErrorKind::from_name(name);
            assert_eq!(kind.name(), name);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        }
        let answer = serde_json::to_string(&ApiAnswer::new("OK|1")).unwrap();
        assert_eq!(answer, "\"OK|1\"");
        for k in [CallbackKind::Genuine, CallbackKind::NonNumericId] {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
    }
}
