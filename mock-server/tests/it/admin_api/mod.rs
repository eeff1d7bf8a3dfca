//! The admin API under `/__admin/`, over real HTTP on 127.0.0.1: health,
//! reset, tasks and their ground truth, forcing results, the bounded journal
//! and its filters, fault rules, the manual pingback route, and access control
//! (bearer token; loopback-only without one is tested on the app itself, in
//! `server::serve`'s unit tests, where a request can come from any address).
//!
//! This file: the shared helpers, health, reset and access; [`tasks`]: tasks, forcing
//! results, the manual pingback; [`journals`]: the journals and the fault rules.

mod journals;
mod tasks;

use std::time::Duration;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer, testing::PingbackRecorder};
use serde_json::{Value, json};

const K: &str = DEFAULT_KEY;
const PAGE: &str = "https://example.com/login";

struct Admin {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Admin {
    fn new(base: &str) -> Admin {
        Admin {
            http: crate::support::http(),
            base: base.to_owned(),
            token: None,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let url = format!("{}/__admin{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("admin answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("admin {path} answered non-JSON ({e}): {text:?}"));
        (status, value)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call("POST", path, body).await
    }
}

async fn start(toml: &str) -> (MockServer, Admin) {
    let mock = MockServer::start_with(Config::from_toml(toml).expect("config"))
        .await
        .expect("mock starts");
    let admin = Admin::new(&mock.uri());
    (mock, admin)
}

/// A plain-text API call (`json=0`) with the default key.
async fn api(mock: &MockServer, endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut p = vec![("key", K)];
    p.extend_from_slice(params);
    crate::support::send(
        crate::support::http()
            .get(format!("{}/{endpoint}", mock.uri()))
            .query(&p),
    )
    .await
    .body
}

async fn submit_turnstile(mock: &MockServer, extra: &[(&str, &str)]) -> u64 {
    let mut p = vec![
        ("method", "turnstile"),
        ("sitekey", "0x4AAAAAAAC3DHQFLr1GavRN"),
        ("pageurl", PAGE),
    ];
    p.extend_from_slice(extra);
    let body = api(mock, "in.php", &p).await;
    body.strip_prefix("OK|")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("submit failed: {body}"))
}

#[tokio::test]
async fn health_reports_configuration_and_counters() {
    let (mock, admin) = start("seed = 42\ndialect = \"2captcha\"\ntime-scale = 10.0\n").await;
    let h = admin.get("/health").await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["dialect"], "2captcha");
    assert_eq!(h["seed"], 42);
    assert_eq!(h["time_scale"], 10.0);
    assert_eq!(h["keys"], json!([K]));
    assert_eq!(h["tasks"], 0);
    assert_eq!(h["counters"]["submitted"], 0);
    assert!(h["now_ms"].is_u64(), "{h}");
    submit_turnstile(&mock, &[]).await;
    let h = admin.get("/health").await;
    assert_eq!(h["tasks"], 1);
    assert_eq!(h["counters"]["submitted"], 1);
}

#[tokio::test]
async fn reset_restarts_ids_and_clears_journals_and_rules() {
    let (mock, admin) = start("").await;
    assert_eq!(submit_turnstile(&mock, &[]).await, 74_000_000_001);
    assert_eq!(submit_turnstile(&mock, &[]).await, 74_000_000_002);
    api(&mock, "res.php", &[("action", "getbalance")]).await;
    assert_eq!(
        admin.get("/journal").await.as_array().map(Vec::len),
        Some(3)
    );
    // One delivered pingback, so the outbound journal has an entry too.
    let rx = PingbackRecorder::start().await.unwrap();
    let hook = rx.url("/hook");
    let pb = submit_turnstile(&mock, &[("pingback", &hook)]).await;
    admin.post(&format!("/tasks/{pb}/solve"), None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while admin.get("/pingbacks").await == json!([]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pingback attempt journaled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        admin.get(&format!("/pingbacks?task={pb}")).await[0]["task_id"],
        pb
    );
    let (s, _) = admin
        .call("PUT", "/pingback/rules", Some(r#"[{"fault":"drop"}]"#))
        .await;
    assert_eq!(s, 200);

    let (s, v) = admin.post("/reset", None).await;
    assert_eq!((s, v), (200, json!({"status": "ok"})));
    assert_eq!(admin.get("/tasks").await, json!([]));
    assert_eq!(admin.get("/journal").await, json!([]));
    assert_eq!(admin.get("/pingbacks").await, json!([]));
    assert_eq!(admin.get("/pingback/rules").await, json!([]));
    let h = admin.get("/health").await;
    assert_eq!(
        (h["tasks"].clone(), h["counters"]["submitted"].clone()),
        (json!(0), json!(0))
    );
    // The old ids are gone and numbering starts over.
    assert_eq!(
        api(
            &mock,
            "res.php",
            &[("action", "get"), ("id", "74000000002")]
        )
        .await,
        "ERROR_WRONG_CAPTCHA_ID"
    );
    assert_eq!(submit_turnstile(&mock, &[]).await, 74_000_000_001);
    let j = admin.get("/journal").await;
    let seqs: Vec<u64> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2], "journal numbering restarts: {j}");
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let (mock, mut admin) = start("[admin]\ntoken = \"s3cret\"\n").await;
    let (s, v) = admin.call("GET", "/health", None).await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"].as_str().unwrap().contains("bearer token"), "{v}");
    admin.token = Some("wrong".into());
    assert_eq!(admin.call("GET", "/health", None).await.0, 401);
    assert_eq!(admin.call("POST", "/reset", None).await.0, 401);
    let lower = admin
        .http
        .get(format!("{}/__admin/health", admin.base))
        .header("authorization", "bearer s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status().as_u16(), 401, "the scheme is `Bearer `");
    admin.token = Some("s3cret".into());
    assert_eq!(admin.get("/health").await["status"], "ok");
    // The API itself never needs the token.
    assert_eq!(
        api(&mock, "res.php", &[("action", "getbalance")]).await,
        "10"
    );
}

/// Without a token the admin API trusts loopback, and a browser on this machine is on
/// loopback: a page of another site (its `Origin`) or a rebound name (its `Host`) must not
/// drive it. Same-origin requests (the dashboard's) and clients without either header pass.
#[tokio::test]
async fn browsers_on_behalf_of_another_site_are_refused_without_a_token() {
    let (mock, admin) = start("").await;
    let url = format!("{}/__admin/reset", admin.base);
    let own = mock.uri();
    let post = |origin: Option<&str>, host: Option<&str>| {
        let mut req = admin.http.post(&url);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(h) = host {
            req = req.header("host", h);
        }
        req.send()
    };
    let cross = post(Some("https://evil.example"), None).await.unwrap();
    assert_eq!(cross.status().as_u16(), 403, "a cross-site POST");
    let body = cross.text().await.unwrap();
    assert!(body.contains("another site"), "{body}");
    let rebound = post(None, Some("evil.example:80")).await.unwrap();
    assert_eq!(rebound.status().as_u16(), 403, "a rebound name");
    let null = post(Some("null"), None).await.unwrap();
    assert_eq!(null.status().as_u16(), 403, "an opaque origin");
    let same = post(Some(&own), None).await.unwrap();
    assert_eq!(same.status().as_u16(), 200, "the dashboard's own origin");
    let plain = post(None, None).await.unwrap();
    assert_eq!(plain.status().as_u16(), 200, "curl and test clients");
    let localhost = post(None, Some("localhost")).await.unwrap();
    assert_eq!(localhost.status().as_u16(), 200, "localhost");
}
