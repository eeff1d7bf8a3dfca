//! Pingback retries end to end, in both dialects: fixed, exponential with a
//! cap and the Svix preset, on 500 answers, on per-attempt timeouts and on
//! refused connections, all on the paused clock, asserting when each attempt
//! reached the receiver and what the journal says about it.

use std::time::Duration;

use crate::support::pingback::*;
use captchaai_mock::{
    AttemptOutcome, DeliveryKind, Dialect, Fault, FaultRule, MalformedKind, PingbackAttempt,
    RetryPolicy, RetryPreset,
};

const DIALECTS: [Dialect; 2] = [Dialect::Captchaai, Dialect::TwoCaptcha];

fn retry(policy: RetryPolicy) -> Vec<FaultRule> {
    vec![FaultRule::always(Fault::Retry(policy))]
}

/// Submits one task to `url` and waits until `until` ms; returns its id.
async fn one_task(mock: &Mock, dialect: Dialect, url: &str, until: u64) -> u64 {
    if dialect == Dialect::TwoCaptcha {
        mock.register(url).await;
    }
    let id = mock.submit(url).await;
    until_ms(mock, until).await;
    id
}

/// Every hit is the task's genuine callback in the dialect's shape.
fn all_genuine(hits: &[Callback], dialect: Dialect, mock: &Mock, id: u64) {
    let code = mock.code_of(id);
    for h in hits {
        assert_eq!(h.method, dialect.callback_method().as_str());
        assert_eq!(h.param("id"), Some(id.to_string().as_str()));
        assert_eq!(h.param("code"), Some(code.as_str()));
        match dialect {
            Dialect::Captchaai => assert_eq!(h.query_pairs[0], ("t".into(), "1".into())),
            Dialect::TwoCaptcha => assert_eq!(h.query, "t=1"),
        }
    }
}

fn arrivals(mock: &Mock, hits: &[Callback]) -> Vec<u64> {
    hits.iter().map(|h| mock.ms(h.received)).collect()
}

/// (attempt, sent at, last) of each journal entry.
fn attempts(j: &[PingbackAttempt]) -> Vec<(u32, u64, bool)> {
    j.iter()
        .map(|r| (r.attempt, r.sent_at_ms, r.last_attempt))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn fixed_interval_retries_500s_until_accepted() {
    for dialect in DIALECTS {
        let rx = recorder_with(|h| Reply::status(if h.seq < 2 { 500 } else { 200 })).await;
        let policy = RetryPolicy::Fixed {
            interval: Duration::from_secs(2),
            attempts: 4,
        };
        let mock = Mock::start(config(3, dialect, retry(policy))).await;
        let id = one_task(&mock, dialect, &rx.url("/hook?t=1"), 3_600_000).await;

        let hits = rx.callbacks();
        all_genuine(&hits, dialect, &mock, id);
        assert_eq!(arrivals(&mock, &hits), vec![5000, 7000, 9000]);
        let j = mock.journal(id);
        assert_eq!(
            attempts(&j),
            vec![(1, 5000, false), (2, 7000, false), (3, 9000, true)]
        );
        let outcomes: Vec<_> = j.iter().map(|r| r.outcome.clone()).collect();
        assert_eq!(
            outcomes,
            vec![
                AttemptOutcome::Rejected { status: 500 },
                AttemptOutcome::Rejected { status: 500 },
                AttemptOutcome::Delivered { status: 200 },
            ]
        );
        assert!(j.iter().all(|r| r.scheduled_at_ms == r.sent_at_ms));
        assert!(j.iter().all(|r| r.delivery == 0 && r.latency_us == Some(0)));
        assert_eq!(&*j[0].fault, "retry fixed 2s x4");
    }
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_is_capped_and_stops_after_the_last_attempt() {
    for dialect in DIALECTS {
        let rx = recorder_with(|_| Reply::status(500)).await;
        let policy = RetryPolicy::Exponential {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(3),
            attempts: 5,
        };
        let mock = Mock::start(config(3, dialect, retry(policy))).await;
        let id = one_task(&mock, dialect, &rx.url("/hook?t=1"), 3_600_000).await;

        let hits = rx.callbacks();
        all_genuine(&hits, dialect, &mock, id);
        // Waits 1 s, 2 s, then 4 s capped to 3 s, twice.
        assert_eq!(
            arrivals(&mock, &hits),
            vec![5000, 6000, 8000, 11_000, 14_000]
        );
        let j = mock.journal(id);
        assert_eq!(
            attempts(&j),
            vec![
                (1, 5000, false),
                (2, 6000, false),
                (3, 8000, false),
                (4, 11_000, false),
                (5, 14_000, true)
            ]
        );
        assert!(
            j.iter()
                .all(|r| r.outcome == AttemptOutcome::Rejected { status: 500 })
        );
        let stats = mock.server.pingback_stats();
        assert_eq!((stats.failed, stats.delivered, stats.pending), (5, 0, 0));
    }
}

#[tokio::test(start_paused = true)]
async fn svix_preset_spreads_eight_attempts_over_a_day() {
    for dialect in DIALECTS {
        let rx = recorder_with(|_| Reply::status(503)).await;
        let mock = Mock::start(config(
            3,
            dialect,
            retry(RetryPolicy::Preset(RetryPreset::Svix)),
        ))
        .await;
        // Two days on the paused clock take no time.
        let id = one_task(&mock, dialect, &rx.url("/hook?t=1"), 2 * 86_400_000).await;

        let hits = rx.callbacks();
        all_genuine(&hits, dialect, &mock, id);
        // Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after each failure.
        let mut want = vec![5000u64];
        for wait_s in [5u64, 300, 1800, 7200, 18_000, 36_000, 36_000] {
            want.push(want.last().unwrap() + wait_s * 1000);
        }
        assert_eq!(arrivals(&mock, &hits), want);
        let j = mock.journal(id);
        assert_eq!(j.len(), 8);
        assert_eq!(
            j.iter().map(|r| r.sent_at_ms).collect::<Vec<_>>(),
            want,
            "the journal agrees"
        );
        assert!(j[..7].iter().all(|r| !r.last_attempt) && j[7].last_attempt);
        assert_eq!(&*j[0].fault, "retry svix");
    }
}

#[tokio::test(start_paused = true)]
async fn a_receiver_slower_than_the_attempt_timeout_is_retried() {
    for dialect in DIALECTS {
        // The first request hangs for 30 s; the attempt timeout is 10 s.
        let rx = recorder_with(|h| {
            if h.seq == 0 {
                Reply::slow(Duration::from_secs(30))
            } else {
                Reply::OK
            }
        })
        .await;
        let policy = RetryPolicy::Fixed {
            interval: Duration::from_secs(1),
            attempts: 3,
        };
        let mut cfg = config(3, dialect, retry(policy));
        cfg.pingback.attempt_timeout = Duration::from_secs(10);
        let mock = Mock::start(cfg).await;
        let id = one_task(&mock, dialect, &rx.url("/hook?t=1"), 3_600_000).await;

        let hits = rx.callbacks();
        all_genuine(&hits, dialect, &mock, id);
        // Sent at 5 s, given up on at 15 s, retried 1 s later.
        assert_eq!(arrivals(&mock, &hits), vec![5000, 16_000]);
        let j = mock.journal(id);
        assert_eq!(attempts(&j), vec![(1, 5000, false), (2, 16_000, true)]);
        assert_eq!(j[0].outcome, AttemptOutcome::Timeout);
        assert!(!j[0].outcome.reached_receiver());
        assert_eq!(j[0].latency_us, Some(10_000_000), "the attempt timeout");
        assert_eq!(j[1].outcome, AttemptOutcome::Delivered { status: 200 });
        assert_eq!(j[1].scheduled_at_ms, 16_000);
    }
}

#[tokio::test(start_paused = true)]
async fn refused_connections_are_retried_with_the_configured_default_policy() {
    for dialect in DIALECTS {
        let port = Refusing::bind();
        let url = port.url("/hook?t=1");
        // No rules: the config's default retry policy applies.
        let mut cfg = config(3, dialect, vec![]);
        cfg.pingback.retry = RetryPolicy::Fixed {
            interval: Duration::from_secs(5),
            attempts: 3,
        };
        let mock = Mock::start(cfg).await;
        let id = one_task(&mock, dialect, &url, 12_000).await;
        // Two refusals so far; the receiver comes up before the third attempt.
        let j = mock.journal(id);
        assert_eq!(attempts(&j), vec![(1, 5000, false), (2, 10_000, false)]);
        for r in &j {
            assert!(
                matches!(&r.outcome, AttemptOutcome::Refused { error } if !error.is_empty()),
                "{:?}",
                r.outcome
            );
        }
        let rx = port.listen().await;
        until_ms(&mock, 3_600_000).await;

        let hits = rx.callbacks();
        all_genuine(&hits, dialect, &mock, id);
        assert_eq!(arrivals(&mock, &hits), vec![15_000]);
        let j = mock.journal(id);
        assert_eq!(j.len(), 3);
        assert_eq!(
            (j[2].attempt, j[2].sent_at_ms, j[2].last_attempt),
            (3, 15_000, true)
        );
        assert_eq!(j[2].outcome, AttemptOutcome::Delivered { status: 200 });
        assert_eq!(&*j[2].fault, "none");
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_policy_a_failure_is_final() {
    for dialect in DIALECTS {
        let rx = recorder_with(|_| Reply::status(500)).await;
        let mock = Mock::start(config(3, dialect, vec![])).await;
        let id = one_task(&mock, dialect, &rx.url("/hook?t=1"), 3_600_000).await;
        assert_eq!(arrivals(&mock, &rx.callbacks()), vec![5000]);
        let j = mock.journal(id);
        assert_eq!(attempts(&j), vec![(1, 5000, true)]);
        assert_eq!(j[0].outcome, AttemptOutcome::Rejected { status: 500 });
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_callbacks_are_never_retried_but_the_genuine_one_is() {
    for dialect in DIALECTS {
        let rx = recorder_with(|_| Reply::status(500)).await;
        let mut cfg = config(
            3,
            dialect,
            vec![FaultRule::always(Fault::Malformed(
                MalformedKind::MissingCode,
            ))],
        );
        cfg.pingback.retry = RetryPolicy::Fixed {
            interval: Duration::from_secs(1),
            attempts: 3,
        };
        let mock = Mock::start(cfg).await;
        let id = one_task(&mock, dialect, &rx.url("/hook?t=1"), 3_600_000).await;
        let j = mock.journal(id);
        let seen: Vec<_> = j
            .iter()
            .map(|r| (r.kind, r.attempt, r.sent_at_ms, r.last_attempt))
            .collect();
        let malformed = DeliveryKind::Malformed(MalformedKind::MissingCode);
        let genuine = DeliveryKind::Genuine;
        assert_eq!(
            seen,
            vec![
                (malformed, 1, 5000, true),
                (genuine, 1, 5000, false),
                (genuine, 2, 6000, false),
                (genuine, 3, 7000, true),
            ]
        );
        assert_eq!(
            arrivals(&mock, &rx.callbacks()),
            vec![5000, 5000, 6000, 7000]
        );
    }
}
