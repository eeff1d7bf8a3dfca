//! The outbound journal: one entry per attempt (and one for a callback never sent: dropped
//! or shed), kept compact, and the [`PingbackAttempt`]s built from entries when someone reads
//! the journal (the admin API, the harness, a test's expectations).

use std::{borrow::Cow, sync::Arc, time::Duration};

use serde::Serialize;

use crate::{
    model::CallbackMethod,
    pingback::schedule::DeliveryKind,
    url::{callback_form, with_query},
};

/// The start of a receiver's answer kept in the journal.
pub(super) const MAX_BODY_SNIPPET: usize = 200;
/// Longest transport error kept in a journal entry (reqwest's errors quote
/// the whole URL).
const MAX_JOURNAL_ERROR: usize = 512;
/// Longest URL kept in a journal entry (an oversized GET is 100 kB).
const MAX_JOURNAL_URL: usize = 2048;

/// What became of one attempt.
// Not `#[non_exhaustive]`: graders map every outcome to a verdict and should be told by the
// compiler when an outcome is added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered {
        /// HTTP status.
        status: u16,
    },
    /// The receiver answered something else.
    Rejected {
        /// HTTP status.
        status: u16,
    },
    /// No answer within the per-attempt timeout.
    Timeout,
    /// Connection refused or reset before an answer.
    Refused {
        /// The error.
        error: String,
    },
    /// Any other transport error.
    Error {
        /// The error.
        error: String,
    },
    /// Dropped by the fault schedule: never sent.
    Dropped,
    /// Shed because the dispatcher's queue was full: never sent.
    Shed,
    /// Never sent because the URL points at the mock itself (its own listening address):
    /// the mock never calls its own admin API or submits to itself.
    Blocked {
        /// Why, in words.
        reason: String,
    },
}

/// As the log line prints it: `delivered 200`, `rejected 500`, `timeout`, `refused: ...`.
impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptOutcome::Delivered { status } => write!(f, "delivered {status}"),
            AttemptOutcome::Rejected { status } => write!(f, "rejected {status}"),
            AttemptOutcome::Timeout => f.write_str("timeout"),
            AttemptOutcome::Refused { error } => write!(f, "refused: {error}"),
            AttemptOutcome::Error { error } => write!(f, "error: {error}"),
            AttemptOutcome::Dropped => f.write_str("dropped"),
            AttemptOutcome::Shed => f.write_str("shed"),
            AttemptOutcome::Blocked { reason } => write!(f, "blocked: {reason}"),
        }
    }
}

impl AttemptOutcome {
    /// True when the receiver got the request and answered.
    pub fn reached_receiver(&self) -> bool {
        matches!(
            self,
            AttemptOutcome::Delivered { .. } | AttemptOutcome::Rejected { .. }
        )
    }

    /// True when a retry policy may try again.
    pub(super) fn is_failure(&self) -> bool {
        matches!(
            self,
            AttemptOutcome::Rejected { .. }
                | AttemptOutcome::Timeout
                | AttemptOutcome::Refused { .. }
                | AttemptOutcome::Error { .. }
        )
    }

    /// The HTTP status, if the receiver answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Delivered { status } | AttemptOutcome::Rejected { status } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// One pingback attempt, as the outbound journal keeps it: what was sent where, when, and
/// what the receiver answered. A callback never sent (dropped by its schedule, or shed when
/// the queue was full, or blocked because it points at the mock itself) has one entry with
/// attempt 0 and no latency.
///
/// Read with [`MockHandle::pingbacks`](crate::MockHandle::pingbacks); shown, one a line, by a
/// failed expectation:
///
/// ```text
/// attempt 1 at 5s GET http://127.0.0.1:41234/hook?id=74000000001&code=0.Xc9… -> delivered 200 (1.2 ms)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PingbackAttempt {
    /// Position in the outbound journal since start (or the last reset), from 1.
    pub seq: u64,
    /// Task id.
    pub task_id: u64,
    /// Index of the planned callback in the task's schedule.
    pub delivery: u32,
    /// What the callback carries.
    pub kind: DeliveryKind,
    /// The task's fault, as compiled.
    pub fault: Arc<str>,
    /// Attempt number (1 = first).
    pub attempt: u32,
    /// HTTP method.
    pub method: CallbackMethod,
    /// The URL requested (with the query for GET).
    pub url: String,
    /// The `id` sent, if any.
    pub id: Option<String>,
    /// The `code` sent (truncated to 120 characters), if any.
    pub code: Option<String>,
    /// Length of the `code` sent.
    pub code_len: usize,
    /// Simulated ms when the attempt was due.
    pub scheduled_at_ms: u64,
    /// Simulated ms when it was sent.
    pub sent_at_ms: u64,
    /// What happened.
    pub outcome: AttemptOutcome,
    /// Simulated time from send to the answer, or to the failure (the attempt timeout, a
    /// refused or broken connection), in microseconds; `None` for a callback never sent
    /// (dropped, shed).
    pub latency_us: Option<u64>,
    /// The start of the receiver's answer body.
    pub response: Option<String>,
    /// No further attempt of this callback will follow.
    pub last_attempt: bool,
}

impl PingbackAttempt {
    /// When it was sent (for a callback never sent: when it was dropped or shed), in
    /// simulated time since the mock started.
    pub fn sent_at(&self) -> Duration {
        Duration::from_millis(self.sent_at_ms)
    }

    /// Simulated time from send to the answer or the failure; `None` when never sent.
    pub fn latency(&self) -> Option<Duration> {
        self.latency_us.map(Duration::from_micros)
    }

    /// True when it was sent (attempt 1 and up), whatever the receiver answered.
    pub fn was_sent(&self) -> bool {
        self.attempt > 0
    }
}

/// One line: `attempt 1 at 5s GET http://.../hook?id=..&code=.. -> delivered 200 (1.2 ms)`;
/// a callback never sent reads `dropped at 5s (GET http://.../hook)`. Long URLs are cut.
impl std::fmt::Display for PingbackAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = truncate_to(&self.url, 100);
        let at = humantime::format_duration(self.sent_at());
        let method = self.method.as_str();
        if !self.was_sent() {
            return write!(f, "{} at {at} ({method} {url})", self.outcome);
        }
        write!(f, "attempt {}", self.attempt)?;
        if self.kind != DeliveryKind::Genuine {
            write!(f, " ({})", self.kind.label())?;
        }
        write!(f, " at {at} {method} {url} -> {}", self.outcome)?;
        match self.latency() {
            Some(l) => write!(f, " ({:.1} ms)", l.as_secs_f64() * 1000.0),
            None => Ok(()),
        }
    }
}

/// A journal entry as kept: the strings it names are shared with its job,
/// so an attempt costs the journal no allocation and evicting an entry frees
/// next to nothing. [`PingbackAttempt`]s are built from it when read.
///
/// (Keeping owned records, the URL with its query and the shortened code
/// copied per attempt, cost a fifth of the dispatcher's CPU time at 100k
/// callbacks: every push evicted an entry whose half-dozen allocations,
/// made thousands of attempts earlier and often on another thread, had gone
/// cold.)
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) task_id: u64,
    pub(super) delivery: u32,
    pub(super) kind: DeliveryKind,
    pub(super) fault: Arc<str>,
    pub(super) attempt: u32,
    pub(super) method: CallbackMethod,
    /// The callback URL as submitted.
    pub(super) url: Arc<str>,
    pub(super) id: Sent,
    pub(super) code: Sent,
    pub(super) scheduled_at_ms: u64,
    pub(super) sent_at_ms: u64,
    pub(super) outcome: AttemptOutcome,
    pub(super) latency_us: Option<u64>,
    pub(super) response: Body,
    pub(super) last_attempt: bool,
}

/// An attempt's weight for the journal: what it owns (the URL, fault and code it shares with
/// its job are the task's). Bounded: a body snippet of [`MAX_BODY_SNIPPET`] bytes, an error of
/// `MAX_JOURNAL_ERROR`, so the outbound journal is bounded by its entry count alone.
impl crate::journal::Weigh for Entry {
    fn weight(&self) -> usize {
        let error = match &self.outcome {
            AttemptOutcome::Refused { error }
            | AttemptOutcome::Error { error }
            | AttemptOutcome::Blocked { reason: error } => error.capacity(),
            _ => 0,
        };
        let body = match &self.response {
            Body::Other(s) => s.len(),
            _ => 0,
        };
        let text = |s: &Sent| match s {
            Sent::Text(t) => t.len(),
            _ => 0,
        };
        std::mem::size_of::<Self>() + error + body + text(&self.id) + text(&self.code)
    }
}

/// A parameter value as sent.
#[derive(Clone, Debug)]
pub(super) enum Sent {
    /// Left out.
    Absent,
    /// A number (task ids, real or not).
    Number(u64),
    /// A string shared with the job (its code, or the conflicting one).
    Shared(Arc<str>),
    /// Anything else (a non-numeric id).
    Text(Box<str>),
    /// That many `A`s (an oversized code).
    Filler(usize),
}

impl Sent {
    pub(super) fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Sent::Absent => None,
            Sent::Number(n) => Some(Cow::Owned(n.to_string())),
            Sent::Shared(s) => Some(Cow::Borrowed(s)),
            Sent::Text(s) => Some(Cow::Borrowed(s)),
            Sent::Filler(n) => Some(Cow::Owned("A".repeat(*n))),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Sent::Absent => 0,
            Sent::Number(n) => n.checked_ilog10().map_or(1, |d| d as usize + 1),
            Sent::Shared(s) => s.len(),
            Sent::Text(s) => s.len(),
            Sent::Filler(n) => *n,
        }
    }
}

/// The start of a receiver's answer, the usual ones without an allocation.
#[derive(Clone, Debug)]
pub(super) enum Body {
    /// No answer.
    None,
    /// An answer with an empty body.
    Empty,
    /// `OK`.
    Ok,
    /// Anything else, up to [`MAX_BODY_SNIPPET`] bytes.
    Other(Box<str>),
}

impl Body {
    pub(super) fn from_bytes(body: &[u8]) -> Body {
        match body {
            b"" => Body::Empty,
            b"OK" => Body::Ok,
            _ => Body::Other(
                String::from_utf8_lossy(&body[..body.len().min(MAX_BODY_SNIPPET)]).into(),
            ),
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Body::None => None,
            Body::Empty => Some(String::new()),
            Body::Ok => Some("OK".into()),
            Body::Other(s) => Some(s.to_string()),
        }
    }
}

impl Entry {
    /// The entry as a reader sees it; `seq` is its position in the journal.
    pub(super) fn record(&self, seq: u64) -> PingbackAttempt {
        let id = self.id.text();
        let code = self.code.text();
        let url = match self.method {
            // Attempt 0 was never sent (dropped, shed): the URL as submitted.
            CallbackMethod::Get if self.attempt > 0 => with_query(
                &self.url,
                &callback_form("", "", id.as_deref(), code.as_deref()),
            ),
            _ => self.url.to_string(),
        };
        PingbackAttempt {
            seq,
            task_id: self.task_id,
            delivery: self.delivery,
            kind: self.kind,
            fault: self.fault.clone(),
            attempt: self.attempt,
            method: self.method,
            url: if url.len() > MAX_JOURNAL_URL {
                truncate_to(&url, MAX_JOURNAL_URL)
            } else {
                url
            },
            id: id.map(Cow::into_owned),
            code: code.as_deref().map(truncate),
            code_len: self.code.len(),
            scheduled_at_ms: self.scheduled_at_ms,
            sent_at_ms: self.sent_at_ms,
            outcome: self.outcome.clone(),
            latency_us: self.latency_us,
            response: self.response.text(),
            last_attempt: self.last_attempt,
        }
    }
}

fn truncate(s: &str) -> String {
    truncate_to(s, 120)
}

fn truncate_to(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + '…'.len_utf8());
    out.push_str(&s[..end]);
    out.push('…');
    out
}

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    if s.len() > MAX_JOURNAL_ERROR {
        s = truncate_to(&s, MAX_JOURNAL_ERROR);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_values_read_back_as_sent() {
        for n in [0u64, 7, 9, 10, 99, 100, 74_000_000_001, u64::MAX] {
            let s = Sent::Number(n);
            assert_eq!(s.text().unwrap(), n.to_string());
            assert_eq!(s.len(), n.to_string().len());
        }
        assert_eq!(Sent::Filler(3).text().unwrap(), "AAA");
        assert_eq!(Sent::Absent.text(), None);
    }

    #[test]
    fn long_values_are_cut_at_a_char_boundary() {
        assert_eq!(truncate_to("abc", 5), "abc");
        assert_eq!(truncate_to("abcdef", 3), "abc…");
        assert_eq!(truncate_to("aé", 2), "a…");
    }

    #[test]
    fn an_attempt_reads_as_one_line() {
        let entry = Entry {
            task_id: 74_000_000_001,
            delivery: 0,
            kind: DeliveryKind::Genuine,
            fault: Arc::from("none"),
            attempt: 1,
            method: CallbackMethod::Get,
            url: Arc::from("http://127.0.0.1:9/hook"),
            id: Sent::Number(74_000_000_001),
            code: Sent::Text("0.abc".into()),
            scheduled_at_ms: 3_200,
            sent_at_ms: 3_200,
            outcome: AttemptOutcome::Delivered { status: 200 },
            latency_us: Some(4_000),
            response: Body::Ok,
            last_attempt: true,
        };
        assert_eq!(
            entry.record(1).to_string(),
            "attempt 1 at 3s 200ms GET http://127.0.0.1:9/hook?id=74000000001&code=0.abc -> delivered 200 (4.0 ms)"
        );
        let dropped = Entry {
            attempt: 0,
            outcome: AttemptOutcome::Dropped,
            latency_us: None,
            ..entry
        };
        assert_eq!(
            dropped.record(2).to_string(),
            "dropped at 3s 200ms (GET http://127.0.0.1:9/hook)"
        );
    }
}
