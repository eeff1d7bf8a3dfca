//! Items 2 and 3, and v4-mapped peers: who may use the admin API, and what pingbacks may
//! reach.

use std::time::Duration;

use serde_json::Value;

use super::support::{Mock, eventually, get_json, http, mock_command, temp_dir};

/// `--admin-token ''`, an empty `CAPTCHAAI_MOCK_ADMIN_TOKEN` and `token = ""` once compared
/// the missing header (`""`) with `""` and let everyone in. Each is refused at start-up.
#[test]
fn an_empty_admin_token_is_refused_at_start_up() {
    let dir = temp_dir();
    let config = dir.path().join("admin.toml");
    std::fs::write(&config, "[admin]\ntoken = \"\"\n").unwrap();
    let config = config.display().to_string();
    let bind = ["--bind", "127.0.0.1:0"];
    let cases = [
        (
            "--admin-token ''",
            mock_command(&[&bind[..], &["--admin-token", ""]].concat(), &[]),
        ),
        (
            "CAPTCHAAI_MOCK_ADMIN_TOKEN=''",
            mock_command(&bind, &[("CAPTCHAAI_MOCK_ADMIN_TOKEN", "")]),
        ),
        (
            "token = \"\"",
            mock_command(&[&bind[..], &["--config", &config]].concat(), &[]),
        ),
        (
            "--admin-token ' '",
            mock_command(&[&bind[..], &["--admin-token", " "]].concat(), &[]),
        ),
    ];
    for (what, cmd) in cases {
        let refused = Mock::refused(cmd);
        assert_eq!(refused.status.code(), Some(2), "{what}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("admin.token") && refused.stderr.contains("empty"),
            "{what}: {}",
            refused.stderr
        );
    }
    let refused = Mock::refused(mock_command(
        &[&bind[..], &["--config", &config]].concat(),
        &[],
    ));
    assert!(
        refused.stderr.contains("line 2, column 9"),
        "the file's error names its position: {}",
        refused.stderr
    );
}

/// Listening off loopback, the admin API needs a token: pingbacks leave from loopback, so a
/// loopback peer proves nothing there. The API itself serves everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_the_admin_api_needs_a_token() {
    let open = Mock::start_bound("0.0.0.0:0", &[]);
    let (status, body) = open.admin("health").await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains("admin.token"), "{message}");
    assert!(message.contains("0.0.0.0"), "names the address: {message}");
    assert_eq!(
        open.api("res.php", &format!("key={}&action=getbalance", open.key))
            .await,
        "10"
    );
    assert!(
        open.proc.stderr().contains("admin API"),
        "a warning at start-up: {}",
        open.proc.stderr()
    );

    let guarded = Mock::start_bound("0.0.0.0:0", &["--admin-token", "s3cret"]);
    let url = format!("{}/__admin/health", guarded.loopback_url());
    let (status, _) = get_json(&url).await;
    assert_eq!(status, 401);
    let resp = http().get(&url).bearer_auth("s3cret").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = http().get(&url).bearer_auth("s3cre").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

/// A v4-mapped loopback listener (`[::ffff:127.0.0.1]`) sees 127.0.0.1 as `::ffff:127.0.0.1`:
/// still loopback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v4_mapped_loopback_peer_is_loopback() {
    let mock = Mock::start_bound("[::ffff:127.0.0.1]:0", &[]);
    let (status, body) = mock.admin("health").await;
    assert_eq!(status, 200, "{body}");
    mock.api("res.php", &format!("key={}&action=getbalance", mock.key))
        .await;
    let (_, journal) = mock.admin("journal").await;
    let remote = journal[0]["remote"].as_str().unwrap_or_default();
    assert!(remote.starts_with("127.0.0.1:"), "canonical: {remote}");
}

/// A pingback to the mock's own address once reached its admin API from loopback:
/// `http://127.0.0.1:PORT/__admin/reset` reset the mock. Callbacks to the mock's own address
/// are never sent; the outbound journal says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pingback_never_reaches_the_mock_itself() {
    let dir = temp_dir();
    let mock = Mock::with_config(
        dir.path(),
        "time-scale = 10.0\n[solving]\ndefault-time = { fixed = \"1s\" }\n",
        &[],
    );
    let port = mock.addr.port();
    let targets = [
        format!("http://127.0.0.1:{port}/__admin/reset"),
        format!("http://localhost:{port}/__admin/tasks/74000000001/fail"),
        format!(
            "http://0.0.0.0:{port}/in.php?key={}&method=turnstile",
            mock.key
        ),
        format!("http://[::ffff:127.0.0.1]:{port}/__admin/reset"),
    ];
    for target in &targets {
        let submit = mock.submit_with_pingback(target).await;
        assert!(submit.starts_with("OK|"), "{target}: {submit}");
    }
    let blocked = eventually(Duration::from_secs(15), async || {
        let (_, attempts) = mock.admin("pingbacks").await;
        attempts.as_array().is_some_and(|a| {
            a.len() == targets.len() && a.iter().all(|e| e["outcome"]["result"] == "blocked")
        })
    })
    .await;
    let (_, attempts) = mock.admin("pingbacks").await;
    assert!(blocked, "every callback blocked: {attempts:#}");
    let reason = attempts[0]["outcome"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("the mock itself"), "{reason}");
    let (_, health) = mock.admin("health").await;
    assert_eq!(health["tasks"], targets.len(), "not reset: {health}");
    let (_, first) = mock.admin("tasks/74000000001").await;
    assert_eq!(
        first["state"], "solved",
        "not failed by a callback: {first}"
    );
}

/// A pingback URL longer than 2048 bytes is a bad parameter, answered as the service answers
/// one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingback_urls_are_capped_at_submit() {
    let mock = Mock::start(&[]);
    let submit = async |len: usize| -> String {
        let base = "http://127.0.0.1:9/hook?t=";
        let url = format!("{base}{}", "a".repeat(len - base.len()));
        http()
            .post(format!("{}/in.php", mock.loopback_url()))
            .form(&[
                ("key", mock.key.as_str()),
                ("method", "turnstile"),
                ("sitekey", "0x4AAAAAAAC3DHQFLr1GavRN"),
                ("pageurl", "https://example.com"),
                ("pingback", &url),
                ("json", "1"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let ok: Value = serde_json::from_str(&submit(2048).await).unwrap();
    assert_eq!(ok["status"], 1, "{ok}");
    let refused: Value = serde_json::from_str(&submit(2049).await).unwrap();
    assert_eq!(refused["request"], "ERROR_BAD_PARAMETERS", "{refused}");
    let refused: Value = serde_json::from_str(&submit(1_000_000).await).unwrap();
    assert_eq!(refused["request"], "ERROR_BAD_PARAMETERS", "{refused}");
}
