//! The harness must be able to fail: each deliberately broken subject is run
//! against the scenarios it breaks, and the test asserts exactly which checks
//! fail. The reference subject passes the same scenarios.

mod broken;

use std::{collections::BTreeSet, path::Path, sync::Arc, time::Duration};

use broken::{Broken, Polling, ReceiverFlaws};
use captchaai_client::RetryPolicy;
use captchaai_conformance::{
    checks::{CheckId, Verdict},
    report::ScenarioReport,
    scenario,
    subject::{Subject, reference::Reference},
    suite::{SuiteOptions, run_one},
};

fn run(subject: &dyn Subject, file: &str) -> ScenarioReport {
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

fn failed(r: &ScenarioReport) -> BTreeSet<&'static str> {
    r.checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .map(|c| c.check.as_str())
        .collect()
}

fn assert_caught(subject: Broken, file: &str, expected: &[&str]) {
    let reference = run(&Reference, file);
    assert_eq!(
        reference.verdict,
        Verdict::Ok,
        "the reference subject passes {file}: {:#?}",
        reference.checks
    );
    let r = run(&subject, file);
    assert_eq!(
        r.verdict,
        Verdict::Failed,
        "{} must fail {file}",
        subject.name
    );
    let got = failed(&r);
    let want: BTreeSet<&str> = expected.iter().copied().collect();
    assert_eq!(got, want, "{} on {file}: failed checks", subject.name);
    for c in r.checks.iter().filter(|c| c.verdict == Verdict::Failed) {
        assert!(
            c.expected.is_some() && c.actual.is_some(),
            "{}: a failure says what was expected and what happened",
            c.check
        );
        if c.check != CheckId::NoStateChange {
            assert!(
                !c.evidence.is_empty(),
                "{}: a failure shows its evidence",
                c.check
            );
        }
    }
    assert!(
        r.replay.contains("--seed"),
        "a failure prints its replay command"
    );
}

fn receiver(flaws: ReceiverFlaws, name: &'static str) -> Broken {
    Broken {
        name,
        receiver: flaws,
        polling: Polling::Fallback,
        retry: None,
    }
}

#[test]
fn no_deduplication_is_caught() {
    let s = receiver(
        ReceiverFlaws {
            no_dedup: true,
            ..Default::default()
        },
        "no deduplication",
    );
    assert_caught(
        s.clone(),
        "pingback/identical-duplicates.toml",
        &["exactly-once"],
    );
    assert_caught(
        s,
        "pingback/conflicting-duplicate.toml",
        &["exactly-once", "no-state-change", "first-wins"],
    );
}

#[test]
fn the_tutorials_lost_early_result_is_caught() {
    let s = Broken {
        name: "loses early results",
        receiver: ReceiverFlaws {
            lose_early: true,
            ..Default::default()
        },
        polling: Polling::Never,
        retry: None,
    };
    assert_caught(s, "pingback/early.toml", &["ground-truth", "receiver-kept"]);
}

#[test]
fn answering_500_to_duplicates_is_caught() {
    let s = receiver(
        ReceiverFlaws {
            fail_duplicates: true,
            ..Default::default()
        },
        "500 on duplicates",
    );
    assert_caught(s, "pingback/identical-duplicates.toml", &["ack-valid"]);
}

#[test]
fn answering_duplicates_differently_is_non_strict() {
    let s = receiver(
        ReceiverFlaws {
            duplicates_202: true,
            ..Default::default()
        },
        "202 on duplicates",
    );
    let r = run(&s, "pingback/identical-duplicates.toml");
    assert_eq!(r.verdict, Verdict::NonStrict, "{:#?}", r.checks);
    let ack = r
        .checks
        .iter()
        .find(|c| c.check == CheckId::AckValid)
        .expect("graded");
    assert_eq!(ack.verdict, Verdict::NonStrict);
    assert!(ack.summary.contains("answered 202"), "{}", ack.summary);
    let others: Vec<_> = r
        .checks
        .iter()
        .filter(|c| {
            c.check != CheckId::AckValid
                && c.verdict != Verdict::Ok
                && c.verdict != Verdict::Informational
        })
        .collect();
    assert!(others.is_empty(), "only ack-valid objects: {others:#?}");
}

#[test]
fn retrying_during_a_rate_limit_ban_is_caught() {
    // Retries MAX_USER_TURN every 200 ms, into the ban.
    let hammer = RetryPolicy::default()
        .max_retries(100)
        .backoff(Duration::from_millis(200), 1, Duration::from_millis(200))
        .jitter(Duration::ZERO);
    let s = Broken {
        name: "retries into a rate-limit ban",
        receiver: ReceiverFlaws::default(),
        polling: Polling::Fallback,
        retry: Some(hammer),
    };
    assert_caught(
        s,
        "failures/submit-burst-rate-limited.toml",
        &["rate-limits"],
    );
}

#[test]
fn accepting_unknown_ids_is_caught() {
    let s = receiver(
        ReceiverFlaws {
            accept_unknown: true,
            ..Default::default()
        },
        "accepts unknown ids",
    );
    assert_caught(
        s,
        "receiver/unknown-ids.toml",
        &["reject-invalid", "no-state-change"],
    );
}

#[test]
fn polling_without_waiting_is_caught() {
    let s = Broken {
        name: "polls without waiting",
        receiver: ReceiverFlaws::default(),
        polling: Polling::WithoutWaiting,
        retry: None,
    };
    assert_caught(s, "strategies/poll-only.toml", &["poll-etiquette"]);
}

#[test]
fn never_falling_back_is_caught() {
    let s = Broken {
        name: "never falls back",
        receiver: ReceiverFlaws::default(),
        polling: Polling::Never,
        retry: None,
    };
    assert_caught(
        s,
        "strategies/fallback-after-drop.toml",
        &["ground-truth", "fallback"],
    );
}
