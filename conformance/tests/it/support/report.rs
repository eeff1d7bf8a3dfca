//! Reading the harness's JSON report: failed checks and verdicts by scenario, and a run of
//! the binary with a JSON report.

use std::collections::{BTreeMap, BTreeSet};

use super::harness;

/// Failed checks per scenario that ran, from a JSON report.
pub(crate) fn failed_checks(stdout: &[u8]) -> BTreeMap<String, BTreeSet<String>> {
    let report: serde_json::Value =
        serde_json::from_slice(stdout).unwrap_or_else(|e| panic!("a JSON report: {e}"));
    verdicts(&report)
        .into_iter()
        .map(|(scenario, checks)| {
            let failed = checks
                .into_iter()
                .filter(|(_, v)| v == "FAILED")
                .map(|(id, _)| id)
                .collect();
            (scenario, failed)
        })
        .collect()
}

/// The verdicts of every check of every scenario that ran, from a JSON report.
pub(crate) fn verdicts(report: &serde_json::Value) -> BTreeMap<String, BTreeMap<String, String>> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("skipped").is_none())
        .map(|s| {
            let checks = s["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let id = c["id"].as_str().unwrap().to_owned();
                    (id, c["verdict"].as_str().unwrap().to_owned())
                })
                .collect();
            (s["id"].as_str().unwrap().to_owned(), checks)
        })
        .collect()
}

pub(crate) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn run_json(
    subject: &[String],
    paths: &[&str],
) -> (
    Option<i32>,
    BTreeMap<String, BTreeSet<String>>,
    serde_json::Value,
) {
    // Scenarios against one receiver run one at a time (the default); client programs
    // each get a mock of their own, two at a time.
    let mut args = vec!["run", "--format", "json"];
    if !subject.iter().any(|a| a == "--receiver") {
        args.extend(["-j", "2"]);
    }
    args.extend(paths);
    let subject: Vec<&str> = subject.iter().map(String::as_str).collect();
    args.extend(subject);
    let out = harness(&args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code(), failed_checks(&out.stdout), report)
}
