//! The harness must be able to fail: each deliberately broken subject is run
//! against the scenarios it breaks, and the test asserts exactly which checks
//! fail. The reference subject passes the same scenarios.

mod broken;

use std::{collections::BTreeSet, path::Path, sync::Arc};

use broken::{Broken, Polling, ReceiverFlaws};
use captchaai_conformance::{
    checks::Verdict,
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
        .map(|c| c.id)
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
            c.id
        );
        if c.id != "no-state-change" {
            assert!(
                !c.evidence.is_empty(),
                "{}: a failure shows its evidence",
                c.id
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
    };
    assert_caught(s, "strategies/poll-only.toml", &["poll-etiquette"]);
}

#[test]
fn never_falling_back_is_caught() {
    let s = Broken {
        name: "never falls back",
        receiver: ReceiverFlaws::default(),
        polling: Polling::Never,
    };
    assert_caught(
        s,
        "strategies/fallback-after-drop.toml",
        &["ground-truth", "fallback"],
    );
}
