//! What a run leaves for the checks: [`RunRecord`], with the mock's ground truth per task
//! ([`Truth`]) and what the subject is graded on ([`Capabilities`]).

use std::{collections::BTreeMap, sync::Arc};

use captchaai_mock::{MockHandle, Outcome, Schedule, TaskView};

use crate::{scenario::Scenario, subject::Capabilities, timeline::Timeline};

/// What the mock decided for one task (ground truth).
#[derive(Clone, Debug)]
pub(crate) struct Truth {
    /// Task id.
    pub(crate) task: u64,
    /// Kind.
    pub(crate) kind: &'static str,
    /// The answer or failure code.
    pub(crate) outcome: Outcome,
    /// When it finished (None: never).
    pub(crate) finish_at_ms: Option<u64>,
    /// The compiled pingback schedule, when a fault rule applied to the task (what the
    /// report prints).
    pub(crate) schedule: Option<Schedule>,
    /// The `code` its conflicting duplicates carry, if its schedule sends any.
    pub(crate) conflicting_code: Option<String>,
}

/// Everything a run produced, for the checkers.
#[derive(Clone, Debug)]
pub(crate) struct RunRecord {
    /// The scenario.
    pub(crate) scenario: Arc<Scenario>,
    /// The ordered history.
    pub(crate) timeline: Timeline,
    /// Ground truth per task id.
    pub(crate) truth: BTreeMap<u64, Truth>,
    /// Task id per workload ordinal, as the application learnt them.
    pub(crate) ids: BTreeMap<u64, u64>,
    /// What the receiver stored per id the harness asked about (None: nothing); empty without a probe.
    pub(crate) stored: BTreeMap<String, Option<String>>,
    /// Whether a probe was available.
    pub(crate) probed: bool,
    /// Why the probe could not read what the receiver stored (the storage checks are then
    /// not graded).
    pub(crate) probe_error: Option<String>,
    /// Submits the mock rejected as busy.
    pub(crate) busy_rejections: u64,
    /// Simulated time at the end of the run.
    pub(crate) ended_at_ms: u64,
    /// A problem that stopped the run early.
    pub(crate) aborted: Option<String>,
    /// What the subject is and is graded on.
    pub(crate) caps: Capabilities,
    /// Simulated seconds per real second.
    pub(crate) time_scale: f64,
}

impl RunRecord {
    /// The record of a run that could not start.
    pub(super) fn aborted(scenario: Arc<Scenario>, caps: Capabilities, why: String) -> Self {
        RunRecord {
            scenario,
            timeline: Timeline::default(),
            truth: BTreeMap::new(),
            ids: BTreeMap::new(),
            stored: BTreeMap::new(),
            probed: false,
            probe_error: None,
            busy_rejections: 0,
            ended_at_ms: 0,
            aborted: Some(why),
            caps,
            time_scale: 1.0,
        }
    }
}

/// The mock's decision for every task (each view consumed as it is read).
pub(super) fn collect_truth(state: &MockHandle, tasks: Vec<TaskView>) -> BTreeMap<u64, Truth> {
    tasks
        .into_iter()
        .map(|t| {
            (
                t.id,
                Truth {
                    task: t.id,
                    kind: t.kind.name(),
                    conflicting_code: state.conflicting_code(t.id),
                    outcome: t.outcome,
                    finish_at_ms: t.finish_at_ms,
                    schedule: t.schedule.filter(|s| s.rule.is_some()),
                },
            )
        })
        .collect()
}
