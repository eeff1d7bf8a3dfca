//! From the mock's journals to timeline entries: the inbound journal (every `in.php` and
//! `res.php` request with its answer) and the outbound one (every pingback attempt with the
//! receiver's answer). This is the one place the harness reads the mock's journal types;
//! everything after it sees typed [`Event`]s.

use captchaai_mock::{
    AttemptOutcome, DeliveryKind, InboundRequest, MalformedKind, PingbackAttempt,
};

use super::{
    event::{Entry, Event, Source},
    kinds::{ApiAnswer, CallbackKind, DeliveryOutcome, HandledBy},
};
use crate::runner::ENV_FAILURE_BODY;

pub(super) fn from_inbound(e: InboundRequest) -> Entry {
    let event = match (e.endpoint, e.action.as_deref()) {
        ("in.php" | "solve.php", _) => Event::Submit {
            task: e.task_id,
            method: e.action.map(std::borrow::Cow::into_owned),
            answer: ApiAnswer::new(e.answer.into_owned()),
        },
        (_, Some("get" | "get2")) => Event::Poll {
            task: e.task_id,
            answer: ApiAnswer::new(e.answer.into_owned()),
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

fn outcome(o: &AttemptOutcome) -> DeliveryOutcome {
    match o {
        AttemptOutcome::Delivered { .. } => DeliveryOutcome::Delivered,
        AttemptOutcome::Rejected { .. } => DeliveryOutcome::Rejected,
        AttemptOutcome::Timeout => DeliveryOutcome::Timeout,
        AttemptOutcome::Refused { .. } => DeliveryOutcome::Refused,
        AttemptOutcome::Error { .. } => DeliveryOutcome::Error,
        AttemptOutcome::Dropped => DeliveryOutcome::Dropped,
        AttemptOutcome::Shed => DeliveryOutcome::Shed,
        AttemptOutcome::Blocked { .. } => DeliveryOutcome::Blocked,
    }
}

fn callback_kind(k: DeliveryKind) -> CallbackKind {
    match k {
        DeliveryKind::Genuine => CallbackKind::Genuine,
        DeliveryKind::Duplicate => CallbackKind::Duplicate,
        DeliveryKind::Conflicting => CallbackKind::Conflicting,
        DeliveryKind::Malformed(m) => match m {
            MalformedKind::MissingId => CallbackKind::MissingId,
            MalformedKind::MissingCode => CallbackKind::MissingCode,
            MalformedKind::NonNumericId => CallbackKind::NonNumericId,
            MalformedKind::UnknownId => CallbackKind::UnknownId,
            MalformedKind::StaleId => CallbackKind::StaleId,
            MalformedKind::OversizedCode => CallbackKind::OversizedCode,
            MalformedKind::WrongMethod => CallbackKind::WrongMethod,
        },
    }
}

pub(super) fn from_delivery(d: PingbackAttempt) -> Entry {
    let handled_by = if d.response.as_deref() == Some(ENV_FAILURE_BODY) {
        HandledBy::Env
    } else {
        HandledBy::Subject
    };
    Entry {
        at_ms: d.sent_at_ms,
        source: Source::Dispatcher,
        seq: d.seq,
        event: Event::Delivery {
            task: d.task_id,
            kind: callback_kind(d.kind),
            attempt: d.attempt,
            method: d.method.as_str().to_owned(),
            id: d.id,
            code: d.code,
            code_len: d.code_len,
            outcome: outcome(&d.outcome),
            status: d.outcome.status(),
            response: d.response,
            latency_ms: d.latency_us.map(|us| us as f64 / 1000.0),
            fault: d.fault.to_string(),
            handled_by,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed kind keeps the word the mock's journal uses, so reports read the same.
    #[test]
    fn callback_kinds_keep_the_journals_names() {
        let kinds = [
            DeliveryKind::Genuine,
            DeliveryKind::Duplicate,
            DeliveryKind::Conflicting,
            DeliveryKind::Malformed(MalformedKind::MissingId),
            DeliveryKind::Malformed(MalformedKind::MissingCode),
            DeliveryKind::Malformed(MalformedKind::NonNumericId),
            DeliveryKind::Malformed(MalformedKind::UnknownId),
            DeliveryKind::Malformed(MalformedKind::StaleId),
            DeliveryKind::Malformed(MalformedKind::OversizedCode),
            DeliveryKind::Malformed(MalformedKind::WrongMethod),
        ];
        for k in kinds {
            assert_eq!(callback_kind(k).name(), k.label());
        }
    }
}
