//! Tasks and their ground truth, forcing results (and the queue behind a forced task), the
//! 2captcha balance, and firing a pingback by hand.

use std::time::Duration;

use captchaai_mock::testing::PingbackRecorder;
use serde_json::{Value, json};

use super::{K, PAGE, api, start, submit_turnstile};

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

// A little over a hundred lines: one task after another forced through every route and
// error of the two forcing routes, on one mock.
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
