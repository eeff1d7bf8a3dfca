//! One ordered timeline per run: what the checks grade and the reports show as evidence.
//!
//! Events come from four places, all stamped with the mock's simulated clock: the mock's
//! inbound journal (submits, polls and their answers), its outbound journal (every pingback
//! attempt and the receiver's answer), the harness's own records (what the receiver-side
//! layer in front of the subject saw, callbacks the harness forged) and the application
//! (ids, results and errors the subject handed to it, through the [`Recorder`]).
//! `Timeline::assemble` merges them in a canonical order: time, then source, then each
//! source's own order.
//!
//! Where it sits in the flow: scenario → runner → mock and subject → **timeline** → checks
//! → report.
//!
//! - [`event`](self::Event): [`Entry`], [`Event`], [`Source`], what a timeline holds;
//! - `kinds`: the typed values events carry ([`CallbackKind`], [`DeliveryOutcome`],
//!   [`ApiAnswer`], [`AppErrorKind`], ...), decided once where an event enters;
//! - `journals`: the mock's journal entries turned into events;
//! - [`Recorder`]: what the harness and the subject record during the run;
//! - `display`: the one-line form of an entry the terminal report shows.

mod display;
mod event;
mod journals;
mod kinds;
mod recorder;

use captchaai_mock::MockHandle;

pub(crate) use display::{cut, short};
pub use event::{Entry, Event, Source};
pub(crate) use kinds::Expected;
pub use kinds::{
    AnswerClass, ApiAnswer, AppErrorKind, CallbackKind, DeliveryOutcome, HandledBy, ResultPath,
};
pub use recorder::Recorder;

/// A run's ordered history.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    /// Entries in canonical order.
    pub(crate) entries: Vec<Entry>,
}

impl Timeline {
    /// Merges the mock's journals and the recorder into one canonical order.
    pub(crate) fn assemble(state: &MockHandle, recorder: &Recorder) -> Timeline {
        let mut entries: Vec<Entry> = state
            .journal()
            .into_iter()
            .map(journals::from_inbound)
            .collect();
        entries.extend(state.pingbacks().into_iter().map(journals::from_delivery));
        entries.extend(recorder.take());
        entries.sort_by_key(|e| (e.at_ms, e.source, e.seq));
        Timeline { entries }
    }
}
