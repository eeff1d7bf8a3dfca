//! A bounded ring buffer journal, used for inbound requests and outbound
//! pingback attempts alike. Old entries fall off the front, so memory stays
//! flat under endless load; every entry has a sequence number so readers can
//! page (`since=`) and notice what they missed.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// A bounded, append-only journal of `T`.
#[derive(Debug)]
pub(crate) struct Journal<T> {
    inner: Mutex<Ring<T>>,
}

#[derive(Debug)]
struct Ring<T> {
    entries: VecDeque<(u64, T)>,
    capacity: usize,
    next_seq: u64,
}

/// One journal entry with its sequence number.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Numbered<T> {
    /// Position in the journal since start (or the last reset), from 1.
    pub(crate) seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub(crate) entry: T,
}

impl<T: Clone> Journal<T> {
    /// An empty journal keeping at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Journal {
            inner: Mutex::new(Ring {
                entries: VecDeque::with_capacity(capacity.min(4096)),
                capacity: capacity.max(1),
                next_seq: 1,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring<T>> {
        // A panic while holding this lock cannot leave the ring inconsistent
        // (every mutation is a single push/pop), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an entry and returns its sequence number.
    pub(crate) fn push(&self, entry: T) -> u64 {
        let mut r = self.lock();
        let seq = r.next_seq;
        r.next_seq += 1;
        let evicted = if r.entries.len() == r.capacity {
            r.entries.pop_front()
        } else {
            None
        };
        r.entries.push_back((seq, entry));
        drop(r);
        // Freed after the lock is released: an entry owns a dozen small
        // allocations, and every request of every connection pushes here.
        drop(evicted);
        seq
    }

    /// Entries with a sequence number above `since`, oldest first, that pass `keep`, at most `limit`.
    pub(crate) fn query(
        &self,
        since: u64,
        limit: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<Numbered<T>> {
        let r = self.lock();
        let start = r.entries.partition_point(|(s, _)| *s <= since);
        r.entries
            .range(start..)
            .filter(|(_, e)| keep(e))
            .take(limit)
            .map(|(seq, e)| Numbered {
                seq: *seq,
                entry: e.clone(),
            })
            .collect()
    }

    /// Forgets everything and restarts numbering.
    pub(crate) fn clear(&self) {
        let mut r = self.lock();
        r.entries.clear();
        r.next_seq = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_numbered() {
        let j = Journal::new(3);
        for i in 0..5 {
            j.push(i);
        }
        let all: Vec<(u64, i32)> = j
            .query(0, usize::MAX, |_| true)
            .into_iter()
            .map(|n| (n.seq, n.entry))
            .collect();
        assert_eq!(all, vec![(3, 2), (4, 3), (5, 4)], "the oldest fell off");
        let since: Vec<i32> = j
            .query(4, 10, |_| true)
            .into_iter()
            .map(|n| n.entry)
            .collect();
        assert_eq!(since, vec![4]);
        let odd: Vec<i32> = j
            .query(0, 10, |e| e % 2 == 1)
            .into_iter()
            .map(|n| n.entry)
            .collect();
        assert_eq!(odd, vec![3]);
        j.clear();
        assert_eq!(j.push(9), 1);
    }
}
