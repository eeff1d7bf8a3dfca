//! Each pingback fault, and each receiver failure, against the reference client: the
//! application gets every task exactly once with the mock's ground truth.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use captchaai_client::TaskId;
use captchaai_client::fanout::{FanOutConfig, Rate, fan_out_collect};
use captchaai_client::receiver::{RejectReason, ResultSource, StoreEvent};
use captchaai_client::router::{Dispatch, ResultRouter};
use captchaai_client::strategy::Strategy;
use captchaai_mock::{
    AttemptOutcome, CallbackMethod, DeliveryKind, Dialect, Distribution, Fault, FaultRule,
    MalformedKind, Outcome, ReorderFault, RetryPolicy, TaskIdEncoding,
};
use futures::future::join_all;

use super::env::{ReceiverFault, Setup, delivered, secs, sent_code, source, status, turnstile};

use super::{duplicate, turnstiles};

#[tokio::test(start_paused = true)]
async fn identical_duplicates_reach_the_application_once() {
    let env = Setup::new(vec![FaultRule::always(duplicate(3, secs(1), false))])
        .start()
        .await;
    let results = env.solve_all(&turnstiles(5)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    for (id, _) in &results {
        let journal = env.deliveries(*id);
        let kinds: Vec<DeliveryKind> = journal.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                DeliveryKind::Genuine,
                DeliveryKind::Duplicate,
                DeliveryKind::Duplicate,
                DeliveryKind::Duplicate
            ],
            "task {id}"
        );
        assert!(
            journal.iter().all(|r| status(r) == Some(200)),
            "every copy is acknowledged: {journal:?}"
        );
        let truth = env.truth(*id);
        assert!(journal.iter().all(|r| sent_code(r, truth.code())));
        assert_eq!(source(&env, *id), ResultSource::Pingback);
        assert_eq!(env.polls(*id), 0, "the pingback came in the quiet period");
    }
    let stats = env.store.stats();
    assert_eq!(
        (stats.stored, stats.duplicates, stats.conflicts),
        (5, 15, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_conflicting_duplicate_never_replaces_the_first_result() {
    let env = Setup::new(vec![FaultRule::always(duplicate(2, secs(2), true))])
        .start()
        .await;
    let results = env.solve_all(&turnstiles(5)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    for (id, _) in &results {
        let journal = env.deliveries(*id);
        let kinds: Vec<DeliveryKind> = journal.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                DeliveryKind::Genuine,
                DeliveryKind::Conflicting,
                DeliveryKind::Duplicate
            ]
        );
        assert!(
            journal.iter().all(|r| status(r) == Some(200)),
            "{journal:?}"
        );
        // The conflicting copy was really sent, with another code than the truth...
        let sent = &journal[1];
        let truth = env.truth(*id);
        assert!(sent_code(&journal[0], truth.code()));
        assert!(!sent_code(sent, truth.code()));
        // ...the receiver saw exactly that code and kept the first one.
        let conflicts: Vec<(String, String)> = env
            .events_of(*id)
            .into_iter()
            .filter_map(|e| match e {
                StoreEvent::Conflict { kept, rejected, .. } => Some((kept, rejected)),
                _ => None,
            })
            .collect();
        assert_eq!(conflicts.len(), 1, "task {id}");
        let (kept, rejected) = &conflicts[0];
        assert_eq!(kept, truth.code());
        assert!(sent_code(sent, rejected), "{rejected} vs {sent:?}");
    }
    let stats = env.store.stats();
    assert_eq!((stats.stored, stats.duplicates, stats.conflicts), (5, 5, 5));
}

#[tokio::test(start_paused = true)]
async fn dropped_pingbacks_fall_back_to_polling() {
    let env = Setup::new(vec![FaultRule::always(Fault::Drop).with_probability(0.5)])
        .quiet_period(secs(30))
        .start()
        .await;
    let results = env.solve_all(&turnstiles(12)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    let (mut dropped, mut sent) = (0, 0);
    for (id, _) in &results {
        let journal = env.deliveries(*id);
        assert_eq!(journal.len(), 1, "{journal:?}");
        if journal[0].outcome == AttemptOutcome::Dropped {
            dropped += 1;
            assert_eq!(source(&env, *id), ResultSource::Poll, "task {id}");
            assert!(env.polls(*id) >= 1);
        } else {
            sent += 1;
            assert!(delivered(&journal[0]), "{journal:?}");
            assert_eq!(source(&env, *id), ResultSource::Pingback, "task {id}");
            assert_eq!(
                env.polls(*id),
                0,
                "task {id} polled although its pingback came"
            );
        }
    }
    assert!(
        dropped > 0 && sent > 0,
        "seed 7 drops some: {dropped} dropped, {sent} sent"
    );
    assert_eq!(env.mock.pingback_stats().dropped, dropped);
}

#[tokio::test(start_paused = true)]
async fn when_every_pingback_is_dropped_polling_delivers_and_pingback_only_times_out() {
    let env = Setup::new(vec![FaultRule::always(Fault::Drop)])
        .quiet_period(secs(20))
        .start()
        .await;
    let results = env.solve_all(&turnstiles(6)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    for (id, _) in &results {
        assert_eq!(source(&env, *id), ResultSource::Poll);
        let journal = env.deliveries(*id);
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].outcome, AttemptOutcome::Dropped);
    }
    let stats = env.mock.pingback_stats();
    assert_eq!((stats.delivered, stats.dropped), (0, 6));

    // Without the fallback the result is lost: the solve ends in a timeout although the
    // task was solved long before.
    let only = Setup::new(vec![FaultRule::always(Fault::Drop)])
        .strategy(Strategy::PingbackOnly)
        .deadline(secs(90))
        .start()
        .await;
    let task = turnstile();
    let id = only.solver.submit(&task).await.unwrap();
    let err = only.solver.wait_for(&task, id).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(matches!(only.truth(id), Outcome::Solved { .. }));
    assert_eq!(only.polls(id), 0);
}

#[tokio::test(start_paused = true)]
async fn early_pingbacks_before_the_submit_answer_are_kept() {
    // Task ids as JSON integers, as CaptchaAI production sends them for token types.
    let env = Setup::new(vec![FaultRule::always(Fault::Early)])
        .config(|c| c.task_id = TaskIdEncoding::Integer)
        .start()
        .await;
    let results = env.solve_all(&turnstiles(4)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    for (id, _) in &results {
        let journal = env.deliveries(*id);
        assert_eq!(journal.len(), 1);
        assert_eq!(&*journal[0].fault, "early");
        assert_eq!(status(&journal[0]), Some(200));
        // The result was in the store before the submitter registered the id.
        let events = env.events_of(*id);
        let stored = events
            .iter()
            .position(|e| matches!(e, StoreEvent::Stored(_)));
        let registered = events
            .iter()
            .position(|e| matches!(e, StoreEvent::Registered { .. }));
        assert!(stored < registered, "task {id}: {events:?}");
        assert_eq!(source(&env, *id), ResultSource::Pingback);
        assert_eq!(env.polls(*id), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn registered_only_mode_refuses_early_pingbacks_and_polling_recovers() {
    let env = Setup::new(vec![FaultRule::always(Fault::Early)])
        .registered_only(true)
        .quiet_period(secs(20))
        .start()
        .await;
    let results = env.solve_all(&turnstiles(3)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    for (id, _) in &results {
        let journal = env.deliveries(*id);
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].outcome, AttemptOutcome::Rejected { status: 404 });
        let events = env.events_of(*id);
        assert!(
            matches!(
                events.first(),
                Some(StoreEvent::Rejected {
                    reason: RejectReason::UnknownTask,
                    ..
                })
            ),
            "{events:?}"
        );
        assert_eq!(source(&env, *id), ResultSource::Poll);
    }
}

#[tokio::test(start_paused = true)]
async fn reordered_pingbacks_reach_their_own_tasks() {
    let rule = FaultRule::always(Fault::Reorder(ReorderFault {
        window: 5,
        max_hold: secs(30),
    }));
    let env = Setup::new(vec![rule]).start().await;
    let config = FanOutConfig::new(secs(600)).rate(Rate::every(secs(1)));
    let tasks = turnstiles(20).into_iter().enumerate();
    let out = fan_out_collect(&env.solver, tasks, config).await;
    env.settle().await;

    let mut refs: Vec<usize> = out.iter().map(|(i, _)| *i).collect();
    refs.sort_unstable();
    assert_eq!(refs, (0..20).collect::<Vec<_>>(), "every task once");
    let results: Vec<_> = out
        .into_iter()
        .map(|(_, r)| {
            let solution = r.expect("solved");
            (solution.task_id(), Ok(solution))
        })
        .collect();
    env.assert_exactly_once_with_truth(&results);

    // Tasks finish in id order (one submit a second, equal solve times); the mock delivered
    // them permuted within windows of five.
    let order: Vec<u64> = env.all_deliveries().iter().map(|r| r.task_id).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order.len(), 20);
    assert_ne!(order, sorted, "the deliveries were not reordered");
    for (window, ids) in order.chunks(5).zip(sorted.chunks(5)) {
        let mut w = window.to_vec();
        w.sort_unstable();
        assert_eq!(w, ids, "a window holds five consecutive tasks");
    }
    for (id, _) in &results {
        assert_eq!(source(&env, *id), ResultSource::Pingback);
    }
}

#[tokio::test(start_paused = true)]
async fn delayed_pingbacks_racing_polls_are_dispatched_once() {
    let delay = Fault::Delay(Distribution::Uniform {
        min: Duration::ZERO,
        max: secs(60),
    });
    let env = Setup::new(vec![FaultRule::always(delay)])
        .quiet_period(secs(20))
        .start()
        .await;
    let seen: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let log = Arc::clone(&seen);
    let router = ResultRouter::builder()
        .route("app", move |d| log.lock().unwrap().push(d))
        .build(&env.store);
    let tasks = turnstiles(12);
    let results = join_all(tasks.iter().map(|task| {
        let router = router.clone();
        let env = &env;
        async move {
            let id = env.solver.submit(task).await.unwrap();
            router.assign(id, "app").await.unwrap();
            (id, env.solver.wait_for(task, id).await)
        }
    }))
    .await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    let (mut by_poll, mut by_pingback) = (0, 0);
    for (id, _) in &results {
        let journal = env.deliveries(*id);
        assert_eq!(journal.len(), 1);
        assert!(
            delivered(&journal[0]),
            "the delayed pingback still came: {journal:?}"
        );
        match source(&env, *id) {
            ResultSource::Poll => {
                by_poll += 1;
                // The pingback came after the poll: an identical duplicate, not a conflict.
                let late = env.events_of(*id).into_iter().any(|e| {
                    matches!(
                        e,
                        StoreEvent::Duplicate {
                            source: ResultSource::Pingback,
                            ..
                        }
                    )
                });
                assert!(late, "task {id}");
            }
            _ => {
                by_pingback += 1;
                assert_eq!(env.polls(*id), 0);
            }
        }
    }
    assert!(
        by_poll > 0 && by_pingback > 0,
        "{by_poll} by poll, {by_pingback} by pingback"
    );
    assert_eq!(env.store.stats().conflicts, 0);

    let seen = seen.lock().unwrap();
    let mut per_task: BTreeMap<TaskId, usize> = BTreeMap::new();
    for d in seen.iter() {
        *per_task.entry(d.result.task_id()).or_default() += 1;
        assert_eq!(d.result.code(), env.truth(d.result.task_id()).code());
    }
    assert_eq!(per_task.len(), 12);
    assert!(per_task.values().all(|n| *n == 1), "{per_task:?}");
}

#[tokio::test(start_paused = true)]
async fn receiver_500s_are_retried_by_the_mock_until_acknowledged() {
    let retry = Fault::Retry(RetryPolicy::Fixed {
        interval: secs(3),
        attempts: 5,
    });
    for fault in [ReceiverFault::FailBefore(2), ReceiverFault::FailAfter(2)] {
        let env = Setup::new(vec![FaultRule::always(retry.clone())])
            .strategy(Strategy::PingbackOnly)
            .receiver_fault(fault)
            .start()
            .await;
        let results = env.solve_all(&turnstiles(3)).await;
        env.settle().await;

        env.assert_exactly_once_with_truth(&results);
        for (id, _) in &results {
            let journal = env.deliveries(*id);
            let attempts: Vec<(u32, Option<u16>)> =
                journal.iter().map(|r| (r.attempt, status(r))).collect();
            assert_eq!(
                attempts,
                [(1, Some(500)), (2, Some(500)), (3, Some(200))],
                "{fault:?} task {id}"
            );
            assert_eq!(journal[2].sent_at_ms - journal[0].sent_at_ms, 6_000);
            assert_eq!(env.polls(*id), 0);
        }
        let stats = env.store.stats();
        let duplicates = match fault {
            // Nothing reached the store before the third attempt.
            ReceiverFault::FailBefore(_) => 0,
            // The first attempt was recorded; the retries are duplicates.
            _ => 6,
        };
        assert_eq!(
            (stats.stored, stats.duplicates),
            (3, duplicates),
            "{fault:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn unsolvable_tasks_arrive_by_pingback_as_unsolvable_errors() {
    let env = Setup::new(Vec::new())
        .config(|c| c.solving.unsolvable_rate = 0.5)
        .start()
        .await;
    let results = env.solve_all(&turnstiles(10)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    let mut failed = 0;
    for (id, result) in &results {
        assert_eq!(source(&env, *id), ResultSource::Pingback);
        assert_eq!(env.polls(*id), 0);
        let journal = env.deliveries(*id);
        assert_eq!(journal.len(), 1);
        assert!(sent_code(&journal[0], env.truth(*id).code()), "{journal:?}");
        if let Err(e) = result {
            failed += 1;
            assert!(e.is_unsolvable(), "{e}");
            assert_eq!(env.kept(*id).code(), "ERROR_CAPTCHA_UNSOLVABLE");
        }
    }
    assert!((1..10).contains(&failed), "seed 7 fails some: {failed}");
}

#[tokio::test(start_paused = true)]
async fn malformed_callbacks_are_refused_and_never_change_the_store() {
    let cases = [
        (MalformedKind::MissingId, Dialect::Captchaai),
        (MalformedKind::MissingCode, Dialect::Captchaai),
        (MalformedKind::NonNumericId, Dialect::Captchaai),
        (MalformedKind::UnknownId, Dialect::Captchaai),
        (MalformedKind::StaleId, Dialect::Captchaai),
        // The mock cannot send a 100 000-character code in a GET query (the URL is longer
        // than the http crate accepts, so the attempt fails inside the mock): use the POST
        // form dialect, where the code travels in the body.
        (MalformedKind::OversizedCode, Dialect::TwoCaptcha),
        (MalformedKind::WrongMethod, Dialect::Captchaai),
    ];
    for (kind, dialect) in cases {
        // Unknown ids are only refusable when the receiver knows which ids are its own;
        // without registration they are kept like early pingbacks (by design).
        let registered_only = matches!(kind, MalformedKind::UnknownId | MalformedKind::StaleId);
        let env = Setup::new(vec![FaultRule::always(Fault::Malformed(kind))])
            .registered_only(registered_only)
            .config(|c| c.dialect = dialect)
            .start()
            .await;
        if dialect == Dialect::TwoCaptcha {
            env.add_pingback_host().await;
        }
        // One after the other: a stale id then names a task whose result is already in.
        let results = env.solve_in_turn(&turnstiles(3)).await;
        env.settle().await;

        env.assert_exactly_once_with_truth(&results);
        assert_eq!(
            env.store.len().await.unwrap(),
            3,
            "{kind:?}: no entry for a foreign id"
        );
        let never_issued = (env.mock.config().first_task_id - 1).to_string();
        let mut refused = 0;
        let mut acknowledged_stale = 0;
        for (id, _) in &results {
            let journal = env.deliveries(*id);
            let kinds: Vec<DeliveryKind> = journal.iter().map(|r| r.kind).collect();
            assert_eq!(
                kinds,
                [DeliveryKind::Malformed(kind), DeliveryKind::Genuine],
                "{kind:?}"
            );
            let bad = &journal[0];
            let code = status(bad).unwrap_or_else(|| {
                let outcome: String = format!("{:?}", bad.outcome).chars().take(300).collect();
                panic!("{kind:?}: the malformed callback never reached the receiver: {outcome}")
            });
            match kind {
                // The other HTTP method carries a valid callback, which the receiver accepts.
                MalformedKind::WrongMethod => {
                    assert_eq!(code, 200);
                    assert_eq!(bad.method, CallbackMethod::Post);
                }
                // An earlier task's id with another code: acknowledged as a conflict, except
                // for the first task, whose "earlier" id was never issued.
                MalformedKind::StaleId if bad.id.as_deref() != Some(never_issued.as_str()) => {
                    assert_eq!(code, 200, "{:?}", bad.outcome);
                    acknowledged_stale += 1;
                }
                _ => {
                    assert!((400..500).contains(&code), "{kind:?} answered {code}");
                    refused += 1;
                }
            }
            assert_eq!(status(&journal[1]), Some(200));
        }
        let stats = env.store.stats();
        assert_eq!(stats.rejected, refused, "{kind:?}");
        assert_eq!(stats.conflicts, acknowledged_stale, "{kind:?}");
        if kind == MalformedKind::StaleId {
            assert_eq!(acknowledged_stale, 2);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn two_captcha_dialect_posts_form_callbacks_to_registered_hosts_only() {
    let env = Setup::new(vec![FaultRule::always(duplicate(1, secs(1), false))])
        .config(|c| c.dialect = Dialect::TwoCaptcha)
        .json(false)
        .start()
        .await;

    // Unregistered host: the submit is refused.
    let err = env.solver.submit(&turnstile()).await.unwrap_err();
    assert_eq!(err.api_code(), Some("ERROR_IP_ADDRES"), "{err}");

    // The client has no API for add_pingback: register with a plain res.php request.
    env.add_pingback_host().await;
    // 2captcha answers `OK|host1|host2` (what rucaptcha-php's `getPingbacks` reads).
    let hosts = env.res(&[("action", "get_pingback")]).await;
    let listed = hosts
        .strip_prefix("OK|")
        .unwrap_or_else(|| panic!("get_pingback answers OK|hosts: {hosts}"));
    assert!(
        listed.split('|').any(|h| env.pingback_url.contains(h)),
        "{hosts}"
    );

    let results = env.solve_all(&turnstiles(4)).await;
    env.settle().await;

    env.assert_exactly_once_with_truth(&results);
    for (id, _) in &results {
        let journal = env.deliveries(*id);
        assert_eq!(journal.len(), 2);
        assert!(journal.iter().all(|r| r.method == CallbackMethod::Post));
        assert!(
            journal.iter().all(|r| status(r) == Some(200)),
            "{journal:?}"
        );
        assert_eq!(source(&env, *id), ResultSource::Pingback);
        assert_eq!(env.polls(*id), 0);
    }
    assert_eq!(env.store.stats().duplicates, 4);
}
