//! Property test: for arbitrary fault rules (every kind, random parameters and
//! probabilities) and workloads (task count, kinds, URLs, submit times,
//! dialect, default retry policy, a receiver that sometimes answers 500), the
//! outbound journal and
//! the receiver agree:
//!
//! - what the journal says reached the receiver did, and nothing else did
//!   (same `id`, `code` and method, the same number of times);
//! - nothing a task's schedule dropped was sent;
//! - a stale id is that of a task whose result was delivered before;
//! - every task is accounted for: a `dropped` record, or a first attempt of
//!   every planned callback (for `early` tasks, made before the submit
//!   answer);
//! - attempts are numbered 1, 2, ... without gaps, never beyond the retry
//!   policy, the last one flagged, each sent when it was due.
//!
//! Each case runs in its own runtime with the paused clock.

use std::{collections::HashMap, time::Duration};

use crate::support::pingback::*;
use captchaai_mock::{
    AttemptOutcome, DeliveryKind, Dialect, Distribution, DuplicateFault, Fault, FaultRule,
    MalformedKind, OrdinalRange, PingbackAttempt, ReorderFault, RetryPolicy, RetryPreset,
    RuleMatch, TaskKind,
};
use proptest::prelude::*;

fn ms(range: std::ops::Range<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_millis)
}

fn distribution() -> impl Strategy<Value = Distribution> {
    prop_oneof![
        ms(0..5000).prop_map(Distribution::Fixed),
        (ms(0..3000), ms(0..3000)).prop_map(|(min, extra)| Distribution::Uniform {
            min,
            max: min + extra
        }),
        (ms(0..5000), ms(0..2000))
            .prop_map(|(mean, std_dev)| Distribution::Normal { mean, std_dev }),
        (ms(1..5000), 0.0f64..1.5)
            .prop_map(|(median, sigma)| Distribution::LogNormal { median, sigma }),
    ]
}

fn retry_policy() -> impl Strategy<Value = RetryPolicy> {
    prop_oneof![
        Just(RetryPolicy::None),
        (ms(0..3000), 1u32..5)
            .prop_map(|(interval, attempts)| RetryPolicy::Fixed { interval, attempts }),
        (ms(100..2000), 1.0f64..3.0, ms(0..5000), 1u32..6).prop_map(
            |(initial, factor, extra, attempts)| RetryPolicy::Exponential {
                initial,
                factor,
                max: initial + extra,
                attempts
            }
        ),
        Just(RetryPolicy::Preset(RetryPreset::Svix)),
    ]
}

const MALFORMED: [MalformedKind; 7] = [
    MalformedKind::MissingId,
    MalformedKind::MissingCode,
    MalformedKind::NonNumericId,
    MalformedKind::UnknownId,
    MalformedKind::StaleId,
    MalformedKind::OversizedCode,
    MalformedKind::WrongMethod,
];

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::None),
        distribution().prop_map(Fault::Delay),
        (1u32..4, ms(1..2000), any::<bool>()).prop_map(|(copies, spacing, conflicting)| {
            Fault::Duplicate(DuplicateFault {
                copies,
                spacing,
                conflicting,
            })
        }),
        Just(Fault::Drop),
        (2u32..6, ms(1..10_000))
            .prop_map(|(window, max_hold)| Fault::Reorder(ReorderFault { window, max_hold })),
        Just(Fault::Early),
        prop::sample::select(MALFORMED.to_vec()).prop_map(Fault::Malformed),
        retry_policy().prop_map(Fault::Retry),
    ]
}

const KINDS: [TaskKind; 3] = [
    TaskKind::Turnstile,
    TaskKind::RecaptchaV2,
    TaskKind::Geetest,
];
const PATHS: [&str; 2] = ["/a", "/b?x=1"];

fn rule() -> impl Strategy<Value = FaultRule> {
    let matches = (
        prop::sample::subsequence(KINDS.to_vec(), 0..=2),
        prop::option::of((1u64..8, 0u64..5)),
        prop::option::of(prop::sample::select(vec!["/a", "/b"])),
    )
        .prop_map(|(methods, tasks, url)| RuleMatch {
            methods,
            tasks: tasks.map(|(from, len)| OrdinalRange {
                from,
                to: from + len,
            }),
            url: url.map(str::to_owned),
        });
    let probability = prop_oneof![Just(1.0), 0.0f64..=1.0];
    (fault(), probability, matches)
        .prop_map(|(fault, p, m)| FaultRule::always(fault).with_probability(p).matching(m))
}

#[derive(Clone, Debug)]
struct Submit {
    kind: usize,
    path: usize,
    /// Wait before submitting, ms.
    gap: u64,
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    two_captcha: bool,
    rules: Vec<FaultRule>,
    /// The config's retry policy (for tasks no retry rule picked).
    default_retry: RetryPolicy,
    submits: Vec<Submit>,
    /// The receiver answers 500 to every n-th request.
    fail_every: Option<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let submit = (0..KINDS.len(), 0..PATHS.len(), 0u64..2000)
        .prop_map(|(kind, path, gap)| Submit { kind, path, gap });
    (
        any::<u64>(),
        any::<bool>(),
        prop::collection::vec(rule(), 0..5),
        retry_policy(),
        prop::collection::vec(submit, 1..12),
        prop_oneof![1 => Just(None), 3 => (2usize..5).prop_map(Some)],
    )
        .prop_map(
            |(seed, two_captcha, rules, default_retry, submits, fail_every)| Case {
                seed,
                two_captcha,
                rules,
                default_retry,
                submits,
                fail_every,
            },
        )
}

/// What identifies a request at the receiver and in the journal alike.
type Key = (Option<String>, Option<String>, usize, &'static str);

fn short(code: &str) -> String {
    if code.len() <= 120 {
        return code.to_owned();
    }
    let mut end = 120;
    while !code.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &code[..end])
}

fn hit_key(h: &Callback) -> Key {
    let code = h.param("code");
    (
        h.param("id").map(str::to_owned),
        code.map(short),
        code.map_or(0, str::len),
        if h.method == "GET" { "GET" } else { "POST" },
    )
}

fn record_key(r: &PingbackAttempt) -> Key {
    (r.id.clone(), r.code.clone(), r.code_len, r.method.as_str())
}

fn count<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> HashMap<K, usize> {
    let mut m = HashMap::new();
    for k in keys {
        *m.entry(k).or_default() += 1;
    }
    m
}

// Long on purpose: the oracle of one generated run, every property checked against the
// same journal, receiver log and schedules (indexed once, at the top); each block below is
// one property.
async fn check(case: Case) {
    let fail_every = case.fail_every;
    let rx = recorder_with(move |h| match fail_every {
        Some(n) if h.seq % n == n - 1 => Reply::status(500),
        _ => Reply::OK,
    })
    .await;
    let dialect = if case.two_captcha {
        Dialect::TwoCaptcha
    } else {
        Dialect::Captchaai
    };
    let mut cfg = config(case.seed, dialect, case.rules.clone());
    cfg.solving.times.clear();
    cfg.solving.default_time = Some(Distribution::Uniform {
        min: Duration::from_secs(1),
        max: Duration::from_secs(6),
    });
    cfg.solving.unsolvable_rate = 0.2;
    cfg.pingback.retry = case.default_retry.clone();
    let mock = Mock::start(cfg).await;
    let urls: Vec<String> = PATHS.iter().map(|p| rx.url(p)).collect();
    if dialect == Dialect::TwoCaptcha {
        mock.register(&urls[0]).await;
    }

    let mut answered_ms = HashMap::new();
    for s in &case.submits {
        tokio::time::sleep(Duration::from_millis(s.gap)).await;
        let id = mock.submit_kind(KINDS[s.kind], &urls[s.path]).await;
        answered_ms.insert(id, mock.now_ms());
    }
    // Svix spreads its attempts over 27 hours: wait three days.
    until_ms(&mock, mock.now_ms() + 3 * 86_400_000).await;

    let journal = mock.journal_all();
    let hits = rx.callbacks();
    assert_eq!(mock.server.pingback_stats().pending, 0, "all done");
    assert!(
        journal.iter().all(|r| r.outcome != AttemptOutcome::Shed),
        "nothing shed at this load"
    );

    // The journal and the receiver agree on what arrived.
    let reached = count(
        journal
            .iter()
            .filter(|r| r.outcome.reached_receiver())
            .map(record_key),
    );
    let arrived = count(hits.iter().map(hit_key));
    assert_eq!(reached, arrived, "journal vs receiver");
    // This receiver answers at once: every attempt that was sent reached it.
    assert!(
        journal
            .iter()
            .all(|r| r.attempt == 0 || r.outcome.reached_receiver()),
        "{journal:#?}"
    );

    // A stale id is a task whose genuine callback was delivered before, or
    // the never-issued id below the first: never a task still waiting.
    for (i, r) in journal.iter().enumerate() {
        if r.kind != DeliveryKind::Malformed(MalformedKind::StaleId) {
            continue;
        }
        let stale: u64 = r.id.as_deref().unwrap().parse().unwrap();
        if stale == captchaai_mock::Config::default().first_task_id - 1 {
            continue;
        }
        assert!(
            journal[..i].iter().any(|e| e.task_id == stale
                && e.kind == DeliveryKind::Genuine
                && matches!(e.outcome, AttemptOutcome::Delivered { .. })),
            "stale id {stale} in {r:#?} was not delivered before"
        );
    }

    for t in mock.server.tasks() {
        let schedule = t.schedule.clone().unwrap();
        let mine: Vec<&PingbackAttempt> = journal.iter().filter(|r| r.task_id == t.id).collect();
        let genuine_code = t.outcome.code().to_owned();
        let id = t.id.to_string();
        if schedule.dropped {
            assert_eq!(mine.len(), 1, "task {}: {mine:#?}", t.id);
            assert_eq!(mine[0].outcome, AttemptOutcome::Dropped);
            assert!(
                !hits.iter().any(|h| h.param("id") == Some(id.as_str())
                    && h.param("code") == Some(genuine_code.as_str())),
                "dropped task {} reached the receiver",
                t.id
            );
            continue;
        }
        assert!(!mine.is_empty(), "task {} unaccounted for", t.id);
        // Every planned callback had a first attempt; attempts per callback
        // run 1..=n within the policy, the last one flagged.
        let max = schedule.retry.max_attempts();
        for (index, planned) in schedule.deliveries.iter().enumerate() {
            let attempts: Vec<&&PingbackAttempt> = mine
                .iter()
                .filter(|r| r.delivery as usize == index)
                .collect();
            let numbers: Vec<u32> = attempts.iter().map(|r| r.attempt).collect();
            let n = numbers.len() as u32;
            assert_eq!(numbers, (1..=n).collect::<Vec<_>>(), "task {}", t.id);
            assert!(n >= 1 && n <= max, "task {}: {n} attempts, max {max}", t.id);
            assert!(attempts.iter().all(|r| r.kind == planned.kind));
            assert!(
                attempts[..attempts.len() - 1]
                    .iter()
                    .all(|r| !r.last_attempt)
            );
            assert!(attempts.last().unwrap().last_attempt, "task {}", t.id);
            if planned.kind.is_malformed() {
                assert_eq!(n, 1, "malformed callbacks are not retried");
            }
            for r in &attempts {
                // Sent when due (the timer wheel rounds up to the millisecond).
                assert!(
                    (0..=1).contains(&(r.sent_at_ms - r.scheduled_at_ms)),
                    "task {} sent at {} for {}",
                    t.id,
                    r.sent_at_ms,
                    r.scheduled_at_ms
                );
            }
            if planned.kind == DeliveryKind::Genuine {
                assert_eq!(attempts[0].id.as_deref(), Some(id.as_str()));
                assert_eq!(attempts[0].code_len, genuine_code.len());
            }
        }
        assert_eq!(
            mine.len(),
            mine.iter()
                .filter(|r| (r.delivery as usize) < schedule.deliveries.len())
                .count()
        );
        if schedule.early {
            let first = mine
                .iter()
                .find(|r| r.kind == DeliveryKind::Genuine && r.attempt == 1)
                .unwrap();
            assert_eq!(first.sent_at_ms, t.submitted_at_ms);
            assert_eq!(first.sent_at_ms, answered_ms[&t.id], "before the answer");
            let hit = hits
                .iter()
                .find(|h| {
                    h.param("id") == Some(id.as_str())
                        && h.param("code") == Some(genuine_code.as_str())
                })
                .unwrap();
            assert!(mock.ms(hit.received) <= answered_ms[&t.id]);
        } else if schedule.reorder.is_none() {
            // Planned offsets count from the finish.
            let finish = t.finish_at_ms.unwrap();
            let first = mine.iter().find(|r| r.attempt == 1).unwrap();
            let offset = schedule.deliveries[0].offset.as_millis() as u64;
            // (Each side rounds down to the millisecond on its own.)
            assert!(
                first.scheduled_at_ms.abs_diff(finish + offset) <= 1,
                "task {}: due {} ms, finished {finish} ms + {offset} ms",
                t.id,
                first.scheduled_at_ms
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn journal_and_receiver_agree(case in case()) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(check(case));
    }
}
