//! [`Recorder`]: where the harness and the subject write what they see during a run (the
//! application's ids, results and errors; the receiver-side layer's view of each callback;
//! forged callbacks), stamped with the mock's simulated clock.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex},
};

use captchaai_mock::MockHandle;

use super::{
    event::{Entry, Event, Source},
    kinds::{AppErrorKind, ResultPath},
};

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
    pub(crate) fn new(state: MockHandle) -> Self {
        Recorder {
            state,
            entries: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Records an event now.
    pub(crate) fn record(&self, source: Source, event: Event) {
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
        via: Option<ResultPath>,
        route: Option<&str>,
    ) {
        self.record(
            Source::App,
            Event::AppResult {
                ordinal,
                task,
                code: code.into(),
                via,
                route: route.map(str::to_owned),
            },
        );
    }

    /// The application received an error.
    pub fn error(
        &self,
        ordinal: u64,
        task: Option<u64>,
        kind: AppErrorKind,
        code: Option<String>,
        message: impl Into<String>,
    ) {
        self.record(
            Source::App,
            Event::AppError {
                ordinal,
                task,
                kind,
                code,
                message: message.into(),
            },
        );
    }

    /// Task id per ordinal, as the application learnt them so far.
    pub(crate) fn ids(&self) -> BTreeMap<u64, u64> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.iter()
            .filter_map(|e| match e.event {
                Event::AppSubmitted { ordinal, task } => Some((ordinal, task)),
                _ => None,
            })
            .collect()
    }

    /// The ids of the callbacks the harness forged so far.
    pub(crate) fn injected_ids(&self) -> Vec<String> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.iter()
            .filter_map(|e| match &e.event {
                Event::Injected { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
