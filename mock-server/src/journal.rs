//! A bounded ring buffer journal, used for inbound requests and outbound
//! pingback attempts alike. Old entries fall off the front, so memory stays
//! flat under endless load; every entry has a sequence number so readers can
//! page (`since=`) and notice what they missed.
//!
//! Two bounds: a number of entries, and the bytes they hold ([`Weigh`]), so that entries of
//! very different sizes (a poll, a request with fifty parameters) cannot add up to more than
//! the byte bound whatever their number. Entries are shortened before they get here (see
//! `params::Params::shortened`): the byte bound is a ceiling, not the way big requests are kept
//! small.
//!
//! Entries live in fixed-size chunks ([`Chunked`]), not one ring that doubles: a ring of a
//! million pingback attempts that doubled would copy all of them under the lock every
//! writer waits on (the outbound journal stalled the dispatcher for tens of milliseconds
//! at a time at 10 000 callbacks a second), and its new half would be touched at once. A
//! chunk is allocated when the last one fills and freed (or kept as the spare) when the
//! first one empties, so the cost of growing is the same at every size.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// What an entry costs the journal: its own size plus the heap it owns (not what it shares
/// with others through an `Arc`), approximately.
pub(crate) trait Weigh {
    /// Bytes.
    fn weight(&self) -> usize;
}

/// A bounded, append-only journal of `T`.
#[derive(Debug)]
pub(crate) struct Journal<T> {
    inner: Mutex<Ring<T>>,
}

#[derive(Debug)]
struct Ring<T> {
    entries: Chunked<Slot<T>>,
    capacity: usize,
    max_bytes: usize,
    /// The weight of every entry kept.
    bytes: usize,
    next_seq: u64,
}

#[derive(Debug)]
struct Slot<T> {
    seq: u64,
    weight: usize,
    entry: T,
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

impl<T: Clone + Weigh> Journal<T> {
    /// An empty journal keeping at most `capacity` entries, whatever their size.
    pub(crate) fn new(capacity: usize) -> Self {
        Journal::with_max_bytes(capacity, usize::MAX)
    }

    /// An empty journal keeping at most `capacity` entries and, beyond its newest entry, at
    /// most `max_bytes` of them (by [`Weigh`]).
    pub(crate) fn with_max_bytes(capacity: usize, max_bytes: usize) -> Self {
        Journal {
            inner: Mutex::new(Ring {
                entries: Chunked::default(),
                capacity: capacity.max(1),
                max_bytes,
                bytes: 0,
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
        let weight = entry.weight();
        let mut r = self.lock();
        let seq = r.next_seq;
        r.next_seq += 1;
        // At most one entry falls off by count; more only when big ones arrive.
        let mut evicted = None;
        let mut more = Vec::new();
        while !r.entries.is_empty()
            && (r.entries.len() >= r.capacity || r.bytes.saturating_add(weight) > r.max_bytes)
        {
            let Some(old) = r.entries.pop_front() else {
                break;
            };
            r.bytes -= old.weight;
            if evicted.is_none() {
                evicted = Some(old);
            } else {
                more.push(old);
            }
        }
        r.bytes += weight;
        r.entries.push_back(Slot { seq, weight, entry });
        drop(r);
        // Freed after the lock is released: an entry owns a dozen small
        // allocations, and every request of every connection pushes here.
        drop(evicted);
        drop(more);
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
        r.entries
            .iter_from(r.first_after(since))
            .filter(|s| keep(&s.entry))
            .take(limit)
            .map(|s| Numbered {
                seq: s.seq,
                entry: s.entry.clone(),
            })
            .collect()
    }

    /// How many entries with a sequence number above `since` pass `keep` (nothing copied).
    pub(crate) fn count(&self, since: u64, keep: impl Fn(&T) -> bool) -> usize {
        let r = self.lock();
        r.entries
            .iter_from(r.first_after(since))
            .filter(|s| keep(&s.entry))
            .count()
    }

    /// Removes the oldest entries, at most `limit`, and gives them, oldest first: for a
    /// reader that keeps what it reads, so that the journal does not hold it a second time.
    /// Numbering goes on; later queries see only what was not taken.
    pub(crate) fn take_oldest(&self, limit: usize) -> Vec<Numbered<T>> {
        let mut r = self.lock();
        let n = limit.min(r.entries.len());
        let mut taken = Vec::with_capacity(n);
        while taken.len() < n {
            let Some(s) = r.entries.pop_front() else {
                break;
            };
            r.bytes -= s.weight;
            taken.push(Numbered {
                seq: s.seq,
                entry: s.entry,
            });
        }
        // What was taken freed its chunks (one is kept as the spare, for a reader that
        // takes as the run goes: the next entries reuse it rather than fresh pages).
        taken
    }

    /// Forgets everything and restarts numbering.
    pub(crate) fn clear(&self) {
        let mut r = self.lock();
        r.entries = Chunked::default();
        r.bytes = 0;
        r.next_seq = 1;
    }
}

impl<T> Ring<T> {
    /// The position of the first entry numbered above `since`: numbers are consecutive
    /// from the oldest kept (entries only ever leave from the front).
    fn first_after(&self, since: u64) -> usize {
        let Some(oldest) = self.entries.front() else {
            return 0;
        };
        let skipped = since.saturating_add(1).saturating_sub(oldest.seq);
        usize::try_from(skipped).unwrap_or(usize::MAX)
    }
}

/// Entries allocated in chunks of this many.
const CHUNK: usize = 1024;

/// A FIFO queue in fixed-size chunks: pushing never moves what is already there, and
/// memory grows and shrinks a chunk at a time.
#[derive(Debug)]
struct Chunked<T> {
    chunks: VecDeque<VecDeque<T>>,
    /// An emptied chunk, kept for the next one needed (a journal at its bound frees one
    /// chunk and needs another every [`CHUNK`] entries).
    spare: Option<VecDeque<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: VecDeque::new(),
            spare: None,
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn front(&self) -> Option<&T> {
        self.chunks.front().and_then(VecDeque::front)
    }

    fn push_back(&mut self, item: T) {
        if self.chunks.back().is_none_or(|c| c.len() == CHUNK) {
            let chunk = self
                .spare
                .take()
                .unwrap_or_else(|| VecDeque::with_capacity(CHUNK));
            self.chunks.push_back(chunk);
        }
        if let Some(last) = self.chunks.back_mut() {
            last.push_back(item);
            self.len += 1;
        }
    }

    fn pop_front(&mut self) -> Option<T> {
        let first = self.chunks.front_mut()?;
        let item = first.pop_front()?;
        self.len -= 1;
        if first.is_empty() {
            let emptied = self.chunks.pop_front();
            if self.spare.is_none() {
                self.spare = emptied;
            }
        }
        Some(item)
    }

    /// The items from position `start` (0 is the front) to the back.
    fn iter_from(&self, start: usize) -> impl Iterator<Item = &T> {
        let mut skip = start;
        let mut first_chunk = self.chunks.len();
        for (i, chunk) in self.chunks.iter().enumerate() {
            if skip < chunk.len() {
                first_chunk = i;
                break;
            }
            skip -= chunk.len();
        }
        self.chunks
            .range(first_chunk..)
            .enumerate()
            .flat_map(move |(i, chunk)| chunk.range(if i == 0 { skip } else { 0 }..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for i32 {
        fn weight(&self) -> usize {
            self.unsigned_abs() as usize
        }
    }

    fn all(j: &Journal<i32>) -> Vec<(u64, i32)> {
        j.query(0, usize::MAX, |_| true)
            .into_iter()
            .map(|n| (n.seq, n.entry))
            .collect()
    }

    /// Taken entries leave the journal in order; numbering goes on after them.
    #[test]
    fn taking_moves_the_oldest_out() {
        let j = Journal::with_max_bytes(10, 100);
        for v in 1..=5 {
            j.push(v);
        }
        let taken: Vec<(u64, i32)> = j
            .take_oldest(3)
            .into_iter()
            .map(|n| (n.seq, n.entry))
            .collect();
        assert_eq!(taken, vec![(1, 1), (2, 2), (3, 3)]);
        assert_eq!(all(&j), vec![(4, 4), (5, 5)]);
        // The bytes of what was taken are free again: 9 + 91 fits the bound.
        j.push(91);
        assert_eq!(all(&j), vec![(4, 4), (5, 5), (6, 91)]);
        assert_eq!(j.take_oldest(usize::MAX).len(), 3);
        assert!(j.take_oldest(1).is_empty());
        assert_eq!(j.push(7), 7);
    }

    /// Across chunk boundaries, with entries leaving the front: every read sees the entries
    /// kept, in order, numbered as pushed.
    #[test]
    fn chunks_keep_order_across_their_boundaries() {
        let cap = CHUNK * 2 + 17;
        let j = Journal::new(cap);
        let n = CHUNK * 5 + 3;
        for i in 0..n {
            j.push(i32::try_from(i % 7).unwrap_or(0));
        }
        let kept = all(&j);
        assert_eq!(kept.len(), cap);
        let first = (n - cap + 1) as u64;
        for (k, (seq, v)) in kept.iter().enumerate() {
            assert_eq!(*seq, first + k as u64);
            assert_eq!(*v as u64, (*seq - 1) % 7);
        }
        // Reading from any point, including chunk boundaries, past the end and the largest
        // `since` a reader can send.
        for since in [
            0,
            first,
            first + CHUNK as u64 - 1,
            first + CHUNK as u64,
            n as u64 - 1,
            n as u64,
            n as u64 + 5,
            u64::MAX,
        ] {
            let got: Vec<u64> = j
                .query(since, usize::MAX, |_| true)
                .into_iter()
                .map(|e| e.seq)
                .collect();
            let want: Vec<u64> = kept
                .iter()
                .map(|(s, _)| *s)
                .filter(|s| *s > since)
                .collect();
            assert_eq!(got, want, "since {since}");
            assert_eq!(j.count(since, |_| true), want.len(), "since {since}");
        }
        // Taking across boundaries leaves the rest readable.
        let taken = j.take_oldest(CHUNK + 5);
        assert_eq!(taken.first().map(|e| e.seq), Some(first));
        assert_eq!(all(&j).first().map(|e| e.0), Some(first + CHUNK as u64 + 5));
        assert_eq!(all(&j).len(), cap - CHUNK - 5);
    }

    #[test]
    fn bounded_and_numbered() {
        let j = Journal::new(3);
        for i in 0..5 {
            j.push(i);
        }
        assert_eq!(all(&j), vec![(3, 2), (4, 3), (5, 4)], "the oldest fell off");
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

    #[test]
    fn bounded_by_bytes() {
        let j = Journal::with_max_bytes(100, 10);
        for w in [3, 3, 3] {
            j.push(w);
        }
        assert_eq!(all(&j), vec![(1, 3), (2, 3), (3, 3)]);
        // 7 more bytes: the two oldest go.
        j.push(7);
        assert_eq!(all(&j), vec![(3, 3), (4, 7)]);
        // Heavier than the bound on its own: kept alone, the newest entry always is.
        j.push(50);
        assert_eq!(all(&j), vec![(5, 50)]);
        j.push(1);
        assert_eq!(all(&j), vec![(6, 1)]);
        j.clear();
        for _ in 0..10 {
            j.push(1);
        }
        assert_eq!(all(&j).len(), 10, "at the bound exactly");
    }
}
