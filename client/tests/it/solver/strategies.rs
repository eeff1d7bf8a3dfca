//! Each strategy's timing and outcome: poll only, pingback only, pingback with fallback;
//! early, late, lost and failed pingbacks; deadlines.

use std::time::Duration;

use captchaai_client::Client;
use captchaai_client::receiver::{ResultSource, StoreEvent};
use captchaai_client::strategy::{Solver, Strategy};
use tokio::time::Instant;

use super::{Env, Pingback, Plan, assert_offsets};
use crate::support::{KEY, secs, turnstile};

#[tokio::test(start_paused = true)]
async fn poll_only_follows_the_sdk_timing_and_sends_no_pingback() {
    let env = Env::start(Plan::new(secs(12), Pingback::Drop)).await;
    let solution = env
        .solver(Strategy::PollOnly)
        .solve(&turnstile())
        .await
        .unwrap();
    assert_eq!(solution.token(), Some("token-1001"));
    assert_eq!(env.submits()[0].1, None, "no pingback url for PollOnly");
    // Turnstile: first poll after 10 s, then every 5 s.
    assert_offsets(&env.poll_offsets(), &[10, 15]);
    let kept = env.store.get(solution.task_id()).await.unwrap().unwrap();
    assert_eq!(kept.source(), ResultSource::Poll);
}

#[tokio::test(start_paused = true)]
async fn pingback_only_waits_for_the_callback_and_never_polls() {
    let env = Env::start(Plan::new(secs(7), Pingback::After(secs(7)))).await;
    let started = Instant::now();
    let solution = env
        .solver(Strategy::PingbackOnly)
        .solve(&turnstile())
        .await
        .unwrap();
    assert_eq!(solution.token(), Some("token-1001"));
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(7) && elapsed < secs(8), "{elapsed:?}");
    assert!(env.poll_offsets().is_empty());
    let url = env.submits()[0].1.clone().unwrap();
    assert!(url.ends_with("/pingback?token=s3cret"), "{url}");
    // Let the fake see the receiver's answer.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(env.fake.state.lock().unwrap().pingbacks[0].2, 200);
}

#[tokio::test(start_paused = true)]
async fn fallback_does_not_poll_when_the_pingback_arrives_in_the_quiet_period() {
    let env = Env::start(Plan::new(secs(7), Pingback::After(secs(7)))).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(20),
    };
    let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
    assert_eq!(solution.raw(), "token-1001");
    assert!(env.poll_offsets().is_empty());
}

#[tokio::test(start_paused = true)]
async fn fallback_polls_after_the_quiet_period_when_the_pingback_is_lost() {
    let env = Env::start(Plan::new(secs(27), Pingback::Drop)).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(20),
    };
    let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
    assert_eq!(solution.raw(), "token-1001");
    // First poll right at the end of the quiet period, then the interval.
    assert_offsets(&env.poll_offsets(), &[20, 25, 30]);
    assert_eq!(
        env.store
            .get(solution.task_id())
            .await
            .unwrap()
            .unwrap()
            .source(),
        ResultSource::Poll
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_pingback_after_a_polled_result_is_a_no_op() {
    let env = Env::start(Plan::new(secs(6), Pingback::After(secs(30)))).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(5),
    };
    let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
    // The quiet period (5 s) is shorter than Turnstile's initial wait (10 s): the first poll
    // waits for the latter.
    assert_offsets(&env.poll_offsets(), &[10]);
    tokio::time::sleep(secs(40)).await;
    let pingbacks = env.fake.state.lock().unwrap().pingbacks.clone();
    assert_eq!(pingbacks.len(), 1);
    assert_eq!(pingbacks[0].2, 200, "the late pingback is acknowledged");
    let stats = env.store.stats();
    assert_eq!((stats.stored, stats.duplicates, stats.conflicts), (1, 1, 0));
    assert_eq!(
        env.store
            .get(solution.task_id())
            .await
            .unwrap()
            .unwrap()
            .source(),
        ResultSource::Poll
    );
    assert_offsets(&env.poll_offsets(), &[10]);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_period_longer_than_an_overridden_initial_wait_rules() {
    let env = Env::start(Plan::new(secs(9), Pingback::Drop)).await;
    let client = Client::builder(env.fake_base.clone(), KEY)
        .poll_timing_override(Duration::ZERO, secs(3))
        .build()
        .unwrap();
    let solver = Solver::new(
        client,
        env.store.clone(),
        Strategy::PingbackWithFallback {
            quiet_period: secs(4),
        },
    )
    .with_pingback_url(env.pingback_url.clone());
    solver.solve(&turnstile()).await.unwrap();
    assert_offsets(&env.poll_offsets(), &[4, 7, 10]);
}

#[tokio::test(start_paused = true)]
async fn an_early_pingback_before_the_submit_answer_is_not_lost() {
    for strategy in [
        Strategy::PingbackOnly,
        Strategy::PingbackWithFallback {
            quiet_period: secs(20),
        },
    ] {
        let env = Env::start(Plan::new(secs(0), Pingback::BeforeSubmitAnswer)).await;
        let started = Instant::now();
        let solution = env.solver(strategy).solve(&turnstile()).await.unwrap();
        assert_eq!(solution.raw(), "token-1001");
        assert!(started.elapsed() < Duration::from_millis(50));
        assert!(env.poll_offsets().is_empty());
        let events = env.events.lock().unwrap().clone();
        let stored_at = events
            .iter()
            .position(|e| matches!(e, StoreEvent::Stored(_)))
            .unwrap();
        let registered_at = events
            .iter()
            .position(|e| matches!(e, StoreEvent::Registered { .. }))
            .unwrap();
        assert!(
            stored_at < registered_at,
            "the result really came first: {events:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn pingback_only_times_out_at_the_deadline() {
    let env = Env::start(Plan::new(secs(1000), Pingback::Drop)).await;
    let started = Instant::now();
    let err = env
        .solver(Strategy::PingbackOnly)
        .solve(&turnstile())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(120) && elapsed < secs(121), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn poll_only_times_out_at_the_deadline_without_polling_closer_than_the_interval() {
    let env = Env::start(Plan::new(secs(1000), Pingback::Drop)).await;
    let started = Instant::now();
    let err = env
        .solver(Strategy::PollOnly)
        .solve(&turnstile())
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(120) && elapsed < secs(121), "{elapsed:?}");
    let offsets = env.poll_offsets();
    // 10, 15, ..., 115: a poll at 120 s would be at the deadline itself.
    assert_eq!(offsets.len(), 22, "{offsets:?}");
    for pair in offsets.windows(2) {
        assert!(pair[1] - pair[0] >= secs(5));
    }
}

#[tokio::test(start_paused = true)]
async fn an_unsolvable_pingback_is_an_unsolvable_error() {
    let mut plan = Plan::new(secs(3), Pingback::After(secs(3)));
    plan.code = Some("ERROR_CAPTCHA_UNSOLVABLE");
    let env = Env::start(plan).await;
    let err = env
        .solver(Strategy::PingbackOnly)
        .solve(&turnstile())
        .await
        .unwrap_err();
    assert!(err.is_unsolvable());
    assert_eq!(err.api_code(), Some("ERROR_CAPTCHA_UNSOLVABLE"));
}

#[tokio::test(start_paused = true)]
async fn an_unsolvable_poll_is_recorded_so_the_pingback_is_a_duplicate() {
    let mut plan = Plan::new(secs(3), Pingback::After(secs(30)));
    plan.code = Some("ERROR_CAPTCHA_UNSOLVABLE");
    let env = Env::start(plan).await;
    let strategy = Strategy::PingbackWithFallback {
        quiet_period: secs(5),
    };
    let err = env.solver(strategy).solve(&turnstile()).await.unwrap_err();
    assert!(err.is_unsolvable());
    tokio::time::sleep(secs(40)).await;
    let stats = env.store.stats();
    assert_eq!((stats.stored, stats.duplicates), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn pingback_strategies_need_a_url() {
    let env = Env::start(Plan::new(secs(1), Pingback::Drop)).await;
    let solver = Solver::new(
        env.client.clone(),
        env.store.clone(),
        Strategy::PingbackOnly,
    );
    let err = solver.solve(&turnstile()).await.unwrap_err();
    assert!(err.is_bad_input());
    assert!(env.submits().is_empty());
}

#[tokio::test(start_paused = true)]
async fn paused_clock_runs_are_deterministic() {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let env = Env::start(Plan::new(secs(33), Pingback::Drop)).await;
        let strategy = Strategy::PingbackWithFallback {
            quiet_period: secs(12),
        };
        env.solver(strategy).solve(&turnstile()).await.unwrap();
        runs.push(env.poll_offsets());
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[1], runs[2]);
}
