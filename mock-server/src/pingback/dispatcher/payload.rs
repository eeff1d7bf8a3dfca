//! What each planned callback carries: the genuine `id` and `code`, a duplicate's, a
//! conflicting copy's other code, and the malformed payloads (a missing or non-numeric id, an
//! id the run never issued, the id of a task already delivered, an oversized code).

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Dispatcher, Generation, Job, record::Sent};
use crate::{
    model::CallbackMethod,
    pingback::{
        faults::MalformedKind,
        schedule::{DeliveryKind, PlannedDelivery},
    },
    seed::{self, Stream},
};

const OVERSIZED_CODE_LEN: usize = 100_000;
/// Longest URL the `http` crate (and so reqwest, and hyper servers) accepts
/// is 65 534 bytes; an oversized code in a GET query stays just under it, or
/// it could not be sent at all.
const MAX_GET_URL: usize = 65_000;
/// Recently delivered tasks a `stale-id` callback picks from.
const STALE_CANDIDATES: usize = 64;

/// The last [`STALE_CANDIDATES`] tasks whose genuine callback was
/// delivered, in a ring written without a lock (every delivery writes it,
/// from every worker thread).
pub(super) struct Delivered {
    written: AtomicU64,
    ring: [AtomicU64; STALE_CANDIDATES],
}

impl Default for Delivered {
    fn default() -> Self {
        Delivered {
            written: AtomicU64::new(0),
            ring: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Delivered {
    pub(super) fn push(&self, task_id: u64) {
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        self.ring[(n % STALE_CANDIDATES as u64) as usize].store(task_id, Ordering::Relaxed);
    }

    /// One of them, chosen by `rng`; `None` before the first delivery.
    fn pick(&self, rng: &mut impl rand::Rng) -> Option<u64> {
        let filled = self
            .written
            .load(Ordering::Relaxed)
            .min(STALE_CANDIDATES as u64);
        if filled == 0 {
            return None;
        }
        let i = seed::below(rng, filled) as usize;
        // (Zero: a slot claimed on another thread but not written yet.)
        Some(self.ring[i].load(Ordering::Relaxed)).filter(|id| *id != 0)
    }
}

impl Dispatcher {
    /// The `id` and `code` a planned callback carries.
    pub(super) fn payload(
        &self,
        job: &Job,
        planned: &PlannedDelivery,
        generation: &Generation,
    ) -> (Sent, Sent) {
        let id = Sent::Number(job.task_id);
        let code = || Sent::Shared(job.code.clone());
        let conflicting = || Sent::Shared(job.conflicting_code.clone());
        match planned.kind {
            DeliveryKind::Genuine | DeliveryKind::Duplicate => (id, code()),
            DeliveryKind::Conflicting => (id, conflicting()),
            DeliveryKind::Malformed(m) => {
                let mut rng = seed::stream(self.0.seed, Stream::Dispatch, job.task_id);
                match m {
                    MalformedKind::MissingId => (Sent::Absent, code()),
                    MalformedKind::MissingCode => (id, Sent::Absent),
                    MalformedKind::NonNumericId => {
                        (Sent::Text(format!("{}x", job.task_id).into()), code())
                    }
                    MalformedKind::UnknownId => {
                        // Far above anything this run can issue (a trillion
                        // tasks), whatever the configured first id.
                        let unknown = job
                            .first_task_id
                            .saturating_add(1_000_000_000_000)
                            .saturating_add(seed::below(&mut rng, 1_000_000_000));
                        (Sent::Number(unknown), conflicting())
                    }
                    MalformedKind::StaleId => {
                        // A task whose result the receiver already has: a
                        // task merely earlier might not be delivered yet, and
                        // its "stale" callback would then come first.
                        // None yet: the id just below the first, never
                        // issued, which looks just as stale.
                        let stale = generation
                            .delivered
                            .pick(&mut rng)
                            .unwrap_or(job.first_task_id.saturating_sub(1));
                        (Sent::Number(stale), conflicting())
                    }
                    MalformedKind::OversizedCode => {
                        let len = match planned.method {
                            CallbackMethod::Post => OVERSIZED_CODE_LEN,
                            // Room for the URL, `?id=<20 digits>&code=`.
                            CallbackMethod::Get => OVERSIZED_CODE_LEN
                                .min(MAX_GET_URL.saturating_sub(job.url.len() + 40)),
                        };
                        (id, Sent::Filler(len))
                    }
                    MalformedKind::WrongMethod => (id, code()),
                }
            }
        }
    }
}
