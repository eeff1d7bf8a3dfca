//! Determinism: the same seed and the same submissions give the same
//! schedules, the same delivery order at the receiver and the same payloads
//! and answers, byte for byte, even with concurrent submissions and rules
//! whose probabilities are below one; another seed gives other schedules.
//!
//! Each run gets a fresh runtime (paused clock), mock and receivers.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::support::pingback::*;
use captchaai_mock::{
    Dialect, Distribution, DuplicateFault, Fault, FaultRule, MalformedKind, OrdinalRange,
    ReorderFault, RetryPolicy, RuleMatch, TaskKind,
};

fn rules() -> Vec<FaultRule> {
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    vec![
        FaultRule::always(Fault::Early)
            .with_probability(0.3)
            .matching(RuleMatch {
                methods: vec![TaskKind::Geetest],
                ..RuleMatch::default()
            }),
        FaultRule::always(Fault::Reorder(ReorderFault {
            window: 3,
            max_hold: s(4),
        }))
        .with_probability(0.4)
        .matching(RuleMatch {
            url: Some("/b".into()),
            ..RuleMatch::default()
        }),
        FaultRule::always(Fault::Drop)
            .with_probability(0.1)
            .matching(RuleMatch {
                tasks: Some(OrdinalRange { from: 5, to: 40 }),
                ..RuleMatch::default()
            }),
        FaultRule::always(Fault::Delay(Distribution::LogNormal {
            median: s(2),
            sigma: 0.8,
        }))
        .with_probability(0.25),
        FaultRule::always(Fault::Duplicate(DuplicateFault {
            copies: 2,
            spacing: ms(700),
            conflicting: true,
        }))
        .with_probability(0.2),
        FaultRule::always(Fault::Malformed(MalformedKind::StaleId)).with_probability(0.15),
        FaultRule::always(Fault::Malformed(MalformedKind::MissingCode)).with_probability(0.1),
        FaultRule::always(Fault::Retry(RetryPolicy::Exponential {
            initial: ms(500),
            factor: 3.0,
            max: s(5),
            attempts: 4,
        }))
        .with_probability(0.5),
    ]
}

/// Everything observable about a run, timestamps as simulated milliseconds
/// (the paused clock makes even those repeat), ports replaced by names.
#[derive(Debug, PartialEq)]
struct Observed {
    /// Each task's compiled schedule, as the admin API shows it.
    schedules: Vec<String>,
    /// What the receivers got, in arrival order.
    arrivals: Vec<String>,
    /// Arrival times, ms.
    arrival_ms: Vec<u64>,
    /// The submit answers and the final `res.php` answers.
    answers: Vec<String>,
    /// The outbound journal without timestamps.
    journal: Vec<String>,
    /// Journal send times, ms.
    journal_ms: Vec<u64>,
}

fn run(seed: u64) -> Observed {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(workload(seed))
}

async fn workload(seed: u64) -> Observed {
    // The receiver fails the first request for any id ending in 7: a
    // decision from the content, so it repeats if the content does.
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let plan = move |h: &Callback| {
        let id = h.param("id").unwrap_or("").to_owned();
        if id.ends_with('7') && seen.lock().unwrap().insert(id) {
            Reply::status(500)
        } else {
            Reply::OK
        }
    };
    let rx = recorder_with(plan).await;
    let mut cfg = config(seed, Dialect::Captchaai, rules());
    cfg.solving.times.clear();
    cfg.solving.default_time = Some(Distribution::Uniform {
        min: Duration::from_secs(2),
        max: Duration::from_secs(12),
    });
    cfg.solving.unsolvable_rate = 0.2;
    let mock = Mock::start(cfg).await;
    let urls = [rx.url("/a"), rx.url("/b?x=1"), rx.url("/b?x=2")];
    let kinds = [
        TaskKind::Turnstile,
        TaskKind::RecaptchaV2,
        TaskKind::Geetest,
    ];

    // Eight batches of six concurrent submits, 1.5 s apart; every batch is
    // issued in the same order.
    let mut answers = Vec::new();
    for batch in 0..8u64 {
        until_ms(&mock, batch * 1500).await;
        let submits = (0..6).map(|i| {
            let k = (batch as usize + i) % 3;
            mock.submit_raw(kinds[k], &urls[(i + k) % 3])
        });
        answers.extend(futures::future::join_all(submits).await);
    }
    until_ms(&mock, 600_000).await;

    let tasks = mock.server.tasks();
    assert_eq!(tasks.len(), 48);
    for t in &tasks {
        let polled = mock
            .res(&[("action", "get"), ("id", &t.id.to_string())])
            .await;
        answers.push(polled);
    }
    let host = rx.url("");
    let anon = |s: String| s.replace(&host, "RECEIVER");
    let hits = rx.callbacks();
    let journal = mock.journal_all();
    Observed {
        schedules: tasks
            .iter()
            .map(|t| serde_json::to_string(&t.schedule).unwrap())
            .collect(),
        arrivals: hits
            .iter()
            .map(|h| anon(format!("{} {}?{} {}", h.method, h.path, h.query, h.body)))
            .collect(),
        arrival_ms: hits.iter().map(|h| mock.ms(h.received)).collect(),
        answers,
        journal: journal
            .iter()
            .map(|r| {
                anon(format!(
                    "{} {} {:?} {} {:?} {} {:?} {:?} {:?} {} {:?}",
                    r.task_id,
                    r.delivery,
                    r.kind,
                    r.attempt,
                    r.method,
                    r.url,
                    r.id,
                    r.code,
                    r.outcome,
                    r.last_attempt,
                    r.response
                ))
            })
            .collect(),
        journal_ms: journal
            .iter()
            .flat_map(|r| [r.scheduled_at_ms, r.sent_at_ms])
            .collect(),
    }
}

#[test]
fn same_seed_same_run_byte_for_byte_and_another_seed_differs() {
    let a = run(42);
    // The workload exercises what it claims to.
    let faults: HashSet<String> = a
        .schedules
        .iter()
        .map(|s| {
            let v: serde_json::Value = serde_json::from_str(s).unwrap();
            let f = v["fault"].as_str().unwrap();
            f.split(' ').next().unwrap().to_owned()
        })
        .collect();
    for f in [
        "none",
        "early",
        "reorder",
        "drop",
        "delay",
        "conflicting",
        "malformed",
        "retry",
    ] {
        assert!(faults.contains(f), "no {f} in {faults:?}");
    }
    assert!(a.journal.iter().any(|j| j.contains("Rejected")));
    assert!(a.answers.iter().any(|j| j == "ERROR_CAPTCHA_UNSOLVABLE"));
    assert!(a.arrivals.len() > 48, "{}", a.arrivals.len());

    let b = run(42);
    assert_eq!(a.schedules, b.schedules);
    assert_eq!(a.arrivals, b.arrivals, "same delivery order and payloads");
    assert_eq!(a.answers, b.answers);
    assert_eq!(a.journal, b.journal);
    assert_eq!(a.arrival_ms, b.arrival_ms);
    assert_eq!(a.journal_ms, b.journal_ms);
    assert_eq!(a, b);

    let c = run(43);
    assert_ne!(a.schedules, c.schedules, "another seed, other schedules");
    assert_ne!(a.answers, c.answers, "and other answers");
}
