//! The `captchaai-conformance` binary: exit codes, diagnostics for bad files,
//! reports, replay, determinism.

use libtest_mimic::Trial;

use crate::support::{bin, tmp};

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        check_accepts_the_suite,
        a_bad_file_gets_file_line_column_and_a_snippet_and_nothing_runs,
        a_name_used_twice_points_at_the_second_files_name_and_every_bad_file_is_reported,
        run_exits_0_when_all_pass_and_writes_json_and_junit,
        filter_and_list,
        the_same_seed_gives_byte_identical_json_reports,
        a_failing_run_exits_1_and_prints_the_replay_command,
        the_json_report_carries_timelines_of_scenarios_not_ok_unless_asked,
    ]
}

fn check_accepts_the_suite() {
    let out = bin().args(["check", "scenarios"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("scenario file(s) valid"), "{stdout}");
}

fn a_bad_file_gets_file_line_column_and_a_snippet_and_nothing_runs() {
    let dir = tmp("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("typo.toml");
    std::fs::write(
        &file,
        "name = \"typo\"\ndescription = \"x\"\n\n[[faults]]\nfault = { duplicate = { copies = 2, spacnig = \"1s\" } }\n\n[workload]\ntasks = [{ method = \"turnstile\" }]\n",
    )
    .unwrap();
    for cmd in ["check", "run"] {
        let out = bin().args([cmd, file.to_str().unwrap()]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{cmd}: exit code 2 for invalid files"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("typo.toml:5:"), "{cmd}: file and line: {err}");
        assert!(
            err.contains("spacnig"),
            "{cmd}: names the misspelt key: {err}"
        );
        assert!(
            err.contains("fault = { duplicate"),
            "{cmd}: shows a snippet: {err}"
        );
        assert!(err.contains("nothing was run"), "{err}");
        assert!(
            out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("OK"),
            "nothing ran"
        );
    }
}

fn a_name_used_twice_points_at_the_second_files_name_and_every_bad_file_is_reported() {
    let dir = tmp("dup");
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let body = "description = \"x\"\n[workload]\ntasks = [{ method = \"turnstile\" }]\n";
    std::fs::write(dir.join("a.toml"), format!("name = \"same\"\n{body}")).unwrap();
    std::fs::write(
        dir.join("b/c.toml"),
        format!("# the name below is taken\nname = \"same\"\n{body}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("b/d.toml"),
        format!("name = \"other\"\n{body}[mock]\nunsolvable-rate = 2.0\n"),
    )
    .unwrap();
    let out = bin()
        .args(["check", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("c.toml:2:8: scenario name \"same\" is already used by"),
        "{err}"
    );
    assert!(
        err.contains("d.toml:6:19: mock.unsolvable-rate: must be between 0 and 1"),
        "{err}"
    );
    assert!(err.contains("2 invalid scenario file(s)"), "{err}");
}

fn run_exits_0_when_all_pass_and_writes_json_and_junit() {
    let junit = tmp("report.xml");
    let json = tmp("report.json");
    let out = bin()
        .args([
            "run",
            "scenarios/happy-path",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("happy-path/token-methods") && stdout.contains("exactly-once"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "no colour with NO_COLOR / off a terminal"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"happy-path/token-methods\"")
            && xml.contains("exactly-once"),
        "{xml}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["format_version"], 5);
    assert_eq!(report["totals"]["failed"], 0);
}

fn filter_and_list() {
    let out = bin()
        .args(["list", "--filter", "duplicate"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("pingback/identical-duplicates") && s.contains("pingback/conflicting-duplicate"),
        "{s}"
    );
    assert!(!s.contains("strategies/poll-only"), "{s}");
    let out = bin()
        .args(["run", "--filter", "no-such-scenario"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn the_same_seed_gives_byte_identical_json_reports() {
    let run = || {
        let out = bin()
            .args([
                "run",
                "scenarios/pingback",
                "scenarios/load",
                "--format",
                "json",
                "--redact-timings",
                "--seed",
                "7",
                "-j",
                "2",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.code() == Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        out.stdout
    };
    let a = run();
    let b = run();
    assert!(
        a == b,
        "two runs with seed 7 must give the same report byte for byte"
    );
    let other = bin()
        .args([
            "run",
            "scenarios/pingback/delayed.toml",
            "--format",
            "json",
            "--redact-timings",
            "--seed",
            "8",
        ])
        .output()
        .unwrap();
    assert_ne!(other.stdout, a, "another seed gives another run");
}

fn a_failing_run_exits_1_and_prints_the_replay_command() {
    // A scenario whose expectation the reference subject cannot meet: results
    // by poll only while every pingback arrives well before the fallback delay.
    let file = tmp("impossible.toml");
    std::fs::write(
        &file,
        "name = \"impossible\"\ndescription = \"expects polling where pingbacks win\"\nseed = 3\n\n[mock]\nsolve-time = { fixed = \"5s\" }\n\n[expect]\nvia = \"poll\"\n\n[workload]\ntasks = [{ method = \"turnstile\" }]\n",
    )
    .unwrap();
    let out = bin()
        .args(["run", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("via"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected:") && stdout.contains("actual:") && stdout.contains("evidence:"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "replay: captchaai-conformance run {} --seed 3",
            file.display()
        )),
        "{stdout}"
    );
}

/// `--timeline`: by default the JSON report carries the whole timeline of a scenario that is
/// not OK only, so a large run that passes writes a small report; `all` and `none` as named.
fn the_json_report_carries_timelines_of_scenarios_not_ok_unless_asked() {
    let failing = tmp("timeline-failing.toml");
    std::fs::write(
        &failing,
        "name = \"timeline-failing\"\ndescription = \"expects polling where pingbacks win\"\nseed = 3\n\n[mock]\nsolve-time = { fixed = \"5s\" }\n\n[expect]\nvia = \"poll\"\n\n[workload]\ntasks = [{ method = \"turnstile\" }]\n",
    )
    .unwrap();
    let timelines = |choice: Option<&str>| -> Vec<(String, usize)> {
        let mut args = vec![
            "run",
            "scenarios/happy-path/token-methods.toml",
            failing.to_str().unwrap(),
            "--format",
            "json",
        ];
        if let Some(c) = choice {
            args.extend(["--timeline", c]);
        }
        let out = bin().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["format_version"], 5);
        report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let events = s.get("timeline").map_or(0, |t| t.as_array().unwrap().len());
                (s["verdict"].as_str().unwrap().to_owned(), events)
            })
            .collect()
    };
    let by_default = timelines(None);
    assert_eq!(by_default.len(), 2, "{by_default:?}");
    for (verdict, events) in &by_default {
        match verdict.as_str() {
            "OK" => assert_eq!(*events, 0, "an OK scenario has no timeline: {by_default:?}"),
            _ => assert!(
                *events > 0,
                "a failed scenario keeps its timeline: {by_default:?}"
            ),
        }
    }
    assert!(timelines(Some("all")).iter().all(|(_, n)| *n > 0));
    assert!(timelines(Some("none")).iter().all(|(_, n)| *n == 0));
}
