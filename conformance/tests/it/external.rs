//! External subjects, end to end through the binary: the example receivers in
//! `examples/receivers/` graded with `--receiver`, the official CaptchaAI
//! Python SDK and a naive client graded with `--client-cmd` (plain and TLS),
//! and chaos mode finding and shrinking the naive receiver's bug.
//!
//! Needs `python3` and, for the SDK, the virtualenv `scripts/setup-python-peer.sh` creates.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
};

use libtest_mimic::Trial;

use crate::support::{
    harness,
    python::{Receiver, venv_python},
    root,
};

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        the_correct_receiver_passes_and_the_naive_one_fails_the_expected_checks,
        the_official_sdk_passes_every_client_scenario_it_supports,
        the_readmes_polite_client_passes_every_client_scenario,
        the_naive_client_is_caught,
        a_client_that_dies_fails_run_completed_with_its_stderr,
        what_cannot_be_graded_is_informational_not_ok,
        a_mistyped_receiver_url_or_a_run_that_grades_nothing_is_bad_usage,
        tls_points_the_childs_ca_variables_at_the_mocks_ca,
        chaos_finds_the_naive_receivers_bug_and_shrinks_it,
        a_client_must_exit_cleanly_once_everything_is_reported,
        a_client_flooding_its_output_is_bounded,
        an_unreadable_results_url_is_reported_as_such_not_as_lost_results,
    ]
}

/// Failed checks per scenario that ran, from a JSON report.
fn failed_checks(stdout: &[u8]) -> BTreeMap<String, BTreeSet<String>> {
    let report: serde_json::Value =
        serde_json::from_slice(stdout).unwrap_or_else(|e| panic!("a JSON report: {e}"));
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("skipped").is_none())
        .map(|s| {
            let failed = s["checks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["verdict"] == "FAILED")
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect();
            (s["id"].as_str().unwrap().to_owned(), failed)
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn run_json(
    subject: &[String],
    paths: &[&str],
) -> (
    Option<i32>,
    BTreeMap<String, BTreeSet<String>>,
    serde_json::Value,
) {
    let mut args = vec!["run", "--format", "json", "-j", "2"];
    args.extend(paths);
    let subject: Vec<&str> = subject.iter().map(String::as_str).collect();
    args.extend(subject);
    let out = harness(&args);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code(), failed_checks(&out.stdout), report)
}

fn the_correct_receiver_passes_and_the_naive_one_fails_the_expected_checks() {
    let correct = Receiver::start("correct_receiver.py", &["--secret", "s3cret"]);
    let (code, failed, report) = run_json(&correct.args(Some("s3cret")), &["scenarios"]);
    assert_eq!(code, Some(0), "the correct receiver passes: {failed:#?}");
    assert!(failed.len() >= 6, "every receiver scenario ran: {failed:?}");
    assert!(failed.values().all(BTreeSet::is_empty), "{failed:#?}");
    let skipped: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["skipped"].as_str())
        .collect();
    assert!(
        skipped
            .iter()
            .any(|w| w.contains("not a receiver scenario")),
        "client-side scenarios are skipped, and the report says so"
    );

    let naive = Receiver::start("naive_receiver.py", &[]);
    let (code, failed, _) = run_json(&naive.args(Some("s3cret")), &["scenarios/receiver"]);
    assert_eq!(code, Some(1));
    let want: BTreeMap<String, BTreeSet<String>> = [
        ("receiver/burst", set(&[])),
        (
            "receiver/duplicates",
            set(&["first-wins", "no-state-change"]),
        ),
        (
            "receiver/malformed",
            set(&["reject-invalid", "no-state-change"]),
        ),
        ("receiver/spoofed", set(&["reject-invalid"])),
        ("receiver/stale-and-wrong-method", set(&["no-state-change"])),
        (
            "receiver/unknown-ids",
            set(&["reject-invalid", "no-state-change"]),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(failed, want);
}

fn the_official_sdk_passes_every_client_scenario_it_supports() {
    let py = venv_python();
    let cmd = format!("{} adapters/captchaai_sdk_adapter.py", py.display());
    let (code, failed, _) = run_json(&["--client-cmd".into(), cmd], &["scenarios"]);
    // captchaai 1.0.1 has no handling for ERROR_NO_SLOT_AVAILABLE nor for MAX_USER_TURN
    // ("Unexpected submit error"): the two client scenarios it does not support.
    let unsupported = set(&["ground-truth"]);
    assert!(failed.len() >= 13, "the client scenarios ran: {failed:?}");
    for (id, f) in &failed {
        if id == "failures/busy-no-slot" || id == "failures/submit-burst-rate-limited" {
            assert_eq!(f, &unsupported, "{id}");
        } else {
            assert!(f.is_empty(), "the SDK fails {id}: {f:?}");
        }
    }
    assert_eq!(code, Some(1));
}

fn the_readmes_polite_client_passes_every_client_scenario() {
    let (code, failed, _) = run_json(
        &[
            "--client-cmd".into(),
            "python3 adapters/polite_client.py".into(),
        ],
        &["scenarios"],
    );
    assert!(failed.len() >= 13, "the client scenarios ran: {failed:?}");
    assert!(failed.values().all(BTreeSet::is_empty), "{failed:#?}");
    assert_eq!(code, Some(0));
    // The README shows the file whole: the example is the tested program.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let file = std::fs::read_to_string(root().join("adapters/polite_client.py")).unwrap();
    assert!(
        readme.contains(&format!("```python\n{file}```")),
        "README.md shows adapters/polite_client.py as it is"
    );
}

fn the_naive_client_is_caught() {
    let (code, failed, _) = run_json(
        &[
            "--client-cmd".into(),
            "python3 adapters/naive_client.py".into(),
        ],
        &["scenarios"],
    );
    assert_eq!(code, Some(1));
    assert!(
        failed["strategies/poll-only"].contains("poll-etiquette"),
        "polls without waiting: {failed:#?}"
    );
    assert!(
        failed["failures/never-finishes-poll-only"]
            .is_superset(&set(&["nothing-lost", "expected-outcome"])),
        "never times out: {failed:#?}"
    );
    assert!(
        failed["failures/transient-server-errors"].contains("ground-truth"),
        "no retry on a transient error: {failed:#?}"
    );
}

/// A client program that dies is a failed run, with its exit status and
/// stderr as the evidence, not a list of lost tasks with nothing to show.
fn a_client_that_dies_fails_run_completed_with_its_stderr() {
    for cmd in [
        "echo 'Traceback: ModuleNotFoundError: no module named captchaai' >&2; exit 3",
        "no-such-client-program-xyz",
    ] {
        let out = harness(&[
            "run",
            "scenarios/strategies/poll-only.toml",
            "--client-cmd",
            cmd,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        let failed = stdout
            .lines()
            .find(|l| l.contains("run-completed"))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(failed.contains("FAILED"), "{stdout}");
        assert!(stdout.contains("the client program exited"), "{stdout}");
        let (status, stderr) = if cmd.starts_with("echo") {
            ("exit status: 3", "ModuleNotFoundError")
        } else {
            ("exit status: 127", "not found")
        };
        assert!(stdout.contains(status), "{stdout}");
        assert!(
            stdout.contains(stderr),
            "the evidence shows its stderr: {stdout}"
        );
    }
}

/// Grading an external receiver without a way to register ids or a secret
/// cannot fail it for keeping unknown or forged callbacks, and says so.
fn what_cannot_be_graded_is_informational_not_ok() {
    let naive = Receiver::start("naive_receiver.py", &[]);
    let out = harness(&[
        "run",
        "scenarios/receiver/unknown-ids.toml",
        "--receiver",
        &format!("{}/pingback", naive.base),
        "--results-url",
        &format!("{}/results/{{id}}", naive.base),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for check in ["reject-invalid", "no-state-change"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(check))
            .unwrap_or_else(|| panic!("{check}: {stdout}"));
        assert!(line.contains("INFORMATIONAL"), "{line}");
        assert!(line.contains("not graded"), "{line}");
    }
    assert!(
        stdout.contains("--register-url"),
        "says what would grade it: {stdout}"
    );
}

fn a_mistyped_receiver_url_or_a_run_that_grades_nothing_is_bad_usage() {
    for url in [
        "127.0.0.1:18601/pingback",
        "htp:/127.0.0.1/pingback",
        "not a url",
    ] {
        let out = harness(&["run", "scenarios/receiver", "--receiver", url]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--receiver"), "{err}");
    }
    let out = harness(&[
        "run",
        "scenarios/receiver",
        "--receiver",
        "http://127.0.0.1:9/pingback",
        "--results-url",
        "http://127.0.0.1:9/results",
    ]);
    assert_eq!(out.status.code(), Some(2), "a results URL without {{id}}");

    // Only end-to-end scenarios, graded against a receiver: all skipped.
    let out = harness(&[
        "run",
        "scenarios/pingback",
        "--receiver",
        "http://127.0.0.1:9/pingback",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was graded"), "{err}");
}

fn tls_points_the_childs_ca_variables_at_the_mocks_ca() {
    let py = venv_python();
    let env_file = std::env::temp_dir().join(format!("conformance-tls-env-{}", std::process::id()));
    let cmd = format!(
        "env > {}; {} adapters/captchaai_sdk_adapter.py",
        env_file.display(),
        py.display()
    );
    let out = harness(&[
        "run",
        "scenarios/strategies/poll-only.toml",
        "--client-cmd",
        &cmd,
        "--tls",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        env.contains("CAPTCHAAI_BASE_URL=https://127.0.0.1:"),
        "{env}"
    );
    for var in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] {
        let line = env
            .lines()
            .find(|l| l.starts_with(&format!("{var}=")))
            .unwrap_or_else(|| panic!("{var} set"));
        assert!(line.ends_with("captchaai-mock-ca.pem"), "{line}");
    }
}

fn chaos_finds_the_naive_receivers_bug_and_shrinks_it() {
    let naive = Receiver::start("naive_receiver.py", &[]);
    let out_dir = std::env::temp_dir().join(format!("conformance-chaos-{}", std::process::id()));
    let mut args: Vec<String> = vec![
        "chaos".into(),
        "--runs".into(),
        "40".into(),
        "--seed".into(),
        "3".into(),
    ];
    args.extend(naive.args(None));
    args.extend(["--out".into(), out_dir.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = harness(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let callbacks: usize = stdout
        .split(" callback(s)")
        .next()
        .and_then(|s| s.rsplit(", ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("a shrink summary: {stdout}"));
    assert!(
        callbacks <= 3,
        "shrunk to at most 3 deliveries, got {callbacks}: {stdout}"
    );
    let file = stdout
        .lines()
        .find_map(|l| l.strip_prefix("scenario file: "))
        .expect("a scenario file");
    assert!(Path::new(file).exists());
    let check = harness(&["check", file]);
    assert!(check.status.success(), "the written scenario is valid");
    assert!(
        stdout.contains("replay: captchaai-conformance run"),
        "{stdout}"
    );
    for line in stdout.lines().filter(|l| l.contains("replay:")) {
        assert!(
            line.contains("--receiver"),
            "every replay line grades the same receiver: {line}"
        );
    }

    // A second finding in the same folder is kept beside the first, and both
    // load together as one suite.
    let again = harness(&args);
    let again = String::from_utf8_lossy(&again.stdout);
    let second = again
        .lines()
        .find_map(|l| l.strip_prefix("scenario file: "))
        .expect("a scenario file");
    assert_ne!(file, second, "{again}");
    let check = harness(&["check", out_dir.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("2 scenario file(s) valid"));
}

/// Answers every task (as an API error) from stdin, then runs `then` in the same shell.
fn answers_everything_then(then: &str) -> String {
    format!(
        "python3 -c 'import sys, json; \
         [print(json.dumps({{\"ref\": json.loads(l)[\"ref\"], \"outcome\": \"error\", \"error\": \"api\"}}), flush=True) for l in sys.stdin]'; {then}"
    )
}

fn a_client_must_exit_cleanly_once_everything_is_reported() {
    let marker = format!("sleep {}", 9000 + std::process::id() % 900);
    for (then, says) in [
        (
            "exit 1",
            "exited (exit status: 1) having reported 8 of 8".to_owned(),
        ),
        (marker.as_str(), "had not exited 5s later".to_owned()),
    ] {
        let cmd = answers_everything_then(then);
        let out = harness(&[
            "run",
            "scenarios/strategies/poll-only.toml",
            "--client-cmd",
            &cmd,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        let line = stdout
            .lines()
            .find(|l| l.contains("run-completed"))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains("FAILED") && line.contains(&says), "{line}");
    }
    // What the program left running went with its process group.
    let left = Command::new("pgrep")
        .args(["-f", &marker])
        .output()
        .expect("pgrep runs");
    assert!(
        left.stdout.is_empty(),
        "left behind: {:?}",
        String::from_utf8_lossy(&left.stdout)
    );
}

fn a_client_flooding_its_output_is_bounded() {
    let out = harness(&[
        "run",
        "scenarios/strategies/poll-only.toml",
        "--client-cmd",
        "yes",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.len() < 200_000, "{} bytes of report", stdout.len());
    assert!(stdout.contains("FAILED        nothing-lost"), "{stdout}");
}

fn an_unreadable_results_url_is_reported_as_such_not_as_lost_results() {
    let rx = Receiver::start("correct_receiver.py", &[]);
    let mut subject = rx.args(None);
    let at = subject.iter().position(|a| a == "--results-url").unwrap() + 1;
    // Nothing listens on the discard port.
    subject[at] = "http://127.0.0.1:9/results/{id}".to_owned();
    let (code, failed, _) = run_json(&subject, &["scenarios/receiver/duplicates.toml"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        failed.get("receiver/duplicates"),
        Some(&set(&["results-readable"])),
        "{failed:?}"
    );
}
