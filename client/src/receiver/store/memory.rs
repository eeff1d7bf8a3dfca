//! The in-memory state of a [`ResultStore`](super::ResultStore): its entries, their ttl,
//! and the order in which a full store evicts them. `memory_backend.rs` holds the lock and
//! the clock, the store's front (`mod.rs`) publishes events; everything here is synchronous
//! and reads no clock (`now` comes in). The Redis backend (`redis/`) keeps the same rules
//! in Redis.
//!
//! # Eviction order, in O(1) amortised
//!
//! The rules (see [`StoreConfig::capacity`](super::StoreConfig::capacity)): results for ids
//! nobody registered go first, oldest first; then the entry changed longest ago that nobody
//! waits on; a pending entry with a waiter is never evicted. Entries are ordered by the
//! serial of their last change, kept in four queues:
//!
//! - `orphans`: entries created by a result for an unregistered id, in creation order;
//! - `fresh`: one item per change, oldest first; an entry's live item is the one carrying
//!   its current serial, every other item of it is stale and skipped;
//! - `parked`: items of awaited entries an eviction walked past. An eviction takes them out
//!   of `fresh` instead of stepping over them again, so a store full of awaited entries
//!   costs one step per entry, once, rather than a walk of the whole store per insert. They
//!   were taken from the front of `fresh`, so every parked item is older than every item in
//!   `fresh`, and `parked` is itself in order;
//! - `idle_parked`: the parked entries whose waiters have all left, by serial. They are the
//!   oldest idle entries of the store, so an eviction takes them before looking at `fresh`;
//!   their waiters left in any order, hence a sorted set (O(log n) for this case only).
//!
//! A change (a result, or a ttl renewal of an awaited entry) moves the entry back to the end
//! of `fresh`. Expiry walks `parked`, then `fresh`, from the oldest item: that is the order of
//! last changes across the whole store.
//!
//! Stale items are dropped when they reach the front, and a queue holding more than twice as
//! many items as there are entries is compacted, so memory stays proportional to the entries
//! however often they change.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::event::StoreEvent;
use super::result::{Recorded, TaskResult};
use super::slot::ResultSlot;
use crate::task_id::TaskId;

/// Queues shorter than this are never compacted: not worth a pass. (Tiny in unit tests, so
/// that the model test compacts often.)
const COMPACT_FLOOR: usize = if cfg!(test) { 4 } else { 1024 };

/// One change of an entry, in a queue.
#[derive(Clone, Copy, Debug)]
struct Item {
    changed: Instant,
    task_id: TaskId,
    /// The entry's serial after this change: the item is live while they match.
    serial: u64,
}

/// What purging does with the item at the front of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    /// Live and not expired: purging stops here (everything behind is younger).
    No,
    /// Its entry changed again or left: dropped.
    Stale,
    /// Live and expired.
    Expired,
}

/// Which queue holds an entry's live item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Fresh,
    /// In `parked`, and awaited.
    Parked,
    /// In `parked`, and also in `idle_parked`: its waiters left.
    ParkedIdle,
}

struct Entry {
    result: Option<TaskResult>,
    registered: bool,
    place: Place,
    waiters: u32,
    /// Serial of the last change.
    serial: u64,
    /// Serial at creation: tells this entry from an earlier one with the same id.
    created: u64,
    changed: Instant,
    /// Shared with the waiters; only while there are some.
    slot: Option<Arc<ResultSlot>>,
}

impl Entry {
    /// A pending entry somebody is waiting on: never evicted, and renewed past the ttl until
    /// the waiter's own deadline.
    fn awaited(&self) -> bool {
        self.result.is_none() && self.waiters > 0
    }
}

/// What starting a wait found.
pub(super) enum WaitStart {
    /// The result is there.
    Ready(TaskResult),
    /// Not yet: `slot` gets it when it comes. Call [`Memory::end_wait`] with `created` when
    /// the wait ends, whatever its outcome.
    Pending { slot: Arc<ResultSlot>, created: u64 },
}

/// The entries and their queues (see the module docs).
pub(super) struct Memory {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<TaskId, Entry>,
    fresh: VecDeque<Item>,
    parked: VecDeque<Item>,
    idle_parked: BTreeSet<(u64, TaskId)>,
    /// (id, creation serial), oldest first; an item is live while the entry is unregistered.
    orphans: VecDeque<(TaskId, u64)>,
    serial: u64,
}

impl Memory {
    /// Nothing is allocated until entries come: a large capacity costs nothing up front.
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        Memory {
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            fresh: VecDeque::new(),
            parked: VecDeque::new(),
            idle_parked: BTreeSet::new(),
            orphans: VecDeque::new(),
            serial: 0,
        }
    }

    /// How many entries there are (expired ones included until [`Memory::purge`]).
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The result of a task, unless its entry expired.
    pub(super) fn get(&self, task_id: TaskId, now: Instant) -> Option<&TaskResult> {
        let entry = self.entries.get(&task_id)?;
        if self.expired(entry.changed, now) {
            return None;
        }
        entry.result.as_ref()
    }

    /// True when the id is registered and its entry has not expired (an awaited entry does
    /// not: it is renewed at the next purge).
    pub(super) fn is_registered(&self, task_id: TaskId, now: Instant) -> bool {
        self.entries
            .get(&task_id)
            .is_some_and(|e| e.registered && (e.awaited() || !self.expired(e.changed, now)))
    }

    /// Registers an id (creating its entry if needed); false when it was registered already.
    pub(super) fn register(
        &mut self,
        task_id: TaskId,
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) -> bool {
        match self.entries.get_mut(&task_id) {
            Some(entry) if entry.registered => false,
            Some(entry) => {
                entry.registered = true;
                true
            }
            None => {
                self.insert(task_id, true, now, events);
                true
            }
        }
    }

    /// Records a result: the first one wins; later ones are duplicates or conflicts and
    /// change nothing. `None` when `registered_only` and the id is not registered.
    pub(super) fn record(
        &mut self,
        result: TaskResult,
        registered_only: bool,
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) -> Option<Recorded> {
        let task_id = result.task_id();
        let entry = self.entries.get(&task_id);
        if registered_only && !entry.is_some_and(|e| e.registered) {
            return None;
        }
        if let Some(kept) = entry.and_then(|e| e.result.as_ref()) {
            return Some(if kept.code() == result.code() {
                Recorded::Duplicate(kept.clone())
            } else {
                Recorded::Conflict {
                    kept: kept.clone(),
                    rejected: result.into_code(),
                }
            });
        }
        if entry.is_some() {
            self.touch(task_id, now);
        } else {
            self.insert(task_id, false, now, events);
        }
        if let Some(entry) = self.entries.get_mut(&task_id) {
            if let Some(slot) = &entry.slot {
                slot.fill(result.clone());
            }
            entry.result = Some(result.clone());
        }
        Some(Recorded::Stored(result))
    }

    /// Starts a wait on a registered id; `None` when it has no entry.
    pub(super) fn start_wait(&mut self, task_id: TaskId) -> Option<WaitStart> {
        let entry = self.entries.get_mut(&task_id)?;
        if let Some(result) = &entry.result {
            return Some(WaitStart::Ready(result.clone()));
        }
        entry.waiters += 1;
        let slot = Arc::clone(entry.slot.get_or_insert_default());
        if entry.place == Place::ParkedIdle {
            self.idle_parked.remove(&(entry.serial, task_id));
            entry.place = Place::Parked;
        }
        Some(WaitStart::Pending {
            slot,
            created: entry.created,
        })
    }

    /// Ends a wait started by [`Memory::start_wait`]. When the last waiter of a pending
    /// entry leaves, the entry becomes evictable again at its place in the order.
    pub(super) fn end_wait(&mut self, task_id: TaskId, created: u64) {
        let Some(entry) = self.entries.get_mut(&task_id) else {
            return;
        };
        if entry.created != created {
            // That entry left; this is a new one with the same id.
            return;
        }
        entry.waiters = entry.waiters.saturating_sub(1);
        if entry.waiters > 0 {
            return;
        }
        entry.slot = None;
        if entry.result.is_none() && entry.place == Place::Parked {
            entry.place = Place::ParkedIdle;
            self.idle_parked.insert((entry.serial, task_id));
        }
    }

    /// Drops expired entries, oldest change first; an awaited one is renewed instead (its
    /// waiter's deadline bounds it).
    pub(super) fn purge(&mut self, now: Instant, events: &mut Vec<StoreEvent>) {
        // Renewed entries go to the back of `fresh`: never looked at twice in one purge.
        let last = self.serial;
        // Every parked item is older than every fresh one: together, one order of changes.
        for parked in [true, false] {
            loop {
                let queue = if parked { &self.parked } else { &self.fresh };
                let Some(&item) = queue.front() else {
                    break;
                };
                let due = self.due(item, last, now);
                if due == Due::No {
                    break;
                }
                if parked {
                    self.parked.pop_front();
                } else {
                    self.fresh.pop_front();
                }
                if due == Due::Expired {
                    self.expire(item.task_id, now, events);
                }
            }
        }
        while let Some(&(task_id, created)) = self.orphans.front() {
            let live = self
                .entries
                .get(&task_id)
                .is_some_and(|e| e.created == created && !e.registered);
            if live {
                break;
            }
            self.orphans.pop_front();
        }
    }

    /// What purging does with the item at the front of a queue.
    fn due(&self, item: Item, last: u64, now: Instant) -> Due {
        if item.serial > last {
            return Due::No;
        }
        match self.entries.get(&item.task_id) {
            Some(entry) if entry.serial == item.serial => {
                if self.expired(item.changed, now) {
                    Due::Expired
                } else {
                    Due::No
                }
            }
            _ => Due::Stale,
        }
    }

    /// An expired entry leaves, unless it is awaited: then it is renewed.
    fn expire(&mut self, task_id: TaskId, now: Instant, events: &mut Vec<StoreEvent>) {
        if self.entries.get(&task_id).is_some_and(Entry::awaited) {
            self.touch(task_id, now);
        } else {
            self.remove(task_id, events);
        }
    }

    /// Creates an empty entry, evicting others first when the store is full.
    fn insert(
        &mut self,
        task_id: TaskId,
        registered: bool,
        now: Instant,
        events: &mut Vec<StoreEvent>,
    ) {
        while self.entries.len() >= self.capacity {
            if !self.evict_one(events) {
                // Every entry is awaited: their waiters' deadlines bound them.
                break;
            }
        }
        self.serial += 1;
        let serial = self.serial;
        if !registered {
            self.orphans.push_back((task_id, serial));
        }
        self.entries.insert(
            task_id,
            Entry {
                result: None,
                registered,
                place: Place::Fresh,
                waiters: 0,
                serial,
                created: serial,
                changed: now,
                slot: None,
            },
        );
        self.push_fresh(Item {
            changed: now,
            task_id,
            serial,
        });
    }

    /// Evicts the oldest result nobody registered, else the oldest entry nobody waits on.
    /// False when every entry is awaited.
    fn evict_one(&mut self, events: &mut Vec<StoreEvent>) -> bool {
        while let Some((task_id, created)) = self.orphans.pop_front() {
            let orphan = self
                .entries
                .get(&task_id)
                .is_some_and(|e| e.created == created && !e.registered && !e.awaited());
            if orphan {
                self.remove(task_id, events);
                return true;
            }
        }
        if let Some(&(_, task_id)) = self.idle_parked.first() {
            self.remove(task_id, events);
            return true;
        }
        while let Some(item) = self.fresh.pop_front() {
            let Some(entry) = self.entries.get_mut(&item.task_id) else {
                continue;
            };
            if entry.serial != item.serial {
                continue;
            }
            if entry.awaited() {
                entry.place = Place::Parked;
                self.parked.push_back(item);
                continue;
            }
            self.remove(item.task_id, events);
            return true;
        }
        false
    }

    /// Marks the entry changed now: a new serial, at the end of `fresh`.
    fn touch(&mut self, task_id: TaskId, now: Instant) {
        self.serial += 1;
        let serial = self.serial;
        let Some(entry) = self.entries.get_mut(&task_id) else {
            return;
        };
        if entry.place == Place::ParkedIdle {
            self.idle_parked.remove(&(entry.serial, task_id));
        }
        entry.place = Place::Fresh;
        entry.serial = serial;
        entry.changed = now;
        self.push_fresh(Item {
            changed: now,
            task_id,
            serial,
        });
    }

    fn push_fresh(&mut self, item: Item) {
        self.fresh.push_back(item);
        let live = self.entries.len();
        if self.fresh.len() + self.parked.len() > COMPACT_FLOOR.max(2 * live) {
            let entries = &self.entries;
            let is_live = |i: &Item| {
                entries
                    .get(&i.task_id)
                    .is_some_and(|e| e.serial == i.serial)
            };
            self.fresh.retain(is_live);
            self.parked.retain(is_live);
        }
    }

    fn remove(&mut self, task_id: TaskId, events: &mut Vec<StoreEvent>) {
        if let Some(entry) = self.entries.remove(&task_id) {
            if entry.place == Place::ParkedIdle {
                self.idle_parked.remove(&(entry.serial, task_id));
            }
            events.push(StoreEvent::Evicted {
                task_id,
                had_result: entry.result.is_some(),
            });
        }
    }

    /// True when a change at `changed` is older than the ttl (a ttl too long to add never
    /// expires).
    fn expired(&self, changed: Instant, now: Instant) -> bool {
        changed.checked_add(self.ttl).is_some_and(|end| end <= now)
    }

    /// Checks every invariant the module docs state (for tests: O(entries)).
    #[cfg(test)]
    pub(super) fn assert_consistent(&self) {
        let live = |item: &&Item| {
            self.entries
                .get(&item.task_id)
                .is_some_and(|e| e.serial == item.serial)
        };
        let in_fresh: Vec<&Item> = self.fresh.iter().filter(live).collect();
        let in_parked: Vec<&Item> = self.parked.iter().filter(live).collect();
        assert_eq!(in_fresh.len() + in_parked.len(), self.entries.len());
        for item in &in_fresh {
            assert_eq!(self.entries[&item.task_id].place, Place::Fresh);
        }
        for item in &in_parked {
            assert_ne!(self.entries[&item.task_id].place, Place::Fresh);
        }
        for queue in [&self.fresh, &self.parked] {
            assert!(
                queue
                    .iter()
                    .zip(queue.iter().skip(1))
                    .all(|(a, b)| a.serial < b.serial)
            );
        }
        if let (Some(p), Some(f)) = (self.parked.back(), self.fresh.front()) {
            assert!(
                p.serial < f.serial,
                "parked items are older than fresh ones"
            );
        }
        let mut idle = 0;
        for (id, e) in &self.entries {
            assert_eq!(e.slot.is_some(), e.waiters > 0, "task {id}");
            match e.place {
                Place::Fresh => {}
                Place::Parked => assert!(e.awaited(), "task {id}"),
                Place::ParkedIdle => {
                    idle += 1;
                    assert!(e.result.is_none() && e.waiters == 0, "task {id}");
                    assert!(self.idle_parked.contains(&(e.serial, *id)), "task {id}");
                }
            }
            if !e.registered {
                assert!(self.orphans.contains(&(*id, e.created)), "task {id}");
            }
        }
        assert_eq!(idle, self.idle_parked.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_ttl_renews_an_awaited_entry_once_per_purge_and_expires_the_rest() {
        let mut memory = Memory::new(Duration::ZERO, 8);
        let mut events = Vec::new();
        let now = Instant::now();
        memory.register(TaskId::new(1), now, &mut events);
        memory.register(TaskId::new(2), now, &mut events);
        let Some(WaitStart::Pending { created, .. }) = memory.start_wait(TaskId::new(1)) else {
            panic!("task 1 has no result yet");
        };
        // Every entry is expired at once; the awaited one is renewed, not looped over.
        memory.purge(now, &mut events);
        assert_eq!(
            events,
            [StoreEvent::Evicted {
                task_id: TaskId::new(2),
                had_result: false
            }]
        );
        assert_eq!(memory.len(), 1);
        memory.end_wait(TaskId::new(1), created);
        memory.purge(now, &mut events);
        assert_eq!(memory.len(), 0);
        memory.assert_consistent();
    }
}
