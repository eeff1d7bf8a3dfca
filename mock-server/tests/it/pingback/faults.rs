//! Pingback faults end to end, in both dialects: a real receiver on loopback,
//! the paused clock, and for each fault what arrived (method, parameters,
//! order), when, and what the outbound journal says.

use std::time::Duration;

use crate::support::pingback::*;
use captchaai_mock::{
    AttemptOutcome, DeliveryKind, Dialect, Distribution, DuplicateFault, Fault, FaultRule,
    OrdinalRange, ReorderFault, RuleMatch, TaskKind,
};

pub(super) const DIALECTS: [Dialect; 2] = [Dialect::Captchaai, Dialect::TwoCaptcha];

/// A receiver, a mock with these rules, and the callback URL (registered in
/// the 2captcha dialect), which carries a query parameter of its own.
pub(super) struct Setup {
    pub(super) rx: PingbackRecorder,
    pub(super) mock: Mock,
    pub(super) url: String,
}

pub(super) async fn setup(dialect: Dialect, rules: Vec<FaultRule>) -> Setup {
    let rx = recorder().await;
    let mock = Mock::start(config(7, dialect, rules)).await;
    let url = rx.url("/hook?token=abc");
    if dialect == Dialect::TwoCaptcha {
        mock.register(&url).await;
    }
    Setup { rx, mock, url }
}

pub(super) fn method_of(dialect: Dialect) -> &'static str {
    dialect.callback_method().as_str()
}

pub(super) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A callback as the dialect sends it: GET with `id`/`code` after the URL's
/// own `token=abc`, or POST with a form body and the URL's query kept.
pub(super) fn assert_callback(hit: &Callback, method: &str, expected: &[(&str, &str)]) {
    assert_eq!(hit.method, method, "{hit:#?}");
    assert_eq!(hit.path, "/hook");
    match method {
        "GET" => {
            let mut want = pairs(&[("token", "abc")]);
            want.extend(pairs(expected));
            assert_eq!(hit.query_pairs, want, "GET query");
            assert_eq!(hit.body, "");
        }
        _ => {
            assert_eq!(hit.query, "token=abc", "POST keeps the URL's query");
            assert_eq!(
                hit.content_type.as_deref(),
                Some("application/x-www-form-urlencoded")
            );
            assert_eq!(hit.form, pairs(expected), "POST form");
        }
    }
}

pub(super) fn genuine(hit: &Callback, dialect: Dialect, id: u64, code: &str) {
    assert_callback(
        hit,
        method_of(dialect),
        &[("id", &id.to_string()), ("code", code)],
    );
}

#[tokio::test(start_paused = true)]
async fn plain_delivery_carries_the_answer_or_the_error_code() {
    for dialect in DIALECTS {
        let s = setup(dialect, vec![]).await;
        let solved = s.mock.submit(&s.url).await;
        let failed = s.mock.submit(&s.url).await;
        until_ms(&s.mock, 2000).await;
        let forced = s
            .mock
            .client
            .post(format!(
                "{}/__admin/tasks/{failed}/fail",
                s.mock.server.uri()
            ))
            .send()
            .await
            .unwrap();
        assert!(forced.status().is_success());
        until_ms(&s.mock, 60_000).await;

        let hits = s.rx.callbacks();
        assert_eq!(hits.len(), 2, "{hits:#?}");
        genuine(&hits[0], dialect, failed, "ERROR_CAPTCHA_UNSOLVABLE");
        assert_eq!(
            s.mock.ms(hits[0].received),
            2000,
            "a forced failure calls back at once"
        );
        let code = s.mock.code_of(solved);
        assert!(code.starts_with("0."), "a turnstile token: {code}");
        genuine(&hits[1], dialect, solved, &code);
        assert_eq!(s.mock.ms(hits[1].received), 5000, "called back when solved");

        let j = s.mock.journal(solved);
        assert_eq!(j.len(), 1, "{j:#?}");
        let r = &j[0];
        assert_eq!(
            (r.kind, r.attempt, r.delivery, r.last_attempt),
            (DeliveryKind::Genuine, 1, 0, true)
        );
        assert_eq!(r.outcome, AttemptOutcome::Delivered { status: 200 });
        assert_eq!((r.scheduled_at_ms, r.sent_at_ms), (5000, 5000));
        assert_eq!(r.method, dialect.callback_method());
        assert_eq!(&*r.fault, "none");
        assert_eq!(r.id.as_deref(), Some(solved.to_string().as_str()));
        assert_eq!(r.code_len, code.len());
        assert_eq!(r.response.as_deref(), Some("OK"));
        assert!(r.url.contains("token=abc"), "{}", r.url);
        let j = s.mock.journal(failed);
        assert_eq!(j[0].code.as_deref(), Some("ERROR_CAPTCHA_UNSOLVABLE"));
        assert_eq!(j[0].sent_at_ms, 2000);
    }
}

/// Three tasks under a delay rule: each callback arrives at 5 s plus the
/// delay its schedule drew, and the journal agrees.
async fn delayed(dialect: Dialect, dist: Distribution) -> Vec<Duration> {
    let s = setup(dialect, vec![FaultRule::always(Fault::Delay(dist))]).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(s.mock.submit(&s.url).await);
    }
    let delays: Vec<Duration> = ids
        .iter()
        .map(|id| {
            let schedule = s.mock.server.task(*id).unwrap().schedule.unwrap();
            assert!(schedule.fault.starts_with("delay"), "{}", schedule.fault);
            assert_eq!(schedule.deliveries.len(), 1);
            schedule.deliveries[0].offset
        })
        .collect();
    until_ms(&s.mock, 60_000).await;
    let hits = s.rx.callbacks();
    assert_eq!(hits.len(), 3, "{hits:#?}");
    for (id, delay) in ids.iter().zip(&delays) {
        let hit = s.rx.callbacks_for(*id).remove(0);
        genuine(&hit, dialect, *id, &s.mock.code_of(*id));
        let due = SOLVE + *delay;
        let at = hit.received - s.mock.zero;
        // The timer wheel has millisecond resolution.
        assert!(
            at >= due && at <= due + Duration::from_millis(1),
            "task {id}: due {due:?}, arrived {at:?}"
        );
        let j = s.mock.journal(*id);
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].scheduled_at_ms, due.as_millis() as u64);
        assert_eq!(j[0].sent_at_ms, s.mock.ms(hit.received));
        assert!(j[0].outcome.reached_receiver() && j[0].last_attempt);
    }
    // Arrival order follows the drawn delays.
    let mut by_delay: Vec<(Duration, u64)> = delays.iter().copied().zip(ids.clone()).collect();
    by_delay.sort();
    let order: Vec<String> = hits
        .iter()
        .map(|h| h.param("id").unwrap().to_owned())
        .collect();
    let want: Vec<String> = by_delay.iter().map(|(_, id)| id.to_string()).collect();
    assert_eq!(order, want);
    delays
}

fn all_differ(v: &[Duration]) -> bool {
    v[0] != v[1] && v[1] != v[2] && v[0] != v[2]
}

#[tokio::test(start_paused = true)]
async fn delay_fixed() {
    for dialect in DIALECTS {
        let d = delayed(dialect, Distribution::Fixed(Duration::from_millis(2500))).await;
        assert_eq!(d, vec![Duration::from_millis(2500); 3]);
    }
}

#[tokio::test(start_paused = true)]
async fn delay_uniform() {
    for dialect in DIALECTS {
        let d = delayed(
            dialect,
            Distribution::Uniform {
                min: Duration::from_secs(1),
                max: Duration::from_secs(3),
            },
        )
        .await;
        assert!(all_differ(&d), "{d:?}");
        assert!(
            d.iter().all(|d| (1.0..=3.0).contains(&d.as_secs_f64())),
            "{d:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn delay_normal() {
    for dialect in DIALECTS {
        let d = delayed(
            dialect,
            Distribution::Normal {
                mean: Duration::from_secs(4),
                std_dev: Duration::from_secs(1),
            },
        )
        .await;
        assert!(all_differ(&d), "{d:?}");
        // Six standard deviations either side.
        assert!(d.iter().all(|d| d.as_secs_f64() < 10.0), "{d:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn delay_log_normal() {
    for dialect in DIALECTS {
        let d = delayed(
            dialect,
            Distribution::LogNormal {
                median: Duration::from_secs(3),
                sigma: 0.5,
            },
        )
        .await;
        assert!(all_differ(&d), "{d:?}");
        assert!(
            d.iter().all(|d| (0.1..90.0).contains(&d.as_secs_f64())),
            "{d:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn duplicate_identical_copies_follow_at_their_spacing() {
    for dialect in DIALECTS {
        let rule = FaultRule::always(Fault::Duplicate(DuplicateFault {
            copies: 2,
            spacing: Duration::from_millis(1500),
            conflicting: false,
        }));
        let s = setup(dialect, vec![rule]).await;
        let id = s.mock.submit(&s.url).await;
        until_ms(&s.mock, 60_000).await;
        let hits = s.rx.callbacks();
        let code = s.mock.code_of(id);
        assert_eq!(hits.len(), 3, "{hits:#?}");
        for h in &hits {
            genuine(h, dialect, id, &code);
        }
        let at: Vec<u64> = hits.iter().map(|h| s.mock.ms(h.received)).collect();
        assert_eq!(at, vec![5000, 6500, 8000]);
        let j = s.mock.journal(id);
        let kinds: Vec<_> = j
            .iter()
            .map(|r| (r.delivery, r.kind, r.sent_at_ms))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, DeliveryKind::Genuine, 5000),
                (1, DeliveryKind::Duplicate, 6500),
                (2, DeliveryKind::Duplicate, 8000)
            ]
        );
        assert!(
            j.iter()
                .all(|r| r.attempt == 1 && r.outcome.reached_receiver())
        );
        assert!(j.iter().all(|r| &*r.fault == "duplicate x2 every 1s 500ms"));
    }
}

#[tokio::test(start_paused = true)]
async fn conflicting_duplicate_carries_another_code_for_the_same_id() {
    for dialect in DIALECTS {
        let rule = FaultRule::always(Fault::Duplicate(DuplicateFault {
            copies: 2,
            spacing: Duration::from_secs(1),
            conflicting: true,
        }));
        let s = setup(dialect, vec![rule]).await;
        let id = s.mock.submit(&s.url).await;
        until_ms(&s.mock, 60_000).await;
        let hits = s.rx.callbacks();
        let code = s.mock.code_of(id);
        assert_eq!(hits.len(), 3, "{hits:#?}");
        genuine(&hits[0], dialect, id, &code);
        let other = hits[1].param("code").unwrap().to_owned();
        assert_ne!(other, code, "the conflicting copy differs");
        assert!(other.starts_with("0."), "and still looks like a token");
        genuine(&hits[1], dialect, id, &other);
        genuine(&hits[2], dialect, id, &code);
        let at: Vec<u64> = hits.iter().map(|h| s.mock.ms(h.received)).collect();
        assert_eq!(at, vec![5000, 6000, 7000]);
        let kinds: Vec<_> = s.mock.journal(id).iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            vec![
                DeliveryKind::Genuine,
                DeliveryKind::Conflicting,
                DeliveryKind::Duplicate
            ]
        );
        // Polling still gives the genuine answer.
        let polled = s
            .mock
            .res(&[("action", "get"), ("id", &id.to_string())])
            .await;
        assert_eq!(polled, format!("OK|{code}"));
    }
}

#[tokio::test(start_paused = true)]
async fn drop_sends_nothing_and_says_so() {
    for dialect in DIALECTS {
        // Only the second task is dropped.
        let rule = FaultRule::always(Fault::Drop).matching(RuleMatch {
            tasks: Some(OrdinalRange { from: 2, to: 2 }),
            ..RuleMatch::default()
        });
        let s = setup(dialect, vec![rule]).await;
        let kept = s.mock.submit(&s.url).await;
        let dropped = s.mock.submit(&s.url).await;
        let schedule = s.mock.server.task(dropped).unwrap().schedule.unwrap();
        assert!(schedule.dropped && schedule.deliveries.is_empty());
        until_ms(&s.mock, 3_600_000).await;
        let hits = s.rx.callbacks();
        assert_eq!(hits.len(), 1, "{hits:#?}");
        genuine(&hits[0], dialect, kept, &s.mock.code_of(kept));
        let j = s.mock.journal(dropped);
        assert_eq!(j.len(), 1, "{j:#?}");
        assert_eq!(j[0].outcome, AttemptOutcome::Dropped);
        assert_eq!(
            j[0].method,
            dialect.callback_method(),
            "the dialect's method"
        );
        assert_eq!(
            (j[0].attempt, j[0].last_attempt, j[0].sent_at_ms),
            (0, true, 5000)
        );
        assert!(!j[0].outcome.reached_receiver());
        assert_eq!(s.mock.server.pingback_stats().dropped, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn reorder_releases_a_full_window_permuted_and_a_partial_one_after_max_hold() {
    for dialect in DIALECTS {
        let rule = FaultRule::always(Fault::Reorder(ReorderFault {
            window: 3,
            max_hold: Duration::from_secs(10),
        }));
        let s = setup(dialect, vec![rule]).await;
        // Finish at 5 s, 6 s, 7 s: the window fills at 7 s.
        let mut ids = Vec::new();
        for t in 0..3 {
            until_ms(&s.mock, t * 1000).await;
            ids.push(s.mock.submit(&s.url).await);
        }
        // A fourth, alone in the next window: released after max-hold.
        until_ms(&s.mock, 20_000).await;
        let late = s.mock.submit(&s.url).await;
        until_ms(&s.mock, 60_000).await;

        let hits = s.rx.callbacks();
        assert_eq!(hits.len(), 4, "{hits:#?}");
        for h in &hits {
            let id: u64 = h.param("id").unwrap().parse().unwrap();
            genuine(h, dialect, id, &s.mock.code_of(id));
        }
        let order: Vec<u64> = hits
            .iter()
            .map(|h| h.param("id").unwrap().parse().unwrap())
            .collect();
        let mut first3 = order[..3].to_vec();
        assert_ne!(first3, ids, "released permuted, not in finishing order");
        first3.sort_unstable();
        assert_eq!(first3, ids, "the whole window, once each");
        assert_eq!(order[3], late);
        let at: Vec<u64> = hits.iter().map(|h| s.mock.ms(h.received)).collect();
        assert_eq!(at, vec![7000, 7000, 7000, 35_000]);
        // The journal saw the same order.
        let journal: Vec<u64> = s.mock.journal_all().iter().map(|r| r.task_id).collect();
        assert_eq!(journal, order);
        for id in ids {
            let j = s.mock.journal(id);
            assert_eq!((j[0].scheduled_at_ms, j[0].sent_at_ms), (7000, 7000));
            assert_eq!(&*j[0].fault, "reorder window 3");
        }
    }
}

/// Rules replaced at run time with another window or max-hold hold their
/// tasks in windows of their own: each task keeps the schedule it was compiled
/// with, which the admin API shows.
#[tokio::test(start_paused = true)]
async fn a_reorder_rule_replaced_at_run_time_keeps_its_own_windows() {
    let reorder = |secs| {
        FaultRule::always(Fault::Reorder(ReorderFault {
            window: 5,
            max_hold: Duration::from_secs(secs),
        }))
    };
    let s = setup(Dialect::Captchaai, vec![reorder(600)]).await;
    let held_long = s.mock.submit(&s.url).await;
    s.mock.server.set_rules(vec![reorder(10)]).unwrap();
    let held_short = s.mock.submit(&s.url).await;
    until_ms(&s.mock, 60_000).await;
    let at = |id| {
        s.rx.callbacks_for(id)
            .first()
            .map(|h| s.mock.ms(h.received))
    };
    assert_eq!(at(held_short), Some(15_000), "finished at 5 s, held 10 s");
    assert_eq!(at(held_long), None, "still held for its 10 minutes");
    until_ms(&s.mock, 700_000).await;
    assert_eq!(at(held_long), Some(605_000));
}

#[tokio::test(start_paused = true)]
async fn early_callback_reaches_the_receiver_before_the_submit_answer() {
    for dialect in DIALECTS {
        // The receiver takes 1 s to answer: a mock that sent the callback
        // without waiting for it would answer the submit at 0 ms.
        let rx = recorder_with(|_| Reply::slow(Duration::from_secs(1))).await;
        let mock = Mock::start(config(7, dialect, vec![FaultRule::always(Fault::Early)])).await;
        let url = rx.url("/hook?token=abc");
        if dialect == Dialect::TwoCaptcha {
            mock.register(&url).await;
        }
        until_ms(&mock, 3000).await;
        let id = mock.submit(&url).await;
        let answered = tokio::time::Instant::now();
        let hits = rx.callbacks();
        assert_eq!(hits.len(), 1, "delivered before the submit returned");
        assert!(hits[0].received < answered);
        assert_eq!(mock.ms(hits[0].received), 3000);
        assert_eq!(
            mock.ms(answered),
            4000,
            "the answer waited for the receiver"
        );
        genuine(&hits[0], dialect, id, &mock.code_of(id));
        let view = mock.server.task(id).unwrap();
        assert!(view.schedule.unwrap().early);
        assert_eq!(
            view.finish_at_ms,
            Some(3000),
            "an early task finishes at once"
        );
        let j = mock.journal(id);
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].sent_at_ms, 3000);
        assert_eq!(j[0].latency_us, Some(1_000_000));
        assert_eq!(&*j[0].fault, "early");
        // Nothing more later: the finisher does not send it again.
        until_ms(&mock, 60_000).await;
        assert_eq!(rx.callbacks().len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn early_submit_waits_for_a_hung_receiver_only_so_long() {
    let rx = recorder_with(|_| Reply::slow(Duration::from_secs(3600))).await;
    let mock = Mock::start(config(
        7,
        Dialect::Captchaai,
        vec![FaultRule::always(Fault::Early)],
    ))
    .await;
    let id = mock.submit(&rx.url("/hook")).await;
    // The attempt times out at the default 10 s, and the answer follows.
    assert_eq!(mock.now_ms(), 10_000);
    let j = mock.journal(id);
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].outcome, AttemptOutcome::Timeout);
}

#[tokio::test(start_paused = true)]
async fn rules_match_on_method_ordinal_and_url() {
    let drop_recaptcha = FaultRule::always(Fault::Drop).matching(RuleMatch {
        methods: vec![TaskKind::RecaptchaV2],
        ..RuleMatch::default()
    });
    let drop_other_url = FaultRule::always(Fault::Drop).matching(RuleMatch {
        url: Some("/other".into()),
        ..RuleMatch::default()
    });
    let drop_third = FaultRule::always(Fault::Drop).matching(RuleMatch {
        tasks: Some(OrdinalRange { from: 3, to: 3 }),
        ..RuleMatch::default()
    });
    let s = setup(
        Dialect::Captchaai,
        vec![drop_recaptcha, drop_other_url, drop_third],
    )
    .await;
    let a = s.mock.submit_kind(TaskKind::RecaptchaV2, &s.url).await;
    let b = s
        .mock
        .submit_kind(TaskKind::Geetest, &s.rx.url("/other"))
        .await;
    let c = s.mock.submit(&s.url).await;
    let d = s.mock.submit(&s.url).await;
    until_ms(&s.mock, 60_000).await;
    let got: Vec<u64> =
        s.rx.callbacks()
            .iter()
            .map(|h| h.param("id").unwrap().parse().unwrap())
            .collect();
    assert_eq!(got, vec![d]);
    for (id, rule) in [(a, 0), (b, 1), (c, 2)] {
        let schedule = s.mock.server.task(id).unwrap().schedule.unwrap();
        assert_eq!(schedule.rule, Some(rule));
        assert!(schedule.dropped);
    }
}
