//! The harness's own limits never decide a verdict: a scenario at the worst case its rules
//! allow is graded on every attempt it made, and what the reference subject received is
//! still there when the run reads it back, however long the run settles.

use std::{path::Path, sync::Arc};

use captchaai_conformance::{
    checks::CheckId,
    report::ScenarioReport,
    scenario,
    subject::Reference,
    suite::{SuiteOptions, run_one},
};
use libtest_mimic::Trial;

use crate::support::failed;

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        a_journal_at_the_rules_worst_case_is_graded_whole,
        results_outlive_the_longest_settle,
    ]
}

/// Runs a scenario given as text against the reference subject, in-process.
fn run_text(text: &str) -> ScenarioReport {
    let s = scenario::parse(text, Path::new("limits/inline.toml"))
        .unwrap_or_else(|e| panic!("{}", e.message));
    run_one(
        Arc::new(s),
        &Reference,
        &SuiteOptions {
            jobs: 1,
            ..Default::default()
        },
    )
}

/// The summary line of a check.
fn summary(r: &ScenarioReport, id: CheckId) -> String {
    r.checks
        .iter()
        .find(|c| c.check == id)
        .map(|c| c.summary.clone())
        .unwrap_or_else(|| panic!("{id:?} did not run"))
}

/// 200 tasks with 60 conflicting copies each plan 12,200 callbacks. A journal sized for
/// fewer lost the first tasks' genuine callbacks: settling waited three simulated days for
/// attempts it could no longer see, and the correct subject was graded on what was left
/// (`first-wins`, `no-state-change` or `receiver-kept` failed).
fn a_journal_at_the_rules_worst_case_is_graded_whole() {
    let r = run_text(
        r#"
name = "journal-worst-case"
description = "200 tasks, each with 60 conflicting duplicates"
seed = 5
[[faults]]
fault = { duplicate = { copies = 60, conflicting = true } }
[workload]
tasks = [{ method = "turnstile", count = 200 }]
"#,
    );
    assert!(failed(&r).is_empty(), "failed: {:?}", failed(&r));
    assert!(
        summary(&r, CheckId::AckValid).starts_with("12200 valid callback(s)"),
        "{}",
        summary(&r, CheckId::AckValid)
    );
    assert!(
        r.simulated_ms < 3_600_000,
        "settled after {} s",
        r.simulated_ms / 1000
    );
}

/// One task's pingback is delayed two days, so the run settles for two days; the results
/// the subject stored in its first minute must still be there when the run reads them
/// back (the reference subject's store once expired them after a few minutes' ttl, and
/// `receiver-kept` failed).
fn results_outlive_the_longest_settle() {
    let r = run_text(
        r#"
name = "long-settle"
description = "the first task's pingback two days late"
seed = 3
[[faults]]
match = { tasks = { from = 1, to = 1 } }
fault = { delay = { fixed = "2days" } }
[workload]
tasks = [{ method = "turnstile", count = 5 }]
"#,
    );
    assert!(failed(&r).is_empty(), "failed: {:?}", failed(&r));
    assert!(r.simulated_ms > 2 * 86_400_000, "{} ms", r.simulated_ms);
    assert!(
        summary(&r, CheckId::ReceiverKept).starts_with("5 acknowledged result(s) stored"),
        "{}",
        summary(&r, CheckId::ReceiverKept)
    );
}
