//! Pingback control through the admin API: rules replaced at run time apply to
//! new tasks only, reset restores the configured rules and cancels pending
//! deliveries, and a task's compiled schedule is readable before it finishes
//! and shows its attempts after.

use std::time::Duration;

use crate::support::pingback::*;
use captchaai_mock::{Dialect, DuplicateFault, Fault, FaultRule, MalformedKind};
use serde_json::{Value, json};

fn duplicate_every(spacing: Duration) -> FaultRule {
    FaultRule::always(Fault::Duplicate(DuplicateFault {
        copies: 1,
        spacing,
        conflicting: false,
    }))
}

async fn put_rules(mock: &Mock, body: &str) -> (u16, Value) {
    let resp = mock
        .client
        .put(format!("{}/__admin/pingback/rules", mock.server.uri()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn ids(hits: &[Callback]) -> Vec<u64> {
    hits.iter()
        .map(|h| h.param("id").unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn rules_put_at_run_time_apply_to_new_tasks_and_reset_restores_the_config() {
    let rx = recorder().await;
    let config_rules = vec![duplicate_every(Duration::from_secs(1))];
    let mock = Mock::start(config(5, Dialect::Captchaai, config_rules.clone())).await;
    let url = rx.url("/hook");
    assert_eq!(
        mock.admin_get("/pingback/rules").await,
        serde_json::to_value(&config_rules).unwrap()
    );

    let a = mock.submit(&url).await;
    let (status, body) = put_rules(&mock, r#"[{ "name": "lose it", "fault": "drop" }]"#).await;
    assert_eq!((status, body), (200, json!({ "status": "ok", "rules": 1 })));
    let b = mock.submit(&url).await;
    assert_eq!(
        mock.admin_get("/pingback/rules").await,
        json!([{ "name": "lose it", "probability": 1.0, "match": {}, "fault": "drop" }])
    );
    until_ms(&mock, 60_000).await;

    // A kept the schedule it was compiled with; B got the new rule.
    assert_eq!(ids(&rx.callbacks()), vec![a, a]);
    assert_eq!(
        mock.journal(b)[0].outcome,
        captchaai_mock::AttemptOutcome::Dropped
    );
    let sb = mock.server.task(b).unwrap().schedule.unwrap();
    assert_eq!(sb.rule_name.as_deref(), Some("lose it"));

    let reset = mock
        .client
        .post(format!("{}/__admin/reset", mock.server.uri()))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
    assert_eq!(
        mock.admin_get("/pingback/rules").await,
        serde_json::to_value(&config_rules).unwrap(),
        "reset restores the configured rules"
    );
    assert_eq!(mock.admin_get("/pingbacks").await, json!([]));
    let c = mock.submit(&url).await;
    assert_eq!(c, a, "ids restart after reset");
    until_ms(&mock, 120_000).await;
    let hits = rx.callbacks();
    assert_eq!(
        ids(&hits[2..]),
        vec![c, c],
        "the duplicate rule applies again"
    );
    assert_eq!(
        hits[2..]
            .iter()
            .map(|h| mock.ms(h.received))
            .collect::<Vec<_>>(),
        vec![65_000, 66_000]
    );
}

#[tokio::test(start_paused = true)]
async fn rules_read_back_from_the_admin_api_can_be_put_back() {
    let mock = Mock::start(config(5, Dialect::Captchaai, vec![])).await;
    let rules = r#"[
        { "name": "slow", "probability": 0.5,
          "match": { "methods": ["turnstile"], "tasks": { "from": 1, "to": 9 }, "url": "/hook" },
          "fault": { "delay": { "normal": { "mean": "2s", "std-dev": "500ms" } } } },
        { "fault": { "delay": { "uniform": { "min": "1s", "max": "1m 30s" } } } },
        { "fault": { "delay": { "log-normal": { "median": "3s", "sigma": 0.5 } } } },
        { "fault": { "delay": { "fixed": "250ms" } } },
        { "fault": { "duplicate": { "copies": 2, "spacing": "1s", "conflicting": true } } },
        { "fault": { "reorder": { "window": 4, "max-hold": "5s" } } },
        { "fault": { "malformed": "stale-id" } },
        { "fault": "early" },
        { "fault": { "retry": { "exponential": { "initial": "1s", "factor": 2.0, "max": "1m", "attempts": 6 } } } },
        { "fault": { "retry": { "preset": "svix" } } },
        { "fault": "none" }
    ]"#;
    assert_eq!(put_rules(&mock, rules).await.0, 200);
    let read = mock.admin_get("/pingback/rules").await;
    // What the API shows is accepted back as is, and reads back the same.
    let (status, body) = put_rules(&mock, &read.to_string()).await;
    assert_eq!(status, 200, "{body} for {read:#}");
    assert_eq!(mock.admin_get("/pingback/rules").await, read);
    let parsed: Vec<FaultRule> = serde_json::from_str(rules).unwrap();
    assert_eq!(mock.server.rules(), parsed);
}

#[tokio::test(start_paused = true)]
async fn invalid_rules_are_refused_with_the_reason_and_change_nothing() {
    let config_rules = vec![FaultRule::always(Fault::Malformed(
        MalformedKind::MissingId,
    ))];
    let mock = Mock::start(config(5, Dialect::Captchaai, config_rules.clone())).await;
    for (body, says) in [
        (r#"[{ "fault": "dorp" }]"#, "dorp"),
        (
            r#"[{ "probability": 1.5, "fault": "drop" }]"#,
            "probability must be between 0 and 1",
        ),
        (
            r#"[{ "fault": { "duplicate": { "copies": 0 } } }]"#,
            "copies must be between 1 and 100",
        ),
        (r#"[{ "fualt": "drop" }]"#, "fualt"),
    ] {
        let (status, resp) = put_rules(&mock, body).await;
        assert_eq!(status, 400, "{body}");
        let msg = resp["error"].as_str().unwrap();
        assert!(msg.contains(says), "{msg}");
    }
    assert_eq!(mock.server.rules(), config_rules);
}

#[tokio::test(start_paused = true)]
async fn the_schedule_is_readable_before_the_task_finishes_and_shows_attempts_after() {
    let rx = recorder().await;
    let mock = Mock::start(config(
        5,
        Dialect::Captchaai,
        vec![duplicate_every(Duration::from_secs(2))],
    ))
    .await;
    let id = mock.submit(&rx.url("/hook")).await;
    until_ms(&mock, 1000).await;

    let before = mock.admin_get(&format!("/tasks/{id}/schedule")).await;
    assert_eq!(before["task"], id);
    assert_eq!(before["attempts"], json!([]));
    let s = &before["schedule"];
    assert_eq!(s["task_id"], id);
    assert_eq!(s["ordinal"], 1);
    assert_eq!(s["rule"], 0);
    assert_eq!(s["fault"], "duplicate x1 every 2s");
    assert_eq!(
        s["deliveries"],
        json!([
            { "kind": "genuine", "offset": "0s", "method": "GET" },
            { "kind": "duplicate", "offset": "2s", "method": "GET" }
        ])
    );
    assert_eq!(s["retry"], "none");
    assert_eq!(
        (s["dropped"].clone(), s["early"].clone()),
        (json!(false), json!(false))
    );
    // The task view carries the same schedule.
    assert_eq!(
        mock.admin_get(&format!("/tasks/{id}")).await["schedule"],
        *s
    );

    until_ms(&mock, 60_000).await;
    let after = mock.admin_get(&format!("/tasks/{id}/schedule")).await;
    assert_eq!(after["schedule"], *s, "the schedule does not change");
    let attempts = after["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    for (a, (kind, at)) in attempts
        .iter()
        .zip([("genuine", 5000), ("duplicate", 7000)])
    {
        assert_eq!(a["kind"], kind);
        assert_eq!(a["sent_at_ms"], at);
        assert_eq!(a["attempt"], 1);
        assert_eq!(
            a["outcome"],
            json!({ "result": "delivered", "status": 200 })
        );
        assert_eq!(a["last_attempt"], true);
    }
    assert_eq!(
        mock.admin_get(&format!("/pingbacks?task={id}")).await,
        after["attempts"]
    );
    let missing = mock
        .client
        .get(format!("{}/__admin/tasks/1/schedule", mock.server.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test(start_paused = true)]
async fn reset_cancels_deliveries_not_yet_sent() {
    let rx = recorder().await;
    let mock = Mock::start(config(
        5,
        Dialect::Captchaai,
        vec![duplicate_every(Duration::from_secs(10))],
    ))
    .await;
    let id = mock.submit(&rx.url("/hook")).await;
    until_ms(&mock, 8000).await;
    assert_eq!(
        ids(&rx.callbacks()),
        vec![id],
        "the genuine callback went at 5 s"
    );
    mock.server.reset();
    until_ms(&mock, 60_000).await;
    assert_eq!(
        rx.callbacks().len(),
        1,
        "the copy due at 15 s was cancelled"
    );
    assert!(mock.journal_all().is_empty());
    assert_eq!(mock.server.pingback_stats().pending, 0);
}
