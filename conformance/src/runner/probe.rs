//! After the run: ask the subject's receiver what it stored, for every id a callback named
//! (genuine, malformed or forged), through the subject's [`Probe`].

use std::collections::{BTreeMap, BTreeSet};

use captchaai_mock::MockHandle;

use super::record::Truth;
use crate::{
    subject::Probe,
    timeline::{Deliveries, Event, Recorder},
};

/// What was stored per id (`None`: nothing), and why reading stopped, if it did.
pub(super) type Stored = (BTreeMap<String, Option<String>>, Option<String>);

/// Reads what the receiver stored for every task the mock knows and every id a callback
/// carried; the first failure stops the reading and is returned as the reason.
pub(super) async fn read_stored(
    probe: &dyn Probe,
    state: &MockHandle,
    deliveries: &mut Deliveries,
    recorder: &Recorder,
    truth: &BTreeMap<u64, Truth>,
) -> Stored {
    let mut stored = BTreeMap::new();
    let mut asked: BTreeSet<String> = truth.keys().map(u64::to_string).collect();
    deliveries.read_new(state);
    for e in deliveries.read() {
        if let Event::Delivery { id: Some(id), .. } = &e.event {
            asked.insert(id.clone());
        }
    }
    asked.extend(recorder.injected_ids());
    for id in asked {
        match probe.stored(&id).await {
            Ok(v) => {
                stored.insert(id, v);
            }
            Err(why) => {
                // One failure says the endpoint is down or broken: asking about every
                // other id would only multiply the wait.
                return (stored, Some(why));
            }
        }
    }
    (stored, None)
}
