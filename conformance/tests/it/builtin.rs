//! The built-in suite, used as someone without a checkout would: the binary run from a
//! temporary folder outside the repository.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use libtest_mimic::Trial;

use crate::support::root;

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        run_with_no_path_runs_the_whole_builtin_suite_from_any_folder,
        list_shows_the_builtin_suite_and_unknown_names_are_refused,
        export_writes_the_files_out_and_they_run_as_files,
        a_builtin_scenarios_replay_command_works_from_another_folder,
    ]
}

/// The binary, run from `dir`, without colour, as in CI.
fn bin_in(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_captchaai-conformance"));
    c.env("NO_COLOR", "1").env("CI", "true").current_dir(dir);
    c
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin_in(dir).args(args).output().expect("the harness runs")
}

/// A temporary folder outside the checkout, removed when dropped.
fn outside() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("captchaai-builtin-")
        .tempdir()
        .unwrap();
    assert!(
        !dir.path().starts_with(root().canonicalize().unwrap()),
        "the test folder must be outside the checkout"
    );
    dir
}

/// Every `*.toml` under `dir`: its `/`-separated path under `dir` and its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if p.extension().is_some_and(|x| x == "toml") {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy();
                out.insert(rel.replace('\\', "/"), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The ids of the scenario files under `dir`, sorted as the harness sorts them.
fn ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = tree(dir)
        .keys()
        .map(|k| k.trim_end_matches(".toml").to_owned())
        .collect();
    ids.sort();
    ids
}

fn scenarios_dir() -> PathBuf {
    root().join("scenarios")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "a JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn run_with_no_path_runs_the_whole_builtin_suite_from_any_folder() {
    let dir = outside();
    let out = run_in(dir.path(), &["run", "--format", "json", "-j", "2"]);
    let report = json(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ran: Vec<String> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ran,
        ids(&scenarios_dir()),
        "every file of scenarios/ is built in, and run"
    );
    assert_eq!(report["totals"]["failed"], 0, "{report}");
}

fn list_shows_the_builtin_suite_and_unknown_names_are_refused() {
    let dir = outside();
    let out = run_in(dir.path(), &["list"]);
    assert!(out.status.success());
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids(&scenarios_dir()));

    let out = run_in(dir.path(), &["list", "builtin:receiver"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && s.contains("receiver/duplicates"),
        "{s}"
    );
    assert!(s.lines().all(|l| l.starts_with("receiver/")), "{s}");

    for cmd in ["list", "run", "check"] {
        let out = run_in(dir.path(), &[cmd, "builtin:receiver/no-such"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("builtin:receiver/no-such: no built-in scenario"),
            "{cmd}: {err}"
        );
    }
    // Without the prefix, a name is a path, as before: not found in this folder.
    let out = run_in(dir.path(), &["run", "receiver/duplicates"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file or folder"));
}

fn export_writes_the_files_out_and_they_run_as_files() {
    let dir = outside();
    let out = run_in(dir.path(), &["export", "copy"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = dir.path().join("copy");
    assert_eq!(
        tree(&copy),
        tree(&scenarios_dir()),
        "the export is byte for byte the suite"
    );
    assert_eq!(
        std::fs::read(copy.join("schema.json")).unwrap(),
        std::fs::read(scenarios_dir().join("schema.json")).unwrap(),
        "with the committed schema"
    );

    // A changed file is refused (nothing written) unless --force.
    let changed = copy.join("pingback/early.toml");
    let mut text = std::fs::read_to_string(&changed).unwrap();
    text = text.replacen("seed = ", "seed = 1", 1);
    std::fs::write(&changed, &text).unwrap();
    std::fs::remove_file(copy.join("pingback/delayed.toml")).unwrap();
    let out = run_in(dir.path(), &["export", "copy"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pingback/early.toml") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&changed).unwrap(), text);
    assert!(
        !copy.join("pingback/delayed.toml").exists(),
        "nothing was written"
    );

    // The files run as files: their replay commands name them, not the built-in suite.
    let out = run_in(
        dir.path(),
        &["run", "copy/pingback/early.toml", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    let replay = report["scenarios"][0]["replay"].as_str().unwrap();
    assert!(
        replay.starts_with("captchaai-conformance run copy/pingback/early.toml --seed 1"),
        "the changed seed, from the file: {replay}"
    );

    let out = run_in(dir.path(), &["export", "copy", "--force"]);
    assert!(out.status.success());
    assert_eq!(tree(&copy), tree(&scenarios_dir()));
}

fn a_builtin_scenarios_replay_command_works_from_another_folder() {
    let (a, b) = (outside(), outside());
    let args = [
        "--format",
        "json",
        "--redact-timings",
        "--seed",
        "11",
        "--filter",
        "conflicting",
    ];
    let first = run_in(a.path(), &[&["run"][..], &args].concat());
    assert_eq!(first.status.code(), Some(0));
    let report = json(&first);
    let s = &report["scenarios"][0];
    assert_eq!(s["id"], "pingback/conflicting-duplicate");
    let replay = s["replay"].as_str().unwrap();
    assert_eq!(
        replay,
        "captchaai-conformance run builtin:pingback/conflicting-duplicate.toml --seed 11"
    );
    // The replay command, word for word, in another folder, gives the same run.
    let words: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let again = run_in(
        b.path(),
        &[&words[..], &["--format", "json", "--redact-timings"]].concat(),
    );
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(json(&again)["scenarios"], report["scenarios"]);
}
