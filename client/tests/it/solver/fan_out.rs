//! Fan-out: rate-limited submits, results streamed once, the batch deadline, the
//! concurrency cap.

use std::num::NonZeroU32;
use std::time::Duration;

use captchaai_client::fanout::{FanOutConfig, Rate, fan_out};
use captchaai_client::strategy::Strategy;
use futures::StreamExt as _;
use tokio::time::Instant;

use super::{Env, Pingback, Plan};
use crate::support::{secs, turnstile};

#[tokio::test(start_paused = true)]
async fn fan_out_rate_limits_submits_and_streams_every_result_once() {
    let env = Env::start(Plan::new(secs(3), Pingback::After(secs(3)))).await;
    let solver = env.solver(Strategy::PingbackOnly);
    let tasks = (0..6).map(|i| (format!("job-{i}"), turnstile()));
    let config = FanOutConfig::new(secs(60)).rate(Rate::per_second(NonZeroU32::new(2).unwrap()));
    let results: Vec<(String, _)> = fan_out(&solver, tasks, config).collect().await;
    assert_eq!(results.len(), 6);
    let mut refs: Vec<&str> = results.iter().map(|(r, _)| r.as_str()).collect();
    refs.sort_unstable();
    assert_eq!(refs, ["job-0", "job-1", "job-2", "job-3", "job-4", "job-5"]);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    let submits = env.submits();
    let t0 = submits[0].0;
    for (i, (at, _)) in submits.iter().enumerate() {
        let expected = Duration::from_millis(500) * i as u32;
        let offset = *at - t0;
        assert!(
            offset >= expected && offset < expected + Duration::from_millis(50),
            "submit {i} at {offset:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn fan_out_deadline_times_out_running_and_unsubmitted_tasks() {
    let env = Env::start(Plan::new(secs(1000), Pingback::Drop)).await;
    let solver = env.solver(Strategy::PingbackOnly);
    let tasks = (0..4).map(|i| (i, turnstile()));
    let config = FanOutConfig::new(secs(7)).rate(Rate::every(secs(5)));
    let started = Instant::now();
    let results: Vec<(i32, _)> = fan_out(&solver, tasks, config).collect().await;
    let elapsed = started.elapsed();
    assert!(elapsed >= secs(7) && elapsed < secs(8), "{elapsed:?}");
    assert_eq!(
        results.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(
        results
            .iter()
            .all(|(_, r)| r.as_ref().unwrap_err().is_timeout())
    );
    assert_eq!(env.submits().len(), 2, "submits at 0 s and 5 s only");
}

#[tokio::test(start_paused = true)]
async fn fan_out_respects_max_in_flight() {
    let env = Env::start(Plan::new(secs(4), Pingback::After(secs(4)))).await;
    let solver = env.solver(Strategy::PingbackOnly);
    let tasks = (0..4).map(|i| (i, turnstile()));
    let config = FanOutConfig::new(secs(60)).max_in_flight(std::num::NonZeroUsize::new(2).unwrap());
    let results: Vec<(i32, _)> = fan_out(&solver, tasks, config).collect().await;
    assert_eq!(results.len(), 4);
    let submits = env.submits();
    let t0 = submits[0].0;
    let offsets: Vec<u64> = submits.iter().map(|(at, _)| (*at - t0).as_secs()).collect();
    assert_eq!(offsets, vec![0, 0, 4, 4]);
}
