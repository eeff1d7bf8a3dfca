//! The opt-in rate-limit penalties over real HTTP on 127.0.0.1: `MAX_USER_TURN` for a submit
//! burst (and the ban lifting), `ERROR: 1005` for polling beyond the allowance, `IP_BANNED`
//! after repeated bad keys (for every request of the address, good key or not), each in both
//! response formats; an admin reset forgets them; a mock without `[api.rate-limits]` applies
//! none.

use std::time::Duration;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer};

const K: &str = DEFAULT_KEY;
const BAD: &str = "0123456789abcdef0123456789abcdef";

struct Mock {
    server: MockServer,
    http: reqwest::Client,
}

impl Mock {
    async fn start(toml: &str) -> Mock {
        let cfg = Config::from_toml(toml).expect("valid config");
        Mock {
            server: MockServer::start_with(cfg).await.expect("mock starts"),
            http: crate::support::http(),
        }
    }

    /// A turnstile submit with `key` (plain text, or JSON with `json`): the answer's body.
    async fn submit(&self, key: &str, json: bool) -> String {
        let mut p = vec![
            ("key", key),
            ("method", "turnstile"),
            ("sitekey", "0x4AAAAAAA"),
            ("pageurl", "https://example.com"),
        ];
        if json {
            p.push(("json", "1"));
        }
        crate::support::send(
            self.http
                .get(format!("{}/in.php", self.server.uri()))
                .query(&p),
        )
        .await
        .body
    }

    async fn res(&self, key: &str, action: &str, json: bool) -> String {
        let mut p = vec![("action", action), ("id", "74000000001")];
        if json {
            p.push(("json", "1"));
        }
        crate::support::res_php(&self.http, &self.server.uri(), key, &p).await
    }

    async fn reset(&self) {
        let r = self
            .http
            .post(format!("{}/__admin/reset", self.server.uri()))
            .send()
            .await
            .expect("reset");
        assert!(r.status().is_success());
    }
}

#[tokio::test]
async fn a_submit_burst_gets_max_user_turn_until_the_ban_lifts() {
    let mock = Mock::start(
        "[api.rate-limits]\nmax-user-turn = { submits = 3, window = \"1m\", ban = \"4s\" }\n",
    )
    .await;
    for i in 0..3 {
        let a = mock.submit(K, false).await;
        assert!(a.starts_with("OK|"), "submit {i} is within the limit: {a}");
    }
    assert_eq!(mock.submit(K, false).await, "MAX_USER_TURN");
    assert_eq!(
        mock.submit(K, true).await,
        r#"{"status":0,"request":"MAX_USER_TURN"}"#
    );
    assert_eq!(
        mock.res(K, "get", false).await,
        "CAPCHA_NOT_READY",
        "polling is not limited by submits"
    );
    // A ban long enough that a slow machine still sends the refused requests inside it.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let a = mock.submit(K, false).await;
    assert!(a.starts_with("OK|"), "the ban lifted: {a}");
    assert_eq!(
        mock.server.counters().submitted,
        4,
        "refused submits create no task"
    );
}

#[tokio::test]
async fn polling_beyond_the_allowance_gets_error_1005() {
    let mock = Mock::start(
        "[api.rate-limits]\npoll-ratio = { allowance = 2, per-submit = 1, window = \"1h\" }\n",
    )
    .await;
    assert!(mock.submit(K, false).await.starts_with("OK|"));
    for i in 0..3 {
        assert_eq!(
            mock.res(K, "get", false).await,
            "CAPCHA_NOT_READY",
            "poll {i}: 2 + 1 per submit allowed"
        );
    }
    assert_eq!(mock.res(K, "get", false).await, "ERROR: 1005");
    assert_eq!(
        mock.res(K, "getbalance", true).await,
        r#"{"status":0,"request":"ERROR: 1005"}"#,
        "every res.php action counts"
    );
    mock.reset().await;
    assert_eq!(
        mock.res(K, "get", false).await,
        "ERROR_WRONG_CAPTCHA_ID",
        "a reset forgets the counts (and the task)"
    );
}

#[tokio::test]
async fn repeated_bad_keys_ban_the_address() {
    let mock = Mock::start(
        "[api.rate-limits]\nip-ban = { bad-keys = 2, window = \"1m\", ban = \"1h\" }\n",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(mock.submit(BAD, false).await, "ERROR_KEY_DOES_NOT_EXIST");
    }
    assert_eq!(
        mock.submit(K, false).await,
        "IP_BANNED",
        "even with a good key"
    );
    assert_eq!(
        mock.res(K, "get", true).await,
        r#"{"status":0,"request":"IP_BANNED"}"#
    );
    assert_eq!(mock.res("short", "get", false).await, "IP_BANNED");
    mock.reset().await;
    assert!(
        mock.submit(K, false).await.starts_with("OK|"),
        "a reset lifts the ban"
    );
}

#[tokio::test]
async fn without_rate_limits_nothing_is_penalised() {
    let mock =
        Mock::start("[[accounts]]\nkey = \"captchaai-mock-test-key-00000001\"\nthreads = 200\n")
            .await;
    for _ in 0..20 {
        assert_eq!(mock.submit(BAD, false).await, "ERROR_KEY_DOES_NOT_EXIST");
    }
    for _ in 0..100 {
        assert!(mock.submit(K, false).await.starts_with("OK|"));
    }
    for _ in 0..50 {
        assert_eq!(mock.res(K, "get", false).await, "CAPCHA_NOT_READY");
    }
}

#[test]
fn unusable_rate_limits_are_refused_with_the_key() {
    let err = Config::from_toml("[api.rate-limits]\nip-ban = { window = \"0s\" }\n")
        .expect_err("a zero window cannot work");
    assert!(
        err.to_string().contains("api.rate-limits.ip-ban"),
        "names the setting: {err}"
    );
    let err = Config::from_toml("[api.rate-limits]\nmax-user-turn = { submit = 3 }\n")
        .expect_err("a misspelt field");
    assert!(err.to_string().contains("submit"), "{err}");
}
