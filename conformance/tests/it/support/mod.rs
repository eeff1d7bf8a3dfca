//! What the tests share: where the repository is, the harness binary, scenario files run
//! against a subject in-process, the broken subjects, the Python peers, and reading a JSON
//! report.

pub(crate) mod broken;
pub(crate) mod python;
pub(crate) mod report;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Arc,
};

use captchaai_conformance::{
    checks::{CheckId, Verdict},
    report::ScenarioReport,
    scenario,
    subject::Subject,
    suite::{SuiteOptions, run_one},
};

/// The repository's root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The `captchaai-conformance` binary, run from the repository's root, without colour, as
/// in CI (no progress bar).
pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_captchaai-conformance"));
    c.env("NO_COLOR", "1").env("CI", "true").current_dir(root());
    c
}

/// Runs the binary with these arguments.
pub(crate) fn harness(args: &[&str]) -> Output {
    bin().args(args).output().expect("the harness runs")
}

/// A path in this test process's own temporary folder.
pub(crate) fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("captchaai-conformance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs a scenario file of `scenarios/` (e.g. `pingback/early.toml`) against a subject,
/// in-process, as the CLI would.
pub(crate) fn run_scenario(subject: &dyn Subject, file: &str) -> ScenarioReport {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios")).join(file);
    let s = scenario::load(&path).unwrap_or_else(|e| panic!("{}", e.message));
    run_one(
        Arc::new(s),
        subject,
        &SuiteOptions {
            jobs: 1,
            ..Default::default()
        },
    )
}

/// The checks a report failed.
pub(crate) fn failed(r: &ScenarioReport) -> BTreeSet<CheckId> {
    r.checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .map(|c| c.check)
        .collect()
}
