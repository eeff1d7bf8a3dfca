//! The per-task view checks read a run through: for each workload task, its id, when it was
//! submitted, what reached the application, its polls and its pingback attempts; and the
//! formatting helpers every check's messages share.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use super::verdict::MAX_EVIDENCE;
use crate::{
    runner::RunRecord,
    timeline::{Entry, Event},
};

/// Per-task view of a run.
pub(super) struct TaskLens<'a> {
    /// The workload ordinal (1 = first task).
    pub(super) ordinal: u64,
    /// The mock's id, once the application learnt it.
    pub(super) id: Option<u64>,
    /// When the mock accepted its submit.
    pub(super) submitted_at: Option<u64>,
    /// Results and errors the application received.
    pub(super) app: Vec<&'a Entry>,
    /// Its polls.
    pub(super) polls: Vec<&'a Entry>,
    /// Its pingback attempts.
    pub(super) deliveries: Vec<&'a Entry>,
}

impl TaskLens<'_> {
    /// `task #3 (id 74000000003)`: the application's number and, once known, the mock's id,
    /// so a message can be matched with the evidence lines, which name ids.
    pub(super) fn name(&self) -> String {
        match self.id {
            Some(id) => format!("task #{} (id {id})", self.ordinal),
            None => format!("task #{}", self.ordinal),
        }
    }
}

/// A run, indexed by task.
pub(super) struct Index<'a> {
    /// The run.
    pub(super) rec: &'a RunRecord,
    /// One lens per workload task, in ordinal order.
    pub(super) tasks: Vec<TaskLens<'a>>,
    /// Position in `tasks` by task id.
    pub(super) by_id: BTreeMap<u64, usize>,
}

impl<'a> Index<'a> {
    pub(super) fn new(rec: &'a RunRecord) -> Self {
        let mut tasks: Vec<TaskLens<'a>> = rec
            .scenario
            .tasks
            .iter()
            .map(|t| TaskLens {
                ordinal: t.ordinal,
                id: rec.ids.get(&t.ordinal).copied(),
                submitted_at: None,
                app: vec![],
                polls: vec![],
                deliveries: vec![],
            })
            .collect();
        let by_id: BTreeMap<u64, usize> = tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.id.map(|id| (id, i)))
            .collect();
        // The first lens of each ordinal, as a search from the front would find it.
        let mut by_ordinal: HashMap<u64, usize> = HashMap::with_capacity(tasks.len());
        for (i, t) in tasks.iter().enumerate() {
            by_ordinal.entry(t.ordinal).or_insert(i);
        }
        for e in &rec.timeline.entries {
            match &e.event {
                Event::AppResult { ordinal, .. } | Event::AppError { ordinal, .. } => {
                    if let Some(&i) = by_ordinal.get(ordinal) {
                        tasks[i].app.push(e);
                    }
                }
                Event::Submit { task: Some(id), .. } => {
                    if let Some(&i) = by_id.get(id) {
                        tasks[i].submitted_at.get_or_insert(e.at_ms);
                    }
                }
                Event::Poll { task: Some(id), .. } => {
                    if let Some(&i) = by_id.get(id) {
                        tasks[i].polls.push(e);
                    }
                }
                Event::Delivery { task, .. } => {
                    if let Some(&i) = by_id.get(task) {
                        tasks[i].deliveries.push(e);
                    }
                }
                _ => {}
            }
        }
        Index { rec, tasks, by_id }
    }

    /// One task's slice of the timeline.
    pub(super) fn evidence(&self, t: &TaskLens<'_>) -> Vec<Entry> {
        self.evidence_of(&[t], |_| false)
    }

    /// The slices of several tasks, and every entry `also` picks, in timeline order: the
    /// evidence of a check with several offenders. Cut to the first and last entries when
    /// long (the offenders' list names them all).
    pub(super) fn evidence_of(
        &self,
        tasks: &[&TaskLens<'_>],
        also: impl Fn(&Entry) -> bool,
    ) -> Vec<Entry> {
        let ids: BTreeSet<u64> = tasks.iter().filter_map(|t| t.id).collect();
        let ordinals: BTreeSet<u64> = tasks.iter().map(|t| t.ordinal).collect();
        let mut v: Vec<Entry> = self
            .rec
            .timeline
            .entries
            .iter()
            .filter(|e| {
                e.task().is_some_and(|id| ids.contains(&id))
                    || matches!(&e.event, Event::AppResult { ordinal, .. } | Event::AppError { ordinal, .. } | Event::AppSubmitted { ordinal, .. } if ordinals.contains(ordinal))
                    || also(e)
            })
            .cloned()
            .collect();
        if v.len() > MAX_EVIDENCE {
            let tail = v.split_off(v.len() - MAX_EVIDENCE / 2);
            v.truncate(MAX_EVIDENCE / 2);
            v.extend(tail);
        }
        v
    }

    /// Every submit the mock saw, in order.
    pub(super) fn submits(&self) -> Vec<&'a Entry> {
        self.rec
            .timeline
            .entries
            .iter()
            .filter(|e| matches!(e.event, Event::Submit { .. }))
            .collect()
    }
}

/// Whole milliseconds.
pub(super) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// `1.250s`.
pub(super) fn secs(ms: u64) -> String {
    format!("{:.3}s", ms as f64 / 1000.0)
}

/// "a" or "an", and the word: `an("unsolvable")` is "an unsolvable".
pub(super) fn an(word: &str) -> String {
    let vowel = word
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {word}", if vowel { "an" } else { "a" })
}
