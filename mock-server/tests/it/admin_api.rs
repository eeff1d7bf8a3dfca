//! The admin API under `/__admin/`, over real HTTP on 127.0.0.1: health,
//! reset, tasks and their ground truth, forcing results, the bounded journal
//! and its filters, fault rules, the manual pingback route, and access control
//! (bearer token; loopback-only without one is tested on the app itself, in
//! `server::serve`'s unit tests, where a request can come from any address).

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
async fn tasks_show_the_ground_truth_the_api_later_returns() {
    let (mock, admin) = start("seed = 9").await;
    let a = submit_turnstile(&mock, &[]).await;
    let body = api(
        &mock,
        "in.php",
        &[
            ("method", "userrecaptcha"),
            ("googlekey", "6Lc_x"),
            ("pageurl", PAGE),
            ("enterprise", "1"),
        ],
    )
    .await;
    let b: u64 = body.strip_prefix("OK|").unwrap().parse().unwrap();

    let list = admin.get("/tasks").await;
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], a);
    assert_eq!(list[0]["ordinal"], 1);
    assert_eq!(list[0]["kind"], "turnstile");
    assert_eq!(list[1]["ordinal"], 2);
    assert_eq!(list[1]["kind"], "recaptcha-v2-enterprise");
    assert_eq!(
        admin.get("/tasks?limit=1").await.as_array().map(Vec::len),
        Some(1)
    );

    let t = admin.get(&format!("/tasks/{b}")).await;
    assert_eq!(t["state"], "pending");
    assert_eq!(t["key"], K);
    assert_eq!(t["forced"], false);
    assert!(t["finish_at_ms"].as_u64().unwrap() > t["submitted_at_ms"].as_u64().unwrap());
    let truth = t["outcome"]["solved"]["answer"]
        .as_str()
        .expect("a solved outcome")
        .to_owned();
    let ua = t["outcome"]["solved"]["user_agent"]
        .as_str()
        .expect("enterprise has a UA")
        .to_owned();
    assert!(truth.starts_with("03A"), "{truth}");
    assert_eq!(
        api(
            &mock,
            "res.php",
            &[("action", "get"), ("id", &b.to_string())]
        )
        .await,
        "CAPCHA_NOT_READY"
    );

    let (s, forced) = admin.post(&format!("/tasks/{b}/solve"), None).await;
    assert_eq!(s, 200, "{forced}");
    assert_eq!(forced["state"], "solved");
    assert_eq!(forced["forced"], true);
    assert_eq!(forced["outcome"]["solved"]["answer"], truth.as_str());
    let got = api(
        &mock,
        "res.php",
        &[("action", "get"), ("id", &b.to_string()), ("json", "1")],
    )
    .await;
    let got: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(got["request"], truth.as_str());
    assert_eq!(got["result"], truth.as_str());
    assert_eq!(got["user_agent"], ua.as_str());

    let (s, e) = admin.call("GET", "/tasks/74000000999", None).await;
    assert_eq!(s, 404);
    assert_eq!(e["error"], "no task 74000000999");
    let resp = admin
        .http
        .get(format!("{}/__admin/tasks/abc", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400, "a non-numeric id is rejected");
    let e: Value = resp.json().await.expect("admin errors are JSON");
    assert!(e["error"].as_str().unwrap().contains("Invalid URL"), "{e}");
    let (s, e) = admin.call("GET", "/journal?limit=x", None).await;
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("limit"), "{e}");
    let (s, e) = admin.call("GET", "/nope", None).await;
    assert_eq!(s, 404);
    assert_eq!(e["error"], "no admin route GET /__admin/nope");
    let (s, e) = admin.call("DELETE", "/pingback/rules", None).await;
    assert_eq!(s, 405);
    assert_eq!(e["error"], "method not allowed");
}

#[tokio::test]
async fn forcing_results() {
    let (mock, admin) = start("").await;
    let get = async |id: u64| {
        api(
            &mock,
            "res.php",
            &[("action", "get"), ("id", &id.to_string())],
        )
        .await
    };

    let a = submit_turnstile(&mock, &[]).await;
    let (s, v) = admin
        .post(
            &format!("/tasks/{a}/solve"),
            Some(r#"{"answer":"custom-token-1"}"#),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"]["solved"]["answer"], "custom-token-1");
    assert_eq!(get(a).await, "OK|custom-token-1");

    let b = submit_turnstile(&mock, &[]).await;
    let (s, v) = admin
        .post(
            &format!("/tasks/{b}/solve"),
            Some(r#"{"answer":"an ERROR inside"}"#),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("ERROR"), "{v}");
    let (s, v) = admin
        .post(&format!("/tasks/{b}/solve"), Some(r#"{"answr":"typo"}"#))
        .await;
    assert_eq!(s, 400, "unknown field: {v}");
    let (s, v) = admin
        .post(&format!("/tasks/{b}/solve"), Some("{not json"))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"),
        "{v}"
    );
    assert_eq!(
        get(b).await,
        "CAPCHA_NOT_READY",
        "rejected requests change nothing"
    );

    let (s, v) = admin.post(&format!("/tasks/{b}/fail"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "failed");
    assert_eq!(v["outcome"]["failed"]["code"], "ERROR_CAPTCHA_UNSOLVABLE");
    assert_eq!(get(b).await, "ERROR_CAPTCHA_UNSOLVABLE");

    let c = submit_turnstile(&mock, &[]).await;
    let (s, v) = admin
        .post(
            &format!("/tasks/{c}/fail"),
            Some(r#"{"code":"ERROR_PROXY_CONNECTION_FAILED"}"#),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(get(c).await, "ERROR_PROXY_CONNECTION_FAILED");

    let d = submit_turnstile(&mock, &[]).await;
    for bad in [
        "NOPE",
        "CAPCHA_NOT_READY",
        "OK_REPORT_RECORDED",
        "error_zero_balance",
    ] {
        let (s, v) = admin
            .post(
                &format!("/tasks/{d}/fail"),
                Some(&format!(r#"{{"code":"{bad}"}}"#)),
            )
            .await;
        assert_eq!(s, 400, "code {bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains(bad), "{v}");
    }
    assert_eq!(get(d).await, "CAPCHA_NOT_READY");

    for route in ["solve", "fail"] {
        let (s, _) = admin
            .post(&format!("/tasks/74000000999/{route}"), None)
            .await;
        assert_eq!(s, 404, "{route} on an unknown task");
    }

    // A finished task keeps its result: the client may have polled it, the
    // receiver may have been told; a second force would contradict both.
    let (s, v) = admin
        .post(&format!("/tasks/{a}/solve"), Some(r#"{"answer":"other"}"#))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("finished already"),
        "{v}"
    );
    let (s, _) = admin.post(&format!("/tasks/{a}/fail"), None).await;
    assert_eq!(s, 409);
    assert_eq!(get(a).await, "OK|custom-token-1", "unchanged");

    let (s, v) = admin
        .post(&format!("/tasks/{d}/solve"), Some(r#"{"answer":"  "}"#))
        .await;
    assert_eq!(s, 400, "an empty answer is no answer: {v}");
    assert_eq!(get(d).await, "CAPCHA_NOT_READY");
}

/// In `queue` mode a forced task hands its thread to the next queued task at
/// once, and that one to the next when it finishes: `threadsinfo` and the
/// tasks' times stay true.
#[tokio::test]
async fn forcing_hands_the_thread_to_the_queue() {
    let (mock, admin) = start(&format!(
        "busy-threads = \"queue\"\n[[accounts]]\nkey = \"{K}\"\nthreads = 1\n\
         [solving.times]\nturnstile = {{ fixed = \"1h\" }}\n"
    ))
    .await;
    let [a, b, c] = [
        submit_turnstile(&mock, &[]).await,
        submit_turnstile(&mock, &[]).await,
        submit_turnstile(&mock, &[]).await,
    ];
    let hour = 3_600_000;
    let times = async |id: u64| {
        let t = admin.get(&format!("/tasks/{id}")).await;
        let ms = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("{k}: {t}"));
        (
            t["state"].as_str().unwrap().to_owned(),
            ms("started_at_ms"),
            ms("finish_at_ms"),
        )
    };
    let (state, b_start, b_finish) = times(b).await;
    assert_eq!(state, "queued");
    assert!(b_start >= hour, "b waits for a: {b_start}");
    assert_eq!(b_finish, b_start + hour);
    assert_eq!(times(c).await.1, b_finish, "c waits for b");
    let working = async || {
        let info = api(
            &mock,
            "res.php",
            &[("action", "threadsinfo"), ("json", "1")],
        )
        .await;
        let v: Value = serde_json::from_str(&info).unwrap();
        v["working_threads"].as_u64().unwrap()
    };
    assert_eq!(working().await, 1);

    // Forcing the queued b frees the hour it was to hold: c moves up to a's finish.
    let (s, _) = admin.post(&format!("/tasks/{b}/fail"), None).await;
    assert_eq!(s, 200);
    let (state, c_start, c_finish) = times(c).await;
    assert_eq!(state, "queued");
    assert_eq!(c_start, b_start, "c starts when a's thread frees");
    assert_eq!(c_finish, c_start + hour);

    // Forcing the running a hands the thread to c now.
    let (s, forced) = admin.post(&format!("/tasks/{a}/solve"), None).await;
    assert_eq!(s, 200, "{forced}");
    let now = forced["finish_at_ms"].as_u64().unwrap();
    let (state, c_start, c_finish) = times(c).await;
    assert_eq!(state, "pending", "c is being solved");
    assert!(
        c_start <= now + 1_000 && c_start < hour,
        "{c_start} vs {now}"
    );
    assert_eq!(c_finish, c_start + hour);
    assert_eq!(working().await, 1, "c holds the thread");

    let (s, _) = admin.post(&format!("/tasks/{c}/solve"), None).await;
    assert_eq!(s, 200);
    assert_eq!(working().await, 0, "nothing left to solve");
    let d = submit_turnstile(&mock, &[]).await;
    let (state, _, _) = times(d).await;
    assert_eq!(state, "pending", "a new task gets the free thread at once");
}

/// In the 2captcha dialect a submit needs the price in the balance, whatever
/// the task's hidden fate (unsolvable tasks are not charged, but still refused).
#[tokio::test]
async fn zero_balance_refuses_every_submit_whatever_its_fate() {
    for rate in ["0.0", "1.0"] {
        let (mock, admin) = start(&format!(
            "dialect = \"2captcha\"\n[[accounts]]\nkey = \"{K}\"\nbalance = 0.0\n\
             [solving]\nunsolvable-rate = {rate}\n"
        ))
        .await;
        let body = api(
            &mock,
            "in.php",
            &[
                ("method", "turnstile"),
                ("sitekey", "0x4AAAAAAAC3DHQFLr1GavRN"),
                ("pageurl", PAGE),
            ],
        )
        .await;
        assert_eq!(body, "ERROR_ZERO_BALANCE", "unsolvable-rate {rate}");
        assert_eq!(admin.get("/tasks").await, json!([]), "nothing stored");
    }
}

#[tokio::test]
async fn journal_filters_and_capacity() {
    let (mock, admin) = start("[journal]\ncapacity = 6\n").await;
    let http = crate::support::http();
    let url = format!("{}/res.php", mock.uri());
    // One request per encoding, so the journal shows each.
    for enc in crate::support::Encoding::ALL {
        let p = crate::support::pairs(&[("key", K), ("action", "getbalance")]);
        let a = crate::support::send(crate::support::request(&http, &url, enc, &p, &[])).await;
        assert_eq!(a.body, "10");
    }
    let j = admin.get("/journal").await;
    let encodings: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["encoding"].as_str().unwrap())
        .collect();
    assert_eq!(encodings, ["query", "form", "multipart", "json"]);
    let methods: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["http_method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["GET", "POST", "POST", "POST"]);
    let first = &j[0];
    assert_eq!(first["endpoint"], "res.php");
    assert_eq!(first["action"], "getbalance");
    assert_eq!(first["answer"], "10");
    assert!(
        first["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{first}"
    );
    assert!(
        first["params"]
            .as_array()
            .unwrap()
            .contains(&json!(["action", "getbalance"]))
    );

    let a = submit_turnstile(&mock, &[]).await; // seq 5
    let b = submit_turnstile(&mock, &[]).await; // seq 6
    api(
        &mock,
        "res.php",
        &[("action", "get"), ("id", &a.to_string())],
    )
    .await; // seq 7
    api(
        &mock,
        "res.php",
        &[("action", "get"), ("id", &b.to_string())],
    )
    .await; // seq 8
    api(
        &mock,
        "res.php",
        &[("action", "get"), ("id", &a.to_string())],
    )
    .await; // seq 9

    let all = admin.get("/journal").await;
    let seqs: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![4, 5, 6, 7, 8, 9],
        "capacity 6 keeps the newest six"
    );

    let only_a = admin.get(&format!("/journal?task={a}")).await;
    let seqs: Vec<u64> = only_a
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![5, 7, 9]);
    assert_eq!(only_a[0]["endpoint"], "in.php");
    assert_eq!(only_a[0]["action"], "turnstile");
    assert_eq!(only_a[0]["answer"], format!("OK|{a}"));
    assert_eq!(only_a[1]["answer"], "CAPCHA_NOT_READY");

    let submits = admin.get("/journal?endpoint=in.php").await;
    let ids: Vec<u64> = submits
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["task_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![a, b]);
    let since = admin.get("/journal?since=7").await;
    let seqs: Vec<u64> = since
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![8, 9]);
    let limited = admin.get("/journal?since=4&limit=2&endpoint=res.php").await;
    let seqs: Vec<u64> = limited
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![7, 8]);
    assert_eq!(admin.get("/journal?since=100").await, json!([]));
}

#[tokio::test]
async fn rules_can_be_read_and_replaced() {
    let (mock, admin) = start("").await;
    assert_eq!(admin.get("/pingback/rules").await, json!([]));
    let rules = r#"[
        {"name": "dup", "probability": 0.5, "match": {"methods": ["turnstile"]},
         "fault": {"duplicate": {"copies": 2, "spacing": "1s"}}},
        {"fault": "drop"}
    ]"#;
    let (s, v) = admin.call("PUT", "/pingback/rules", Some(rules)).await;
    assert_eq!((s, v), (200, json!({"status": "ok", "rules": 2})));
    let got = admin.get("/pingback/rules").await;
    assert_eq!(got.as_array().map(Vec::len), Some(2), "{got}");
    assert_eq!(got[0]["name"], "dup");
    assert_eq!(got[0]["probability"], 0.5);
    assert_eq!(got[0]["match"]["methods"], json!(["turnstile"]));
    assert_eq!(got[0]["fault"]["duplicate"]["copies"], 2);
    assert_eq!(got[1]["fault"], "drop");

    let bad = [
        (
            r#"[{"fault": "drop"}, {"fault": {"bogus": 1}}]"#,
            "[1].fault",
        ),
        (r#"[{"fault": "drop", "probabilty": 1}]"#, "[0]"),
        (
            r#"[{"fault": {"duplicate": {"copies": "two"}}}]"#,
            "[0].fault.duplicate.copies",
        ),
        (r#"[{"fault": {"delay": {"fixed": "soon"}}}]"#, "[0].fault"),
        (r#"{"fault": "drop"}"#, "invalid rules at"),
        ("not json", "invalid rules at"),
        (r#"[{"fault": "drop"}] trailing"#, "trailing characters"),
        (r#"[{"fault": "drop"}]]"#, "trailing characters"),
    ];
    for (body, path) in bad {
        let (s, v) = admin.call("PUT", "/pingback/rules", Some(body)).await;
        assert_eq!(s, 400, "{body}: {v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with("invalid rules at") && msg.contains(path),
            "{body}: {msg}"
        );
    }
    let (s, v) = admin
        .call(
            "PUT",
            "/pingback/rules",
            Some(r#"[{"fault": "drop", "probability": 2.0}]"#),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("probability"), "{v}");
    assert_eq!(
        admin.get("/pingback/rules").await,
        got,
        "a rejected PUT changes nothing"
    );

    // Tasks submitted afterwards carry a compiled schedule; tasks without a
    // pingback have none.
    let with = submit_turnstile(&mock, &[("pingback", "http://127.0.0.1:9/hook")]).await;
    let without = submit_turnstile(&mock, &[]).await;
    let s1 = admin.get(&format!("/tasks/{with}/schedule")).await;
    assert_eq!(s1["task"], with);
    assert!(s1["schedule"].is_object(), "{s1}");
    assert_eq!(s1["attempts"], json!([]));
    let s2 = admin.get(&format!("/tasks/{without}/schedule")).await;
    assert!(s2["schedule"].is_null(), "{s2}");
    let (s, _) = admin.call("GET", "/tasks/74000000999/schedule", None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_manual_pingback_route() {
    let (mock, admin) = start("seed = 3").await;
    let rx = PingbackRecorder::start().await.unwrap();
    let hook = rx.url("/hook");

    let (s, v) = admin.post("/tasks/74000000999/pingback", None).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("no task 74000000999")));

    let plain = submit_turnstile(&mock, &[]).await;
    admin.post(&format!("/tasks/{plain}/solve"), None).await;
    let (s, v) = admin.post(&format!("/tasks/{plain}/pingback"), None).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("task has no pingback URL"))
    );

    let with = submit_turnstile(&mock, &[("pingback", &hook)]).await;
    let (s, v) = admin.post(&format!("/tasks/{with}/pingback"), None).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("task is not finished"))
    );

    let (_, t) = admin.post(&format!("/tasks/{with}/solve"), None).await;
    let answer = t["outcome"]["solved"]["answer"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = admin.post(&format!("/tasks/{with}/pingback"), None).await;
    assert_eq!((s, v), (202, json!({"status": "queued"})));

    // The scheduled callback (on the forced finish) and the manual one.
    let want = format!("id={with}&code={answer}");
    let got = rx.wait_for(2, Duration::from_secs(10)).await.unwrap();
    let lines: Vec<String> = got
        .iter()
        .map(|c| format!("{} {}", c.method, c.query))
        .collect();
    assert_eq!(lines, vec![format!("GET {want}"), format!("GET {want}")]);
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
