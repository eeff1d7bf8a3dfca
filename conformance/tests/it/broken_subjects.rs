//! The harness must be able to fail: each deliberately broken subject is run
//! against the scenarios it breaks, and the test asserts exactly which checks
//! fail. The reference subject passes the same scenarios.

use std::{collections::BTreeSet, time::Duration};

use captchaai_client::RetryPolicy;
use captchaai_conformance::{
    checks::{CheckId, Verdict},
    subject::Reference,
};
use libtest_mimic::Trial;

use crate::support::{
    broken::{Broken, Polling, ReceiverFlaws},
    failed, run_scenario as run,
};

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        no_deduplication_is_caught,
        the_tutorials_lost_early_result_is_caught,
        answering_500_to_duplicates_is_caught,
        answering_duplicates_differently_is_non_strict,
        retrying_during_a_rate_limit_ban_is_caught,
        accepting_unknown_ids_is_caught,
        ignoring_the_sender_address_is_caught,
        a_receiver_that_is_down_is_never_ok,
        polling_without_waiting_is_caught,
        never_falling_back_is_caught,
    ]
}

fn assert_caught(subject: Broken, file: &str, expected: &[CheckId]) {
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
    let want: BTreeSet<CheckId> = expected.iter().copied().collect();
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
        &[CheckId::ExactlyOnce],
    );
    assert_caught(
        s,
        "pingback/conflicting-duplicate.toml",
        &[
            CheckId::ExactlyOnce,
            CheckId::NoStateChange,
            CheckId::FirstWins,
        ],
    );
}

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
    assert_caught(
        s,
        "pingback/early.toml",
        &[CheckId::GroundTruth, CheckId::ReceiverKept],
    );
}

fn answering_500_to_duplicates_is_caught() {
    let s = receiver(
        ReceiverFlaws {
            fail_duplicates: true,
            ..Default::default()
        },
        "500 on duplicates",
    );
    assert_caught(
        s,
        "pingback/identical-duplicates.toml",
        &[CheckId::AckValid],
    );
}

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
        &[CheckId::RateLimits],
    );
}

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
        &[CheckId::RejectInvalid, CheckId::NoStateChange],
    );
}

fn polling_without_waiting_is_caught() {
    let s = Broken {
        name: "polls without waiting",
        receiver: ReceiverFlaws::default(),
        polling: Polling::WithoutWaiting,
        retry: None,
    };
    assert_caught(s, "strategies/poll-only.toml", &[CheckId::PollEtiquette]);
}

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
        &[CheckId::GroundTruth, CheckId::Fallback],
    );
}

/// A receiver with no allow-list takes a callback with the right secret from an address
/// genuine pingbacks never come from; arriving first, it is the result the application
/// gets. (The reference receiver allows only the trusted source, 127.0.0.1.)
fn ignoring_the_sender_address_is_caught() {
    let s = Broken {
        name: "no allow-list",
        receiver: ReceiverFlaws::default(),
        polling: Polling::Never,
        retry: None,
    };
    assert_caught(
        s,
        "receiver/untrusted-source.toml",
        &[
            CheckId::GroundTruth,
            CheckId::TrustedSource,
            CheckId::NoStateChange,
        ],
    );
}

/// With every callback refused (the receiver is down), no receiver check is OK: valid
/// callbacks that got no answer fail `ack-valid`, and the checks whose callbacks never reached
/// the receiver are NOT-GRADED.
fn a_receiver_that_is_down_is_never_ok() {
    let s = Broken {
        name: "receiver down",
        receiver: ReceiverFlaws {
            down: true,
            ..Default::default()
        },
        polling: Polling::Fallback,
        retry: None,
    };
    let receiver_side = [
        CheckId::AckValid,
        CheckId::RejectInvalid,
        CheckId::TrustedSource,
        CheckId::NoStateChange,
        CheckId::ReceiverKept,
        CheckId::FirstWins,
    ];
    for file in [
        "receiver/malformed.toml",
        "receiver/duplicates.toml",
        "receiver/unknown-ids.toml",
        "receiver/spoofed.toml",
        "receiver/untrusted-source.toml",
    ] {
        let r = run(&s, file);
        let graded: Vec<_> = r
            .checks
            .iter()
            .filter(|c| receiver_side.contains(&c.check))
            .collect();
        assert!(graded.len() >= 2, "{file}: {:#?}", r.checks);
        for c in graded {
            assert_ne!(c.verdict, Verdict::Ok, "{file}: {} {}", c.check, c.summary);
        }
        let ack = r
            .checks
            .iter()
            .find(|c| c.check == CheckId::AckValid)
            .unwrap();
        assert_eq!(ack.verdict, Verdict::Failed, "{file}");
        assert!(
            ack.summary.contains("no answer (refused)"),
            "{}",
            ack.summary
        );
    }
}
