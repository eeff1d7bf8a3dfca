//! External receivers through the binary: the gallery of `examples/receivers/`, each broken
//! endpoint caught by exactly the checks it breaks (nothing left ungraded with every flag),
//! NOT-GRADED (never OK) without the flags, the pre-flight, bad usage, folded skips, and a
//! results URL that fails.
//!
//! Needs `python3`.

use std::collections::{BTreeMap, BTreeSet};

use libtest_mimic::Trial;

use crate::support::{
    harness,
    python::Receiver,
    report::{run_json, set, verdicts},
    root, tmp,
};

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        gallery_correct_receiver_passes_everything,
        gallery_accept_all,
        gallery_last_write_wins,
        gallery_no_secret_check,
        gallery_allow_list_not_enforced,
        gallery_slow_callbacks,
        gallery_crash_on_oversized_code,
        gallery_stores_unknown_ids,
        what_cannot_be_graded_is_not_graded_never_ok,
        untrusted_sources_need_a_second_local_address,
        a_stopped_endpoint_stops_the_run_before_any_scenario,
        skipped_scenarios_fold_into_one_line,
        a_mistyped_receiver_url_or_a_run_that_grades_nothing_is_bad_usage,
        a_results_url_that_cannot_answer_stops_the_run,
        a_results_url_failing_mid_run_is_reported_as_such_not_as_lost_results,
        replicas_given_inconsistently_stop_the_run_and_one_replica_skips_cross_replica,
    ]
}

/// Runs the receiver suite against an endpoint of the gallery (`examples/receivers/`),
/// graded with every flag (secret, results, registration, trusted source) and the default
/// jobs and budget unless `extra` says otherwise, and asserts exactly which checks fail in
/// which scenario, and that nothing is left ungraded.
fn gallery(script: &str, rx_args: &[&str], extra: &[&str], want: &[(&str, &[&str])]) {
    gallery_row_says(script, want);
    let rx = Receiver::start(script, rx_args);
    let mut subject = rx.args(Some("s3cret"));
    subject.extend(["--trusted-source".to_owned(), "127.0.0.1".to_owned()]);
    subject.extend(extra.iter().map(|s| (*s).to_owned()));
    let (code, failed, report) = run_json(&subject, &["scenarios/receiver"]);
    let mut want: BTreeMap<String, BTreeSet<String>> = want
        .iter()
        .map(|(id, checks)| (format!("receiver/{id}"), set(checks)))
        .collect();
    for id in failed.keys() {
        want.entry(id.clone()).or_default();
    }
    assert_eq!(failed, want, "{script}: failed checks by scenario");
    let broken = want.values().any(|f| !f.is_empty());
    assert_eq!(code, Some(if broken { 1 } else { 0 }), "{script}");
    assert!(failed.len() >= 7, "{script}: every receiver scenario ran");
    for (scenario, checks) in verdicts(&report) {
        for (check, verdict) in checks {
            assert_ne!(
                verdict, "NOT-GRADED",
                "{script}: {scenario} {check}: graded with every flag"
            );
        }
    }
}

/// The gallery's README says what each endpoint fails, as the test expects it.
fn gallery_row_says(script: &str, want: &[(&str, &[&str])]) {
    let readme = std::fs::read_to_string(root().join("examples/receivers/README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with(&format!("| [`{script}`]")))
        .unwrap_or_else(|| panic!("examples/receivers/README.md has a row for {script}"));
    let cell = row.trim_end_matches('|').rsplit('|').next().unwrap().trim();
    let every = want.len() == 7 && want.iter().all(|(_, c)| *c == want[0].1);
    let said = if want.is_empty() {
        "nothing".to_owned()
    } else if every {
        format!("every scenario: {}", want[0].1.join(", "))
    } else {
        want.iter()
            .map(|(id, checks)| format!("{id}: {}", checks.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert_eq!(cell, said, "examples/receivers/README.md, {script}");
}

const SECRET_AND_ALLOW: &[&str] = &["--secret", "s3cret", "--allow", "127.0.0.1"];

/// The correct endpoint passes every receiver scenario, and the report says why the others
/// were skipped.
fn gallery_correct_receiver_passes_everything() {
    gallery_row_says("correct_receiver.py", &[]);
    let rx = Receiver::start("correct_receiver.py", SECRET_AND_ALLOW);
    let mut subject = rx.args(Some("s3cret"));
    subject.extend(["--trusted-source".to_owned(), "127.0.0.1".to_owned()]);
    let (code, failed, report) = run_json(&subject, &["scenarios"]);
    assert_eq!(code, Some(0), "the correct receiver passes: {failed:#?}");
    assert!(failed.len() >= 7, "every receiver scenario ran: {failed:?}");
    assert!(failed.values().all(BTreeSet::is_empty), "{failed:#?}");
    for (scenario, checks) in verdicts(&report) {
        for (check, verdict) in checks {
            assert!(
                verdict == "OK" || check == "summary",
                "{scenario} {check}: {verdict}"
            );
        }
    }
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
    // Each receiver report states its budget and how fast the endpoint answered.
    let burst = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "receiver/burst")
        .unwrap();
    let latency = &burst["latency"];
    assert_eq!(latency["budget_ms"], 1000.0);
    assert_eq!(latency["budget_simulated_ms"], 10000.0);
    assert_eq!(latency["sender_timeout_ms"], 1000.0);
    assert!(latency["answered"].as_u64().unwrap() >= 200, "{latency}");
    assert!(latency["p50_ms"].as_f64().unwrap() <= latency["p99_ms"].as_f64().unwrap());
}

/// Answers 200 to anything and keeps the last write (the README's first-wins example).
fn gallery_accept_all() {
    gallery(
        "accept_all.py",
        &[],
        &[],
        &[
            ("duplicates", &["first-wins", "no-state-change"]),
            ("malformed", &["reject-invalid", "no-state-change"]),
            ("spoofed", &["reject-invalid"]),
            ("stale-and-wrong-method", &["no-state-change"]),
            ("unknown-ids", &["reject-invalid", "no-state-change"]),
            ("untrusted-source", &["trusted-source"]),
        ],
    );
}

fn gallery_last_write_wins() {
    gallery(
        "last_write_wins.py",
        SECRET_AND_ALLOW,
        &[],
        &[
            ("duplicates", &["first-wins", "no-state-change"]),
            ("stale-and-wrong-method", &["no-state-change"]),
        ],
    );
}

/// The forgeries arrive before the genuine results: kept first, they stay.
fn gallery_no_secret_check() {
    gallery(
        "no_secret_check.py",
        SECRET_AND_ALLOW,
        &[],
        &[("spoofed", &["reject-invalid", "no-state-change"])],
    );
}

/// The seed tutorial's "secure" endpoint: the allow-list is declared and never checked.
fn gallery_allow_list_not_enforced() {
    gallery(
        "allow_list_not_enforced.py",
        SECRET_AND_ALLOW,
        &[],
        &[("untrusted-source", &["trusted-source", "no-state-change"])],
    );
}

/// Every callback takes 300 ms: over a 250 ms budget everywhere.
fn gallery_slow_callbacks() {
    let every: &[&str] = &["ack-valid"];
    gallery(
        "slow_callbacks.py",
        SECRET_AND_ALLOW,
        &["--latency-budget", "250ms"],
        &[
            ("burst", every),
            ("duplicates", every),
            ("malformed", every),
            ("spoofed", every),
            ("stale-and-wrong-method", every),
            ("unknown-ids", every),
            ("untrusted-source", every),
        ],
    );
}

fn gallery_crash_on_oversized_code() {
    gallery(
        "crash_on_oversized_code.py",
        SECRET_AND_ALLOW,
        &[],
        &[("malformed", &["reject-invalid"])],
    );
}

fn gallery_stores_unknown_ids() {
    gallery(
        "stores_unknown_ids.py",
        SECRET_AND_ALLOW,
        &[],
        &[("unknown-ids", &["reject-invalid", "no-state-change"])],
    );
}

/// Graded without a secret, a way to register ids or a trusted source, an endpoint that
/// accepts everything cannot fail for keeping forged, unknown or untrusted callbacks: each
/// of those checks is NOT-GRADED (never OK), says which flag would grade it, counts in the
/// totals and is a skipped JUnit case. An explicit `--jobs` against one receiver warns.
fn what_cannot_be_graded_is_not_graded_never_ok() {
    let rx = Receiver::start("accept_all.py", &[]);
    let junit = tmp("not-graded.xml");
    let out = harness(&[
        "run",
        "scenarios/receiver/spoofed.toml",
        "scenarios/receiver/unknown-ids.toml",
        "scenarios/receiver/untrusted-source.toml",
        "--format",
        "json",
        "-j",
        "2",
        "--receiver",
        &format!("{}/pingback", rx.base),
        "--results-url",
        &format!("{}/results/{{id}}", rx.base),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: --jobs 2"), "{stderr}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "NOT-GRADED fails nothing: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts = verdicts(&report);
    let summary = |scenario: &str, check: &str| -> String {
        report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == scenario)
            .and_then(|s| {
                s["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["id"] == check)
            })
            .map(|c| c["summary"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{scenario} {check}"))
    };
    for (scenario, check, flag) in [
        ("receiver/spoofed", "reject-invalid", "token=SECRET"),
        ("receiver/unknown-ids", "reject-invalid", "--register-url"),
        ("receiver/unknown-ids", "no-state-change", "--register-url"),
        (
            "receiver/untrusted-source",
            "trusted-source",
            "--trusted-source 127.0.0.1",
        ),
    ] {
        assert_eq!(
            verdicts[scenario][check], "NOT-GRADED",
            "{scenario} {check}"
        );
        let said = summary(scenario, check);
        assert!(
            said.contains(flag),
            "{scenario} {check} names {flag}: {said}"
        );
    }
    for (scenario, checks) in &verdicts {
        for (check, verdict) in checks {
            assert_ne!(verdict, "FAILED", "{scenario} {check}");
        }
        assert_eq!(
            report["scenarios"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == scenario.as_str())
                .unwrap()["verdict"],
            "NOT-GRADED",
            "{scenario}: not OK with a check not graded"
        );
    }
    assert_eq!(report["format_version"], 5);
    assert_eq!(report["totals"]["not_graded"], 3);
    assert_eq!(report["totals"]["not_graded_checks"], 4);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<skipped message=\"NOT-GRADED: ") && xml.contains("--register-url"),
        "{xml}"
    );
}

/// Untrusted-source callbacks leave from --spoof-from: an address that is not this
/// machine's (as 127.0.0.2 is not on macOS) stops a run that asks for the allow-list to be
/// graded, and otherwise leaves the check NOT-GRADED with the reason, never OK.
fn untrusted_sources_need_a_second_local_address() {
    let rx = Receiver::start("correct_receiver.py", SECRET_AND_ALLOW);
    let mut subject = rx.args(Some("s3cret"));
    subject.extend(["--spoof-from".to_owned(), "192.0.2.1".to_owned()]);
    let args = |more: &[&str]| {
        let mut a = vec!["run", "scenarios/receiver/untrusted-source.toml"];
        a.extend(subject.iter().map(String::as_str));
        a.extend(more);
        harness(&a)
    };
    let out = args(&["--trusted-source", "127.0.0.1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pre-flight failed, no scenario was run")
            && stderr.contains("cannot send from 192.0.2.1, not an address of this machine"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("receiver/"));

    let out = args(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("note: untrusted-source callbacks will not be sent"),
        "{stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("trusted-source"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("NOT-GRADED")
            && line.contains("never reached the receiver")
            && line.contains("192.0.2.1"),
        "{line}"
    );

    let out = harness(&[
        "run",
        "scenarios/receiver/untrusted-source.toml",
        "--receiver",
        &format!("{}/pingback", rx.base),
        "--trusted-source",
        "127.0.0.2",
        "--spoof-from",
        "127.0.0.2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("both 127.0.0.2"));
}

/// With the endpoint stopped, the run stops before any scenario (exit 2) and says what it
/// tried.
fn a_stopped_endpoint_stops_the_run_before_any_scenario() {
    let rx = Receiver::start("correct_receiver.py", SECRET_AND_ALLOW);
    let subject = rx.args(Some("s3cret"));
    let base = rx.base.clone();
    drop(rx);
    let mut args = vec!["run", "scenarios/receiver"];
    args.extend(subject.iter().map(String::as_str));
    let out = harness(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(!stdout.contains("receiver/"), "no scenario ran: {stdout}");
    assert!(
        stderr.contains("pre-flight failed, no scenario was run")
            && stderr.contains(&format!(
                "HEAD {base}/pingback?token=s3cret from 127.0.0.1: connection refused"
            )),
        "{stderr}"
    );
}

/// Skipped scenarios are one line unless -v lists them.
fn skipped_scenarios_fold_into_one_line() {
    let rx = Receiver::start("correct_receiver.py", &[]);
    for verbose in [false, true] {
        let mut args = vec![
            "run",
            "scenarios/receiver/duplicates.toml",
            "scenarios/pingback",
        ];
        let subject = rx.args(None);
        args.extend(subject.iter().map(String::as_str));
        if verbose {
            args.push("-v");
        }
        let out = harness(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        let skipped_lines = stdout.lines().filter(|l| l.contains("SKIPPED")).count();
        if verbose {
            assert_eq!(skipped_lines, 7, "{stdout}");
        } else {
            assert_eq!(skipped_lines, 0, "{stdout}");
            assert!(
                stdout.contains(
                    "7 scenario(s) skipped (7 not a receiver scenario: --receiver grades a pingback endpoint only); -v lists them"
                ),
                "{stdout}"
            );
        }
    }
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

/// A results URL nobody answers, or one that claims a result for an id no task has, stops
/// the run before any scenario.
fn a_results_url_that_cannot_answer_stops_the_run() {
    let rx = Receiver::start("correct_receiver.py", &[]);
    for (results, says) in [
        // Nothing listens on the discard port.
        (
            "http://127.0.0.1:9/results/{id}".to_owned(),
            "GET http://127.0.0.1:9/results/1: connection refused".to_owned(),
        ),
        // The receiver's own pingback route answers 400 there, not 404.
        (
            format!("{}/pingback?id={{id}}", rx.base),
            "answered 400, for an id no task has".to_owned(),
        ),
    ] {
        let mut subject = rx.args(None);
        let at = subject.iter().position(|a| a == "--results-url").unwrap() + 1;
        subject[at] = results;
        let mut args = vec!["run", "scenarios/receiver/duplicates.toml"];
        args.extend(subject.iter().map(String::as_str));
        let out = harness(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&says), "{says}: {stderr}");
    }
}

/// A results URL that stops answering during the run fails `results-readable`, not the
/// storage checks: what the receiver stored is unknown, not lost.
fn a_results_url_failing_mid_run_is_reported_as_such_not_as_lost_results() {
    let rx = Receiver::start("correct_receiver.py", &[]);
    // Answers 404 for the pre-flight's id, 503 for every other.
    let results = Receiver::start_program(&[
        "-c",
        "import http.server as h\n\
         class H(h.BaseHTTPRequestHandler):\n\
         \x20   def log_message(self, *a): pass\n\
         \x20   def do_GET(self):\n\
         \x20       self.send_response(404 if self.path.endswith('/1') else 503)\n\
         \x20       self.send_header('Content-Length', '0'); self.end_headers()\n\
         s = h.ThreadingHTTPServer(('127.0.0.1', 0), H)\n\
         print(f'listening on http://127.0.0.1:{s.server_address[1]}', flush=True)\n\
         s.serve_forever()",
    ]);
    let mut subject = rx.args(None);
    let at = subject.iter().position(|a| a == "--results-url").unwrap() + 1;
    subject[at] = format!("{}/results/{{id}}", results.base);
    let (code, failed, _) = run_json(&subject, &["scenarios/receiver/duplicates.toml"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        failed.get("receiver/duplicates"),
        Some(&set(&["results-readable"])),
        "{failed:?}"
    );
}

/// Replicas of one endpoint (`--receiver` repeated): a results or register URL per replica
/// or none, one secret for all, or the pre-flight stops the run (exit 2) and says which; a
/// cross-replica scenario against one receiver is skipped with the reason, never OK. (That
/// three in-memory replicas fail the cross-replica scenarios and three on one Redis pass is
/// `scripts/receiver-replicas.sh`, run by `scripts/test.sh`.)
fn replicas_given_inconsistently_stop_the_run_and_one_replica_skips_cross_replica() {
    let a = Receiver::start("correct_receiver.py", &["--secret", "s3cret"]);
    let b = Receiver::start("correct_receiver.py", &["--secret", "s3cret"]);
    let scenario = "scenarios/receiver/cross-replica-duplicates.toml";
    let pingback = |rx: &Receiver, token: &str| format!("{}/pingback?token={token}", rx.base);
    let results = |rx: &Receiver| format!("{}/results/{{id}}", rx.base);
    let (pa, pb, ra) = (pingback(&a, "s3cret"), pingback(&b, "s3cret"), results(&a));
    let out = harness(&[
        "run",
        scenario,
        "--receiver",
        &pa,
        "--receiver",
        &pb,
        "--results-url",
        &ra,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pre-flight failed, no scenario was run")
            && stderr.contains("--results-url is given 1 time(s) for 2 --receiver replica(s)"),
        "{stderr}"
    );

    let other = pingback(&b, "other");
    let out = harness(&["run", scenario, "--receiver", &pa, "--receiver", &other]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--receiver {other} has another query")),
        "{stderr}"
    );

    let out = harness(&[
        "run",
        scenario,
        "-v",
        "--receiver",
        &pa,
        "--results-url",
        &ra,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("SKIPPED")
            && stdout.contains("needs two or more replicas of one endpoint")
            && stdout.contains("0 OK"),
        "{stdout}"
    );
}
