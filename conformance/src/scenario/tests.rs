//! Parsing and validation (a good file, and each kind of bad one pointed at its place), and
//! the committed JSON schema.

use super::*;

const GOOD: &str = r#"
name = "dup"
description = "d"
seed = 7
[[faults]]
fault = { duplicate = { copies = 2 } }
[workload]
tasks = [{ method = "turnstile", count = 3 }]
"#;

#[test]
fn a_good_file_validates() {
    let s = parse(GOOD, Path::new("scenarios/pingback/dup.toml")).unwrap();
    assert_eq!(s.id, "pingback/dup");
    assert_eq!(s.tasks.len(), 3);
    assert_eq!(s.tasks[2].ordinal, 3);
    assert_eq!(s.mock.pingback.rules.len(), 1);
    assert_eq!(s.subject.strategy, StrategyName::PingbackWithFallback);
}

#[test]
fn errors_name_file_line_and_column() {
    let bad = GOOD.replace("seed = 7", "seed = 7\nsede = 8");
    let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
    assert!(e.location.starts_with("x/y.toml:5:1"), "{}", e.location);
    assert!(e.message.contains("sede"), "{}", e.message);

    let bad = GOOD.replace(
        "fault = { duplicate = { copies = 2 } }",
        "fault = { duplicate = { copies = 0 } }",
    );
    let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
    assert!(
        e.message
            .contains("faults[0]: duplicate.copies must be between 1 and 100"),
        "{}",
        e.message
    );
    assert!(e.location.starts_with("x/y.toml:6:34"), "{}", e.location);

    // The second of two rules is found in its own table, not at the first.
    let bad = GOOD.replace(
        "[workload]",
        "[[faults]]\nprobability = 0.5\nfault = { duplicate = { copies = 500 } }\n[workload]",
    );
    let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
    assert!(
        e.message.contains("faults[1]: duplicate.copies"),
        "{}",
        e.message
    );
    assert!(e.location.ends_with(":9:34"), "{}", e.location);

    let bad = format!("{GOOD}[subject]\ndeadline = \"10s\"\nfallback-after = \"20s\"\n");
    let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
    assert!(
        e.message.contains("must be shorter than subject.deadline"),
        "{}",
        e.message
    );
    assert!(e.location.ends_with(":11:18"), "{}", e.location);
}

/// `[[api-faults]]` rules are the mock's `[[api.rules]]`: checked as they parse, each error
/// pointed at its own rule; and a client scenario takes polling or pingback-with-fallback.
#[test]
fn api_fault_rules_and_client_strategies() {
    let good = GOOD.replace(
        "[workload]",
        "[[api-faults]]
match = { endpoints = [\"res.php\"] }
fault = { status = 502, body = \"html\" }
[workload]",
    );
    let s = parse(&good, Path::new("x/y.toml")).unwrap();
    assert_eq!(s.mock.api.rules.len(), 1);

    let bad = good.replace(
        "[workload]",
        "[[api-faults]]
fault = { status = 502, stall = \"1s\" }
[workload]",
    );
    let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
    assert!(e.message.contains("exactly one of"), "{}", e.message);
    assert!(
        e.location.ends_with(":11:9"),
        "the second rule's fault: {}",
        e.location
    );

    let client = |strategy: &str| {
        parse(
            &format!("{GOOD}kind = \"client\"\n[subject]\nstrategy = \"{strategy}\"\n")
                .replacen("kind = \"client\"\n", "", 1)
                .replacen("seed = 7", "seed = 7\nkind = \"client\"", 1),
            Path::new("x/y.toml"),
        )
    };
    assert!(client("poll-only").is_ok());
    assert!(client("pingback-with-fallback").is_ok());
    let e = client("pingback-only").unwrap_err();
    assert!(
        e.message.contains("pingback-with-fallback"),
        "{}",
        e.message
    );
}

/// `wait` is about replicas: a scenario that asks for it without `cross-replica` is refused
/// at the key.
#[test]
fn a_long_poll_needs_replicas() {
    let receiver = |subject: &str| {
        let text = GOOD.replacen("seed = 7", "seed = 7\nkind = \"receiver\"", 1)
            + "[subject]\nstrategy = \"pingback-only\"\n"
            + subject;
        parse(&text, Path::new("x/y.toml"))
    };
    let s = receiver("cross-replica = true\nwait = true\n").unwrap();
    assert!(s.subject.wait && s.subject.cross_replica);
    let e = receiver("wait = true\n").unwrap_err();
    assert!(e.message.contains("cross-replica = true"), "{}", e.message);
    assert!(
        e.location.ends_with(":12:8"),
        "at the key's value: {}",
        e.location
    );
}

/// Values that parse but are out of range point at themselves, under the
/// scenario's own key, not at the top of the file.
#[test]
fn range_errors_point_at_the_value() {
    let cases = [
        (
            format!("{GOOD}[mock]\nthreads = 2\nunsolvable-rate = 1.5\n"),
            "mock.unsolvable-rate: must be between 0 and 1",
            ":11:19",
        ),
        (
            format!("{GOOD}[mock.unsolvable]\ngeetest = -1.0\n"),
            "mock.unsolvable.geetest: must be between 0 and 1",
            ":10:11",
        ),
        (
            format!("{GOOD}[mock]\ntime-scale = 0.0\n"),
            "mock.time-scale must be at least 1",
            ":10:14",
        ),
        (
            format!("{GOOD}[pingback]\nattempt-timeout = \"0s\"\n"),
            "pingback.attempt-timeout: must be above zero",
            ":10:19",
        ),
        (
            format!(
                "{GOOD}[[inject]]\nat = \"1s\"\ntask = 1\ncallback = \"spoofed\"\n\
                 [[inject]]\nat = \"1s\"\ntask = 4\ncallback = \"spoofed\"\n"
            ),
            "inject.task 4 is not a task ordinal (1..=3)",
            ":15:8",
        ),
        (
            GOOD.replace("method = \"turnstile\"", "method = \"hcaptcha\""),
            "hcaptcha exists only in the 2captcha dialect",
            ":8:21",
        ),
        (
            GOOD.replace("method = \"turnstile\"", "method = \"geetest-v4\""),
            "geetest-v4 exists only in the 2captcha dialect",
            ":8:21",
        ),
        (
            GOOD.replace("method = \"turnstile\"", "method = \"coordinates\""),
            "coordinates exists only in the 2captcha dialect",
            ":8:21",
        ),
        (
            format!("{GOOD}[mock]\nthreads = 0\n"),
            "mock.threads must be at least 1",
            ":10:11",
        ),
        (
            format!("{GOOD}[receiver]\nfail-first = 1\nfail-status = 200\n"),
            "receiver.fail-status must be an HTTP error status",
            ":11:15",
        ),
        (
            format!(
                "{GOOD}[pingback]\nretry = {{ fixed = {{ interval = \"1s\", attempts = 0 }} }}\n"
            ),
            "pingback.retry: retry attempts must be between 1 and 100",
            ":10:9",
        ),
        (
            format!("{GOOD}[mock.rate-limits]\nmax-user-turn = {{ submits = 0 }}\n"),
            "mock.rate-limits.max-user-turn: submits must be at least 1",
            ":10:17",
        ),
        (
            GOOD.replace(
                "[workload]",
                "[subject]\ndeadline = \"500000000000years\"\n[workload]",
            ),
            "subject.deadline must be above zero and at most 7days",
            ":8:12",
        ),
        (
            GOOD.replace("[workload]", "[workload]\nsubmit = { per-second = 0 }"),
            "per-second must be at least 1",
            ":8:10",
        ),
        (
            GOOD.replace(
                "[workload]",
                "[workload]\nsubmit = { every = \"1000years\" }",
            ),
            "takes longer than 30days",
            ":8:10",
        ),
    ];
    for (text, message, location) in cases {
        let e = parse(&text, Path::new("x/y.toml")).unwrap_err();
        assert!(e.message.contains(message), "{}\n{text}", e.message);
        assert!(e.location.ends_with(location), "{} {text}", e.location);
    }
    let ok = GOOD.replace("method = \"turnstile\"", "method = \"hcaptcha\"")
        + "[mock]\ndialect = \"2captcha\"\n";
    parse(&ok, Path::new("x/y.toml")).unwrap();
}

/// The JSON schema of scenario files is generated from the raw types and committed as
/// `scenarios/schema.json`; this fails when they drift.
#[test]
fn committed_schema_matches_the_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/schema.json");
    let committed = std::fs::read_to_string(path).expect("scenarios/schema.json is committed");
    let generated = serde_json::to_string_pretty(&schema()).unwrap();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "scenarios/schema.json is out of date; regenerate it with\n  cargo run -p captchaai-conformance -- schema > scenarios/schema.json"
    );
}

#[test]
fn the_schema_describes_the_fault_rules_and_durations() {
    let schema = schema().to_string();
    for needle in [
        "faults",
        "duplicate",
        "reorder",
        "malformed",
        "log-normal",
        "fallback-after",
        "svix",
        "workload",
    ] {
        assert!(schema.contains(needle), "schema mentions {needle}");
    }
    // deny_unknown_fields becomes additionalProperties: false.
    assert!(schema.contains("\"additionalProperties\":false"));
}

/// The pingback journal holds every attempt the rules allow (200 tasks x 61 callbacks, more
/// than the old fixed 10,000): a run never grades a journal that lost its first entries.
#[test]
fn the_pingback_journal_holds_the_worst_case() {
    let text = GOOD
        .replace("copies = 2 }", "copies = 60, conflicting = true }")
        .replace("count = 3", "count = 200");
    let s = parse(&text, Path::new("x/y.toml")).unwrap();
    assert!(s.mock.pingback.journal_capacity >= 200 * 61);
    assert!(s.mock.pingback.queue_capacity >= 200 * 61);
}

/// A workload whose worst case no run can hold is refused at the rule that makes it so.
#[test]
fn check_refuses_more_attempts_than_a_run_can_hold() {
    let text = GOOD
        .replace("copies = 2 }", "copies = 100 }")
        .replace("count = 3", "count = 1000000");
    let e = parse(&text, Path::new("x/y.toml")).unwrap_err();
    assert!(
        e.message
            .contains("faults[0] allows up to 101,000,000 (1000000 task(s) x 101 callback(s) x 1 attempt(s) each)"),
        "{}",
        e.message
    );
    assert!(e.location.ends_with(":6:9"), "{}", e.location);
    assert_eq!(e.label, "too many pingback attempts for one run");

    // Retries multiply: 40,000 tasks x 1 callback x 101 attempts.
    let text = format!(
        "{}[pingback]\nretry = {{ fixed = {{ interval = \"1s\", attempts = 100 }} }}\n",
        GOOD.replace("copies = 2 }", "copies = 1 }")
            .replace("count = 3", "count = 40000")
    );
    let e = parse(&text, Path::new("x/y.toml")).unwrap_err();
    assert!(
        e.message
            .contains("8,000,000 (40000 task(s) x 2 callback(s) x 100 attempt(s) each)"),
        "{}",
        e.message
    );
}
