//! A run's random draws do not depend on where its task ids start: a harness
//! that gives each run unique ids (to grade a long-lived external receiver)
//! replays exactly what a default run does with the same seed.

use std::time::Duration;

use captchaai_mock::{
    Config, DuplicateFault, Fault, FaultRule, MalformedKind, MockServer, Outcome,
};

fn config(first_task_id: u64) -> Config {
    let mut cfg = Config {
        seed: 77,
        first_task_id,
        ..Config::default()
    };
    cfg.accounts = vec![captchaai_mock::AccountConfig {
        threads: 100,
        ..captchaai_mock::AccountConfig::new(captchaai_mock::DEFAULT_KEY)
    }];
    cfg.solving.unsolvable_rate = 0.3;
    cfg.pingback.rules = vec![
        FaultRule::always(Fault::Drop).with_probability(0.2),
        FaultRule::always(Fault::Duplicate(DuplicateFault {
            copies: 2,
            spacing: Duration::from_secs(1),
            conflicting: true,
        }))
        .with_probability(0.3),
        FaultRule::always(Fault::Malformed(MalformedKind::MissingCode)).with_probability(0.3),
    ];
    cfg
}

/// (ordinal, outcome, finish time, fault, planned callbacks) per task.
async fn run(first_task_id: u64) -> Vec<(u64, Outcome, Option<u64>, String, usize)> {
    let mock = MockServer::start_with(config(first_task_id)).await.unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for i in 0..20 {
        let method = if i % 2 == 0 {
            "turnstile"
        } else {
            "userrecaptcha"
        };
        let r = http
            .get(format!("{}/in.php", mock.uri()))
            .query(&[
                ("key", mock.key().as_str()),
                ("method", method),
                ("sitekey", "0x4AAA"),
                ("googlekey", "6LcAAA"),
                ("pageurl", "https://example.com"),
                ("pingback", "http://127.0.0.1:9/hook"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(r.starts_with("OK|"), "{r}");
    }
    let mut tasks = mock.tasks();
    tasks.sort_by_key(|t| t.ordinal);
    tasks
        .into_iter()
        .map(|t| {
            let s = t.schedule.expect("a pingback schedule");
            assert_eq!(s.task_id, t.id, "the schedule is labelled with the real id");
            (
                t.ordinal,
                t.outcome,
                t.finish_at_ms,
                s.fault,
                s.deliveries.len(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn draws_follow_the_position_not_the_id() {
    let default = run(captchaai_mock::DEFAULT_FIRST_TASK_ID).await;
    let shifted = run(75_000_000_000_001).await;
    assert_eq!(default, shifted);
    let faults: std::collections::BTreeSet<&str> = default.iter().map(|t| t.3.as_str()).collect();
    assert!(
        faults.len() >= 3,
        "the rules really drew different faults: {faults:?}"
    );
    assert!(
        default
            .iter()
            .any(|t| matches!(t.1, Outcome::Failed { .. }))
    );
}
