//! The store against a model of its rules, under random sequences of registrations, results
//! (with and without the registered-only check), waits that start and end, reads, time
//! passing and capacity pressure.
//!
//! The model keeps every entry in one map and finds what to expire or evict by scanning it,
//! as the rules are written in the module docs: entries expire `ttl` after their last change
//! (a pending entry with a waiter is renewed instead); when full, the oldest result nobody
//! registered goes first, then the entry changed longest ago that nobody waits on; an
//! awaited pending entry is never evicted. Every event the store publishes, every answer it
//! gives and its counters must match the model's.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::Instant;

use super::{ResultSource, ResultStore, StoreConfig, StoreEvent, StoreStats, TaskResult};
use crate::error::Error;
use crate::task_id::TaskId;

const IDS: u64 = 8;
const CODES: [&str; 3] = ["tokA", "tokB", "ERROR_CAPTCHA_UNSOLVABLE"];
const TTL: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
enum Op {
    Register(u64),
    Record(u64, usize),
    RecordIfRegistered(u64, usize),
    WaitStart(u64),
    /// Drops one of the waits still pending (an index modulo their number).
    WaitEnd(usize),
    Get(u64),
    IsRegistered(u64),
    Len,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    let code = 0..CODES.len();
    prop_oneof![
        3 => id.clone().prop_map(Op::Register),
        3 => (id.clone(), code.clone()).prop_map(|(i, c)| Op::Record(i, c)),
        1 => (id.clone(), code).prop_map(|(i, c)| Op::RecordIfRegistered(i, c)),
        3 => id.clone().prop_map(Op::WaitStart),
        2 => any::<usize>().prop_map(Op::WaitEnd),
        1 => id.clone().prop_map(Op::Get),
        1 => id.prop_map(Op::IsRegistered),
        1 => Just(Op::Len),
        2 => (0..=12u64).prop_map(Op::Advance),
    ]
}

/// The events, without the parts the model does not track (sources, solutions).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Registered(u64),
    Stored(u64, String),
    Duplicate(u64),
    Conflict(u64, String, String),
    Evicted(u64, bool),
}

fn seen(event: &StoreEvent) -> Seen {
    match event {
        StoreEvent::Registered { task_id } => Seen::Registered(task_id.get()),
        StoreEvent::Stored(r) => Seen::Stored(r.task_id().get(), r.code().to_owned()),
        StoreEvent::Duplicate { task_id, .. } => Seen::Duplicate(task_id.get()),
        StoreEvent::Conflict {
            task_id,
            kept,
            rejected,
            ..
        } => Seen::Conflict(task_id.get(), kept.clone(), rejected.clone()),
        StoreEvent::Evicted {
            task_id,
            had_result,
        } => Seen::Evicted(task_id.get(), *had_result),
        StoreEvent::Rejected { .. } => unreachable!("the model never rejects"),
    }
}

struct Entry {
    registered: bool,
    /// Created by a result for an id nobody had registered.
    orphan: bool,
    result: Option<String>,
    waiters: usize,
    /// Serial of the last change.
    changed_serial: u64,
    /// Serial at creation: tells a new entry from an evicted one with the same id.
    created: u64,
    changed: Duration,
}

impl Entry {
    fn awaited(&self) -> bool {
        self.result.is_none() && self.waiters > 0
    }
}

struct Model {
    capacity: usize,
    now: Duration,
    serial: u64,
    entries: BTreeMap<u64, Entry>,
    events: Vec<Seen>,
}

impl Model {
    fn new(capacity: usize) -> Self {
        Model {
            capacity,
            now: Duration::ZERO,
            serial: 0,
            entries: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn expired(&self, e: &Entry) -> bool {
        e.changed + TTL <= self.now
    }

    fn touch(&mut self, id: u64) {
        self.serial += 1;
        let (serial, now) = (self.serial, self.now);
        let e = self.entries.get_mut(&id).expect("touching an entry");
        e.changed_serial = serial;
        e.changed = now;
    }

    fn evict(&mut self, id: u64) {
        let e = self.entries.remove(&id).expect("evicting an entry");
        self.events.push(Seen::Evicted(id, e.result.is_some()));
    }

    /// Expired entries, oldest change first: evicted, or renewed when awaited.
    fn purge(&mut self) {
        let mut expired: Vec<(u64, u64)> = self
            .entries
            .iter()
            .filter(|(_, e)| self.expired(e))
            .map(|(id, e)| (e.changed_serial, *id))
            .collect();
        expired.sort_unstable();
        for (_, id) in expired {
            if self.entries[&id].awaited() {
                self.touch(id);
            } else {
                self.evict(id);
            }
        }
    }

    fn evict_one(&mut self) -> bool {
        let orphan = self
            .entries
            .iter()
            .filter(|(_, e)| e.orphan && !e.registered)
            .min_by_key(|(_, e)| e.created)
            .map(|(id, _)| *id);
        let idle = || {
            self.entries
                .iter()
                .filter(|(_, e)| !e.awaited())
                .min_by_key(|(_, e)| e.changed_serial)
                .map(|(id, _)| *id)
        };
        match orphan.or_else(idle) {
            Some(id) => {
                self.evict(id);
                true
            }
            None => false,
        }
    }

    fn insert(&mut self, id: u64, registered: bool) {
        while self.entries.len() >= self.capacity {
            if !self.evict_one() {
                break;
            }
        }
        self.serial += 1;
        let entry = Entry {
            registered,
            orphan: !registered,
            result: None,
            waiters: 0,
            changed_serial: self.serial,
            created: self.serial,
            changed: self.now,
        };
        self.entries.insert(id, entry);
    }

    fn register_inner(&mut self, id: u64) {
        let newly = match self.entries.get_mut(&id) {
            Some(e) if e.registered => false,
            Some(e) => {
                e.registered = true;
                true
            }
            None => {
                self.insert(id, true);
                true
            }
        };
        if newly {
            self.events.push(Seen::Registered(id));
        }
    }

    fn register(&mut self, id: u64) {
        self.purge();
        self.register_inner(id);
    }

    /// `None` when the registered-only check refused it.
    fn record(&mut self, id: u64, code: &str, registered_only: bool) -> Option<String> {
        self.purge();
        if registered_only && !self.entries.get(&id).is_some_and(|e| e.registered) {
            return None;
        }
        if let Some(kept) = self.entries.get(&id).and_then(|e| e.result.clone()) {
            if kept == code {
                self.events.push(Seen::Duplicate(id));
            } else {
                self.events
                    .push(Seen::Conflict(id, kept.clone(), code.to_owned()));
            }
            return Some(kept);
        }
        if !self.entries.contains_key(&id) {
            self.insert(id, false);
        }
        self.touch(id);
        self.entries.get_mut(&id).expect("just inserted").result = Some(code.to_owned());
        self.events.push(Seen::Stored(id, code.to_owned()));
        Some(code.to_owned())
    }

    /// `Ok(result)` when the result is there; `Err(created)` of the awaited entry otherwise.
    fn wait_start(&mut self, id: u64) -> Result<String, u64> {
        self.purge();
        self.register_inner(id);
        let e = self.entries.get_mut(&id).expect("registered");
        match &e.result {
            Some(code) => Ok(code.clone()),
            None => {
                e.waiters += 1;
                Err(e.created)
            }
        }
    }

    fn wait_end(&mut self, id: u64, created: u64) {
        if let Some(e) = self.entries.get_mut(&id)
            && e.created == created
        {
            e.waiters -= 1;
        }
    }

    fn get(&self, id: u64) -> Option<String> {
        let e = self.entries.get(&id)?;
        if self.expired(e) {
            return None;
        }
        e.result.clone()
    }

    fn is_registered(&self, id: u64) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|e| e.registered && (e.awaited() || !self.expired(e)))
    }

    fn len(&mut self) -> usize {
        self.purge();
        self.entries.len()
    }
}

/// The counters the store must show after these events.
fn stats_of(events: &[Seen]) -> StoreStats {
    let mut stats = StoreStats::default();
    for event in events {
        match event {
            Seen::Registered(_) => stats.registered += 1,
            Seen::Stored(..) => stats.stored += 1,
            Seen::Duplicate(_) => stats.duplicates += 1,
            Seen::Conflict(..) => stats.conflicts += 1,
            Seen::Evicted(..) => stats.evicted += 1,
        }
    }
    stats
}

type WaitFuture = Pin<Box<dyn Future<Output = Result<TaskResult, Error>> + Send>>;

/// A wait started and still pending: its id, the model's entry serial, the future.
struct PendingWait(u64, u64, WaitFuture);

fn poll_once(future: &mut WaitFuture) -> Poll<Result<TaskResult, Error>> {
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

/// The store under test beside its model.
struct Harness {
    store: ResultStore,
    /// What the store published since the last step.
    events: Arc<Mutex<Vec<Seen>>>,
    model: Model,
    waits: Vec<PendingWait>,
    /// Far enough never to pass.
    far: Instant,
}

impl Harness {
    fn new(capacity: usize) -> Self {
        let store = ResultStore::with_config(StoreConfig {
            ttl: TTL,
            capacity,
            channel_capacity: 16,
        });
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        store.on_event(move |e| sink.lock().unwrap().push(seen(e)));
        Harness {
            store,
            events,
            model: Model::new(capacity),
            waits: Vec::new(),
            far: Instant::now() + Duration::from_secs(86_400),
        }
    }

    /// Applies one operation to both and compares their answers.
    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let (store, model) = (&self.store, &mut self.model);
        let id = TaskId::new;
        match *op {
            Op::Register(n) => {
                store.register(id(n)).await.unwrap();
                model.register(n);
            }
            Op::Record(n, c) => {
                let got = store.record(id(n), CODES[c], ResultSource::Pingback);
                let got = got.await.unwrap().winner().code().to_owned();
                prop_assert_eq!(Some(got), model.record(n, CODES[c], false));
            }
            Op::RecordIfRegistered(n, c) => {
                let code = CODES[c].to_owned();
                let got = store.record_if_registered(id(n), code, ResultSource::Pingback);
                let got = got.await.unwrap().map(|r| r.winner().code().to_owned());
                prop_assert_eq!(got, model.record(n, CODES[c], true));
            }
            Op::WaitStart(n) => self.start_wait(n)?,
            Op::WaitEnd(k) => {
                if !self.waits.is_empty() {
                    let PendingWait(n, created, future) = self.waits.remove(k % self.waits.len());
                    drop(future);
                    self.model.wait_end(n, created);
                }
            }
            Op::Get(n) => {
                let got = store.get(id(n)).await.unwrap().map(|r| r.code().to_owned());
                prop_assert_eq!(got, model.get(n), "get {}", n);
            }
            Op::IsRegistered(n) => {
                let got = store.is_registered(id(n)).await.unwrap();
                prop_assert_eq!(got, model.is_registered(n));
            }
            Op::Len => prop_assert_eq!(store.len().await.unwrap(), model.len()),
            Op::Advance(secs) => {
                tokio::time::advance(Duration::from_secs(secs)).await;
                model.now += Duration::from_secs(secs);
            }
        }
        Ok(())
    }

    /// Starts a wait and polls it once: ready with the result, or pending and awaited.
    fn start_wait(&mut self, n: u64) -> Result<(), TestCaseError> {
        let (store, far) = (self.store.clone(), self.far);
        let mut future: WaitFuture =
            Box::pin(async move { store.wait_until(TaskId::new(n), far).await });
        match (poll_once(&mut future), self.model.wait_start(n)) {
            (Poll::Ready(Ok(result)), Ok(code)) => {
                prop_assert_eq!(result.code(), code.as_str());
            }
            (Poll::Pending, Err(created)) => self.waits.push(PendingWait(n, created, future)),
            (polled, expected) => prop_assert!(
                false,
                "wait on {} polled {:?}, model {:?}",
                n,
                polled.map(|r| r.map(|r| r.code().to_owned())),
                expected
            ),
        }
        Ok(())
    }
}

fn run_case(capacity: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let mut harness = Harness::new(capacity);
        let mut history: Vec<Seen> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            harness
                .apply(op)
                .await
                .map_err(|e| TestCaseError::fail(format!("step {step}: {op:?}: {e}")))?;
            harness.store.assert_consistent();
            let got: Vec<Seen> = std::mem::take(&mut *harness.events.lock().unwrap());
            let expected: Vec<Seen> = std::mem::take(&mut harness.model.events);
            prop_assert_eq!(&got, &expected, "step {}: {:?}", step, op);
            history.extend(expected);
        }
        prop_assert_eq!(harness.store.stats(), stats_of(&history));
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_store_follows_its_rules(
        capacity in 1..=5usize,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run_case(capacity, &ops)?;
    }
}
