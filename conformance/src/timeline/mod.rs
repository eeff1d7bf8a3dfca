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

/// Journal entries taken from the mock at a time: a run's journals are turned into events a
/// page at a time, never held twice over.
const PAGE: usize = 16_384;

/// The outbound journal, read as the run goes: each attempt is taken out of the mock's
/// journal once, turned into its event, and kept for the timeline (settling watches the new
/// ones, the probe takes their ids). Nothing else reads the mock's journals during a run.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    /// Every attempt read so far, in journal order.
    entries: Vec<Entry>,
}

impl Deliveries {
    /// Reads the attempts journalled since the last read; gives them.
    pub(crate) fn read_new(&mut self, state: &MockHandle) -> &[Entry] {
        let start = self.entries.len();
        loop {
            let page = state.take_pingbacks(PAGE);
            if page.is_empty() {
                break;
            }
            self.entries
                .extend(page.into_iter().map(journals::from_delivery));
        }
        &self.entries[start..]
    }

    /// Every attempt read so far.
    pub(crate) fn read(&self) -> &[Entry] {
        &self.entries
    }
}

impl Timeline {
    /// Merges the mock's inbound journal, the attempts read from its outbound journal (and
    /// those since) and the recorder into one canonical order.
    pub(crate) fn assemble(
        state: &MockHandle,
        mut deliveries: Deliveries,
        recorder: &Recorder,
    ) -> Timeline {
        deliveries.read_new(state);
        // One allocation of the final size: a vector grown by doubling would hold up to
        // twice the timeline while it moves, the peak of a large run.
        let mut entries = recorder.take();
        entries.reserve_exact(deliveries.entries.len() + state.journal().count());
        entries.append(&mut deliveries.entries);
        drop(deliveries);
        loop {
            // Each page leaves the mock's journal as it becomes events: the run's requests
            // are never held twice over.
            let page = state.take_requests(PAGE);
            if page.is_empty() {
                break;
            }
            entries.extend(page.into_iter().map(journals::from_inbound));
        }
        // Keys are unique (each source numbers its own entries), so an unstable sort gives
        // the one canonical order, without a stable sort's copy of half the entries.
        entries.sort_unstable_by_key(|e| (e.at_ms, e.source, e.seq));
        Timeline { entries }
    }
}
