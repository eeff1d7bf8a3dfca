//! Fault rules with their documented bounds, the same from every front end, and results
//! that expire when read.

use std::{process::Command, time::Duration};

use serde_json::{Value, json};

use super::support::{Mock, http, mock_command, temp_dir};

/// The rules the admin API once accepted: a reorder holding for a million years, a hundred
/// copies at once.
const UNBOUNDED: [(&str, &str, &str); 3] = [
    (
        r#"{ "reorder": { "window": 5, "max-hold": "1000000years" } }"#,
        r#"{ reorder = { window = 5, max-hold = "1000000years" } }"#,
        "reorder.max-hold must be at most 1day",
    ),
    (
        r#"{ "duplicate": { "copies": 100, "spacing": "0s" } }"#,
        r#"{ duplicate = { copies = 100, spacing = "0s" } }"#,
        "duplicate.spacing must be at least 1ms",
    ),
    (
        r#"{ "duplicate": { "copies": 100, "spacing": "1h" } }"#,
        r#"{ duplicate = { copies = 100, spacing = "1h" } }"#,
        "duplicate: copies x spacing must be at most 1day",
    ),
];

/// Where a kind of rule is written: its admin route, its config table, its scenario table.
struct Fronts {
    admin: &'static str,
    config: &'static str,
    scenario: &'static str,
}

const PINGBACK_RULES: Fronts = Fronts {
    admin: "pingback/rules",
    config: "[[pingback.rules]]",
    scenario: "[[faults]]",
};

const API_RULES: Fronts = Fronts {
    admin: "api/rules",
    config: "[[api.rules]]",
    scenario: "[[api-faults]]",
};

/// Checks that the admin API, the config file and a scenario file each refuse the rule (as
/// JSON and as the lines of a TOML table) with `message`, and that the admin API replaced
/// nothing.
async fn refused_everywhere(fronts: &Fronts, json_rule: Value, toml_rule: &str, message: &str) {
    let mock = Mock::start(&[]);
    let dir = temp_dir();
    let resp = http()
        .put(format!("{}/__admin/{}", mock.loopback_url(), fronts.admin))
        .json(&json!([json_rule]))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 400, "admin API, {json_rule}: {body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains(message), "admin API: {error}");
    let (_, rules) = mock.admin(fronts.admin).await;
    assert_eq!(rules, json!([]), "nothing was replaced");

    let config = dir.path().join("mock.toml");
    std::fs::write(&config, format!("{}\n{toml_rule}\n", fronts.config)).unwrap();
    let out = mock_command(&["--config", &config.display().to_string()], &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "config file: {stderr}");
    assert!(stderr.contains(message), "config file: {stderr}");

    let scenario = std::fs::read_to_string(
        crate::bins::workspace().join("scenarios/strategies/poll-only.toml"),
    )
    .unwrap();
    let file = dir.path().join("bounds.toml");
    std::fs::write(
        &file,
        format!("{scenario}\n{}\n{toml_rule}\n", fronts.scenario),
    )
    .unwrap();
    let out = Command::new(crate::bins::conformance())
        .args(["check", &file.display().to_string()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "scenario: {stderr}");
    assert!(stderr.contains(message), "scenario: {stderr}");
}

/// The admin API, the config file and a scenario file refuse each with the same message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_rules_have_the_same_bounds_everywhere() {
    for (json_fault, toml_fault, message) in UNBOUNDED {
        let rule = json!({ "fault": serde_json::from_str::<Value>(json_fault).unwrap() });
        let toml_rule = format!("fault = {toml_fault}");
        refused_everywhere(&PINGBACK_RULES, rule, &toml_rule, message).await;
    }
}

/// API fault rules take the pingback rules' bounds (a stall of at most a day, a name of at
/// most 100 characters), from the admin API, the config file and a scenario file alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_fault_rules_have_the_same_bounds_everywhere() {
    let long = "n".repeat(101);
    refused_everywhere(
        &API_RULES,
        json!({ "fault": { "stall": "1000000years" } }),
        r#"fault = { stall = "1000000years" }"#,
        "stall must be above zero and at most 1day",
    )
    .await;
    refused_everywhere(
        &API_RULES,
        json!({ "name": long, "fault": "reset" }),
        &format!("name = \"{long}\"\nfault = \"reset\""),
        "name must be at most 100 characters",
    )
    .await;
}

/// A result past its TTL was served until the next submit ran the expiry. It expires when
/// read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_expire_when_read() {
    let dir = temp_dir();
    let mock = Mock::with_config(
        dir.path(),
        "time-scale = 10.0\n[solving]\ndefault-time = { fixed = \"1s\" }\nresult-ttl = \"1s\"\n",
        &[],
    );
    let submit = mock
        .api(
            "in.php",
            &format!(
                "key={}&method=turnstile&sitekey=0x4AAAAAAAC3DHQFLr1GavRN&pageurl=https://example.com",
                mock.key
            ),
        )
        .await;
    let id = submit.strip_prefix("OK|").expect("submitted");
    let get = format!("key={}&action=get&id={id}", mock.key);
    // Solved after 1 s (0.1 s of real time), readable for 1 s more (the TTL is real time).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(mock.api("res.php", &get).await.starts_with("OK|"));
    // 1.5 s after the submit (1.4 s after it was solved) the result has expired.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(mock.api("res.php", &get).await, "ERROR_WRONG_CAPTCHA_ID");
    let (_, health) = mock.admin("health").await;
    assert_eq!(health["counters"]["expired"], 1, "{health}");
    assert_eq!(health["tasks"], 0, "{health}");
}
