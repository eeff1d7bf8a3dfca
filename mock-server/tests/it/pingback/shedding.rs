//! Dispatch never blocks the API: past `queue-capacity` pending deliveries
//! new ones are shed (journalled; logged as a warning, see `binary`) while `in.php` and
//! `res.php` keep answering at once; concurrency per receiver host stays at
//! `max-in-flight-per-host`, each host with its own cap; an `early` callback
//! jumps a saturated host's queue; callbacks held in a reorder window count.

use std::time::Duration;

use crate::support::pingback::*;
use captchaai_mock::{
    AttemptOutcome, Dialect, Fault, FaultRule, FireError, OrdinalRange, ReorderFault, RuleMatch,
};

#[tokio::test(start_paused = true)]
async fn a_full_queue_sheds_with_a_warning_while_the_api_keeps_answering() {
    // The receiver never answers in time.
    let rx = recorder_with(|_| Reply::slow(Duration::from_secs(3600))).await;
    let mut cfg = config(9, Dialect::Captchaai, vec![]);
    cfg.pingback.queue_capacity = 3;
    cfg.pingback.max_in_flight_per_host = 2;
    cfg.pingback.attempt_timeout = Duration::from_secs(60);
    let mock = Mock::start(cfg).await;
    let url = rx.url("/hook");
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(mock.submit(&url).await);
    }
    // All ten finish at 5 s: three are taken, seven shed.
    until_ms(&mock, 6000).await;

    // The API answers at once all the same.
    let late = mock.submit(&url).await;
    let polled = mock
        .res(&[("action", "get"), ("id", &ids[0].to_string())])
        .await;
    assert_eq!(polled, format!("OK|{}", mock.code_of(ids[0])));
    assert_eq!(mock.now_ms(), 6000, "no request waited");
    assert!(late > ids[9]);

    let stats = mock.server.pingback_stats();
    assert_eq!((stats.shed, stats.pending), (7, 3));
    let journal = mock.journal_all();
    let shed: Vec<u64> = journal
        .iter()
        .filter(|r| r.outcome == AttemptOutcome::Shed)
        .map(|r| r.task_id)
        .collect();
    assert_eq!(shed, ids[3..].to_vec(), "the first three got in");
    for r in journal.iter().filter(|r| r.outcome == AttemptOutcome::Shed) {
        assert_eq!((r.attempt, r.last_attempt, r.sent_at_ms), (0, true, 5000));
        assert!(!r.outcome.reached_receiver());
    }
    // Two in flight (the host's cap), the third waits its turn.
    assert_eq!(rx.max_in_flight(), 2);
    assert_eq!(rx.callbacks().len(), 2);
    // Sending one again by hand into the full queue says it was shed.
    let refire = mock.server.fire_pingback(ids[4]);
    assert_eq!(refire, Err(FireError::Shed));
    assert_eq!(mock.server.pingback_stats().shed, 8);

    until_ms(&mock, 200_000).await;
    let sent: Vec<(u64, u64)> = mock
        .journal_all()
        .iter()
        .filter(|r| r.attempt == 1)
        .map(|r| (r.task_id, r.sent_at_ms))
        .collect();
    assert_eq!(
        sent,
        vec![(ids[0], 5000), (ids[1], 5000), (ids[2], 65_000)],
        "the third was sent when a slot freed at the 60 s timeout"
    );
    assert!(
        mock.journal_all()
            .iter()
            .filter(|r| r.attempt == 1)
            .all(|r| r.outcome == AttemptOutcome::Timeout)
    );
    // The task submitted at 6 s finished at 11 s, into a full queue (after
    // the hand-fired one at 6 s).
    let shed: Vec<u64> = mock
        .journal_all()
        .iter()
        .filter(|r| r.outcome == AttemptOutcome::Shed)
        .map(|r| r.task_id)
        .collect();
    assert_eq!(shed.len(), 9);
    assert_eq!(shed[7], ids[4], "the one fired by hand");
    assert_eq!(shed[8], late);
    assert!(rx.callbacks_for(late).is_empty());
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_capped_per_receiver_host() {
    // Each request takes 1 s to answer.
    let slow = |_: &Callback| Reply::slow(Duration::from_secs(1));
    let a = recorder_with(slow).await;
    let b = recorder_with(slow).await;
    let mut cfg = config(9, Dialect::Captchaai, vec![]);
    cfg.pingback.max_in_flight_per_host = 4;
    let mock = Mock::start(cfg).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let rx = if i % 2 == 0 { &a } else { &b };
        ids.push(mock.submit(&rx.url("/hook")).await);
    }
    until_ms(&mock, 60_000).await;

    for rx in [&a, &b] {
        assert_eq!(rx.max_in_flight(), 4, "four at a time per host");
        let at: Vec<u64> = rx.callbacks().iter().map(|h| mock.ms(h.received)).collect();
        // 20 callbacks per host, 4 per second, both hosts at once.
        let want: Vec<u64> = (0..20).map(|i| 5000 + (i / 4) * 1000).collect();
        assert_eq!(at, want);
    }
    let journal = mock.journal_all();
    assert_eq!(journal.len(), 40);
    assert!(journal.iter().all(|r| r.scheduled_at_ms == 5000
        && r.outcome == AttemptOutcome::Delivered { status: 200 }
        && r.latency_us == Some(1_000_000)));
    // Each host's callbacks went out in finishing (= id) order.
    for (rx, parity) in [(&a, 0), (&b, 1)] {
        let got: Vec<u64> = rx
            .callbacks()
            .iter()
            .map(|h| h.param("id").unwrap().parse().unwrap())
            .collect();
        let want: Vec<u64> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(got, want);
    }
}

#[tokio::test(start_paused = true)]
async fn an_early_callback_jumps_a_saturated_host_queue_and_holds_the_submit_one_attempt_at_most() {
    let rx = recorder_with(|_| Reply::slow(Duration::from_secs(3600))).await;
    // Task 3 is early; tasks 1 and 2 want the host's only slot from 5 s.
    let early = FaultRule::always(Fault::Early).matching(RuleMatch {
        tasks: Some(OrdinalRange { from: 3, to: 3 }),
        ..RuleMatch::default()
    });
    let mut cfg = config(9, Dialect::Captchaai, vec![early]);
    cfg.pingback.max_in_flight_per_host = 1;
    cfg.pingback.attempt_timeout = Duration::from_secs(10);
    let mock = Mock::start(cfg).await;
    let url = rx.url("/hook");
    let first = mock.submit(&url).await;
    let second = mock.submit(&url).await;
    until_ms(&mock, 6000).await;
    // The first callback holds the slot until it times out at 15 s; the early one goes
    // next, ahead of the second (queued since 5 s), within the cap of one. The submit
    // answer waits one attempt timeout at most: 16 s.
    let id = mock.submit(&url).await;
    assert_eq!(mock.now_ms(), 16_000);
    until_ms(&mock, 60_000).await;
    let mut sent: Vec<(u64, u64)> = mock
        .journal_all()
        .iter()
        .map(|r| (r.sent_at_ms, r.task_id))
        .collect();
    sent.sort_unstable();
    assert_eq!(sent, vec![(5000, first), (15_000, id), (25_000, second)]);
    assert_eq!(
        rx.max_in_flight(),
        1,
        "the cap holds for early callbacks too"
    );
}

#[tokio::test(start_paused = true)]
async fn reset_drops_the_backlog_and_the_send_in_flight() {
    let rx = recorder_with(|_| Reply::slow(Duration::from_secs(1))).await;
    let mut cfg = config(9, Dialect::Captchaai, vec![]);
    cfg.pingback.max_in_flight_per_host = 1;
    let mock = Mock::start(cfg).await;
    for _ in 0..5 {
        mock.submit(&rx.url("/hook")).await;
    }
    // At 5.5 s one callback is in flight and four wait behind it.
    until_ms(&mock, 5500).await;
    assert_eq!(mock.server.pingback_stats().pending, 5);
    mock.server.reset();
    until_ms(&mock, 60_000).await;
    assert_eq!(rx.callbacks().len(), 1, "only the one already sent");
    assert!(
        mock.journal_all().is_empty(),
        "nor journalled: it never finished"
    );
    assert_eq!(mock.server.pingback_stats().pending, 0);
}

#[tokio::test(start_paused = true)]
async fn callbacks_held_in_a_reorder_window_count_against_the_queue() {
    let rx = recorder_with(|_| Reply::OK).await;
    let hold = FaultRule::always(Fault::Reorder(ReorderFault {
        window: 100,
        max_hold: Duration::from_secs(3600),
    }));
    let mut cfg = config(9, Dialect::Captchaai, vec![hold]);
    cfg.pingback.queue_capacity = 5;
    let mock = Mock::start(cfg).await;
    let url = rx.url("/hook");
    for _ in 0..8 {
        mock.submit(&url).await;
    }
    until_ms(&mock, 6000).await;
    let stats = mock.server.pingback_stats();
    assert_eq!((stats.pending, stats.shed), (5, 3), "five held, three shed");
    // Released after max-hold, the five are delivered and stop counting.
    until_ms(&mock, 3_700_000).await;
    let stats = mock.server.pingback_stats();
    assert_eq!((stats.pending, stats.delivered), (0, 5));
    assert_eq!(rx.callbacks().len(), 5);
}
