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

/// The admin API, the config file and a scenario file refuse each with the same message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_rules_have_the_same_bounds_everywhere() {
    let mock = Mock::start(&[]);
    let dir = temp_dir();
    let scenario = std::fs::read_to_string(
        crate::bins::workspace().join("scenarios/strategies/poll-only.toml"),
    )
    .unwrap();
    for (json_fault, toml_fault, message) in UNBOUNDED {
        let rules = json!([{ "fault": serde_json::from_str::<Value>(json_fault).unwrap() }]);
        let resp = http()
            .put(format!("{}/__admin/pingback/rules", mock.loopback_url()))
            .json(&rules)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 400, "admin API, {json_fault}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "admin API: {error}");

        let config = dir.path().join("mock.toml");
        std::fs::write(
            &config,
            format!("[[pingback.rules]]\nfault = {toml_fault}\n"),
        )
        .unwrap();
        let out = mock_command(&["--config", &config.display().to_string()], &[])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "config file: {stderr}");
        assert!(stderr.contains(message), "config file: {stderr}");

        let file = dir.path().join("bounds.toml");
        std::fs::write(
            &file,
            format!("{scenario}\n[[faults]]\nfault = {toml_fault}\n"),
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
    let (_, rules) = mock.admin("pingback/rules").await;
    assert_eq!(rules, json!([]), "nothing was replaced");
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
