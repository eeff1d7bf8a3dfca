//! The client against `wiremock`: every wire shape, error path and retry path.
//!
//! wiremock's server runs outside the test runtime, so these tests use the real clock with
//! millisecond timings (never a paused clock).

use std::time::Duration;

use captchaai_client::solution::Answer;
use captchaai_client::task::{
    Bls, CaptchaFox, CloudflareChallenge, FriendlyCaptcha, Geetest, Grid, GridSize, Image, Lemin,
    Normal, Proxy, ProxyType, RecaptchaV2, RecaptchaV3, Turnstile,
};
use captchaai_client::{ErrorKind, RetryPolicy, Task, TaskId};
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    FormParam, KEY, dead_base_url, fast_client, fast_retry, ms, param, params, turnstile,
};

fn ok(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string(body)
}

/// Every request to `endpoint` is answered `body`.
async fn answer(server: &MockServer, endpoint: &str, body: &str) {
    Mock::given(path(endpoint))
        .respond_with(ok(body))
        .mount(server)
        .await;
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

// ---------------------------------------------------------------- submit shapes

#[tokio::test]
async fn submit_reads_a_json_string_id_and_sends_get_query_for_token_types() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/in.php"))
        .and(query_param("method", "turnstile"))
        .and(query_param("json", "1"))
        .and(query_param("key", KEY))
        .respond_with(ok(r#"{"status":1,"request":"2122988149"}"#))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let id = client
        .submit(&turnstile(), Some("http://127.0.0.1:9/pingback?token=abc"))
        .await
        .unwrap();
    assert_eq!(id, TaskId::new(2122988149));
    let req = &requests_to(&server, "/in.php").await[0];
    let p = params(req);
    assert_eq!(param(&p, "sitekey"), Some("0x4AAAAAAA"));
    assert_eq!(param(&p, "pageurl"), Some("https://example.com/login"));
    assert_eq!(
        param(&p, "pingback"),
        Some("http://127.0.0.1:9/pingback?token=abc")
    );
    assert!(req.body.is_empty(), "GET submits carry no body");
}

#[tokio::test]
async fn submit_reads_an_integer_id() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/in.php",
        r#"{"status":1,"request":2122988149,"extra":"ignored"}"#,
    )
    .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let task: Task = RecaptchaV2::new("6Le", "https://example.com").into();
    assert_eq!(
        client.submit(&task, None).await.unwrap(),
        TaskId::new(2122988149)
    );
}

#[tokio::test]
async fn submit_in_plain_text_mode() {
    let server = MockServer::start().await;
    Mock::given(path("/in.php"))
        .and(query_param("json", "0"))
        .respond_with(ok("OK|123"))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).json(false).build().unwrap();
    assert_eq!(
        client.submit(&turnstile(), None).await.unwrap(),
        TaskId::new(123)
    );
}

#[tokio::test]
async fn image_enterprise_and_cloudflare_types_post_an_urlencoded_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/in.php"))
        .respond_with(ok(r#"{"status":1,"request":"5"}"#))
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let proxy = Proxy::new("u:p@10.1.2.3:3128", ProxyType::Http);
    let image = Image::from_bytes(&[0x89, b'P', b'N', b'G', 1, 2, 3]);
    let tasks: Vec<(Task, &str, &str)> = vec![
        (Normal::new(image.clone()).into(), "method", "base64"),
        (
            Grid::new(image.clone(), "buses", GridSize::ThreeByThree).into(),
            "img_type",
            "recaptcha",
        ),
        (
            Bls::new(vec![image.clone(); 9], "cats").into(),
            "method",
            "bls",
        ),
        (
            RecaptchaV2::new("6Le", "https://e.x").enterprise().into(),
            "enterprise",
            "1",
        ),
        (
            RecaptchaV3::new("6Le", "https://e.x", "login")
                .enterprise()
                .into(),
            "version",
            "v3",
        ),
        (
            CloudflareChallenge::new("https://e.x", proxy.clone()).into(),
            "proxytype",
            "HTTP",
        ),
    ];
    for (task, name, value) in &tasks {
        client.submit(task, None).await.unwrap();
        let reqs = requests_to(&server, "/in.php").await;
        let req = reqs.last().unwrap();
        assert_eq!(req.method.as_str(), "POST", "{:?}", task.kind());
        assert_eq!(req.url.query(), None, "POST puts nothing in the query");
        assert_eq!(
            req.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-www-form-urlencoded")
        );
        let p = params(req);
        assert_eq!(param(&p, name), Some(*value), "{:?}", task.kind());
        assert_eq!(param(&p, "key"), Some(KEY));
        assert_eq!(param(&p, "json"), Some("1"));
    }
    assert_eq!(requests_to(&server, "/in.php").await.len(), tasks.len());
}

#[tokio::test]
async fn every_token_type_submits_by_get() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/in.php"))
        .respond_with(ok(r#"{"status":1,"request":"5"}"#))
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let proxy = Proxy::new("10.1.2.3:1080", ProxyType::Socks5);
    let tasks: Vec<(Task, &str)> = vec![
        (RecaptchaV2::new("k", "https://e.x").into(), "userrecaptcha"),
        (
            RecaptchaV2::new("k", "https://e.x").invisible().into(),
            "userrecaptcha",
        ),
        (
            RecaptchaV3::new("k", "https://e.x", "a")
                .with_min_score(0.3)
                .into(),
            "userrecaptcha",
        ),
        (turnstile(), "turnstile"),
        (Geetest::new("gt", "ch", "https://e.x").into(), "geetest"),
        (
            CaptchaFox::new("sk", "https://e.x", proxy).into(),
            "captchafox",
        ),
        (
            FriendlyCaptcha::new("sk", "https://e.x")
                .with_version("v2")
                .into(),
            "friendly_captcha",
        ),
        (
            Lemin::new("cid", "div", "https://e.x")
                .with_api_server("api.lemin.me")
                .into(),
            "lemin",
        ),
    ];
    for (task, api_method) in &tasks {
        client.submit(task, None).await.unwrap();
        let reqs = requests_to(&server, "/in.php").await;
        let p = params(reqs.last().unwrap());
        assert_eq!(param(&p, "method"), Some(*api_method));
    }
    let all = requests_to(&server, "/in.php").await;
    assert_eq!(all.len(), tasks.len());
    let p = params(&all[1]);
    assert_eq!(param(&p, "invisible"), Some("1"));
    let p = params(&all[2]);
    assert_eq!(param(&p, "min_score"), Some("0.3"));
    let p = params(&all[5]);
    assert_eq!(param(&p, "proxytype"), Some("SOCKS5"));
    let p = params(&all[7]);
    assert_eq!(param(&p, "apiServer"), Some("api.lemin.me"));
}

// ---------------------------------------------------------------- poll shapes

#[tokio::test]
async fn poll_once_understands_both_modes_and_extra_fields() {
    let server = MockServer::start().await;
    let cases: Vec<(&str, &str)> = vec![
        ("1", r#"{"status":0,"request":"CAPCHA_NOT_READY"}"#),
        ("2", "CAPCHA_NOT_READY"),
        (
            "3",
            r#"{"status":1,"request":"03Areq","result":"03Ares","user_agent":"UA/1","cookies":"a=b"}"#,
        ),
        ("4", "OK|0.plain-token"),
        (
            "5",
            r#"{"status":"1","request":"0.tok","useragent":"UA/2"}"#,
        ),
        ("6", r#"{"status":1,"request":4521}"#),
    ];
    for (id, body) in &cases {
        Mock::given(method("GET"))
            .and(path("/res.php"))
            .and(query_param("action", "get"))
            .and(query_param("id", *id))
            .respond_with(ok(body))
            .mount(&server)
            .await;
    }
    let client = fast_client(&server.uri()).build().unwrap();
    assert!(client.poll_once(&TaskId::new(1)).await.unwrap().is_none());
    assert!(client.poll_once(&TaskId::new(2)).await.unwrap().is_none());

    let s = client
        .poll_once_as(
            Some(captchaai_client::task::TaskKind::RecaptchaV2Enterprise),
            &TaskId::new(3),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.token(),
        Some("03Ares"),
        "enterprise token comes from result"
    );
    assert_eq!(s.raw(), "03Areq");
    assert_eq!(s.user_agent(), Some("UA/1"));
    assert_eq!(s.response().unwrap()["cookies"], json!("a=b"));

    let s = client.poll_once(&TaskId::new(4)).await.unwrap().unwrap();
    assert_eq!(s.token(), Some("0.plain-token"));
    assert!(s.response().is_none());

    let s = client.poll_once(&TaskId::new(5)).await.unwrap().unwrap();
    assert_eq!(s.user_agent(), Some("UA/2"));

    let s = client.poll_once(&TaskId::new(6)).await.unwrap().unwrap();
    assert_eq!(s.answer(), &Answer::Text("4521".into()));
}

#[tokio::test]
async fn poll_once_remembers_the_kind_of_submitted_tasks() {
    let server = MockServer::start().await;
    answer(&server, "/in.php", r#"{"status":1,"request":"77"}"#).await;
    answer(&server, "/res.php", r#"{"status":1,"request":"[2,5]"}"#).await;
    let client = fast_client(&server.uri()).build().unwrap();
    let task: Task = Bls::new(vec![Image::from_bytes(b"GIF89a...."); 9], "x").into();
    let id = client.submit(&task, None).await.unwrap();
    let s = client.poll_once(&id).await.unwrap().unwrap();
    assert_eq!(s.kind(), Some(captchaai_client::task::TaskKind::Bls));
    assert_eq!(s.cells(), Some(&[2, 5][..]));
}

#[tokio::test]
async fn solve_waits_and_polls_until_ready() {
    let server = MockServer::start().await;
    answer(&server, "/in.php", r#"{"status":1,"request":"9"}"#).await;
    Mock::given(path("/res.php"))
        .respond_with(ok(r#"{"status":0,"request":"CAPCHA_NOT_READY"}"#))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .respond_with(ok(r#"{"status":1,"request":"0.token"}"#))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri())
        .poll_timing_override(ms(20), ms(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let s = client.solve(&turnstile()).await.unwrap();
    assert_eq!(s.token(), Some("0.token"));
    assert_eq!(s.task_id(), TaskId::new(9));
    assert_eq!(requests_to(&server, "/res.php").await.len(), 3);
    // initial wait + two intervals at least
    assert!(started.elapsed() >= ms(40), "{:?}", started.elapsed());
    for req in requests_to(&server, "/res.php").await {
        let p = params(&req);
        assert_eq!(param(&p, "id"), Some("9"));
        assert_eq!(param(&p, "json"), Some("1"));
        assert_eq!(req.method.as_str(), "GET");
    }
}

#[tokio::test]
async fn structured_answers_are_parsed_per_method() {
    let server = MockServer::start().await;
    let mut n = 0;
    let answers = [
        r#"{"status":1,"request":"[1,4,7]"}"#,
        r#"{"status":1,"request":"{\"challenge\":\"c\",\"validate\":\"v\",\"seccode\":\"s\"}"}"#,
        r#"{"status":1,"request":{"answer":"a","challenge_uuid":"u"}}"#,
        r#"{"status":1,"request":"not json"}"#,
    ];
    for body in answers {
        n += 1;
        Mock::given(path("/res.php"))
            .and(query_param("id", n.to_string()))
            .respond_with(ok(body))
            .mount(&server)
            .await;
    }
    let client = fast_client(&server.uri()).build().unwrap();
    let image = Image::from_bytes(b"png");
    let grid: Task = Grid::new(image, "x", GridSize::FourByFour).into();
    let s = client.poll(&grid, &TaskId::new(1)).await.unwrap();
    assert_eq!(s.cells(), Some(&[1, 4, 7][..]));
    let geetest: Task = Geetest::new("g", "c", "https://e.x").into();
    let s = client.poll(&geetest, &TaskId::new(2)).await.unwrap();
    assert_eq!(s.object().unwrap()["seccode"], json!("s"));
    let lemin: Task = Lemin::new("c", "d", "https://e.x").into();
    let s = client.poll(&lemin, &TaskId::new(3)).await.unwrap();
    assert_eq!(s.object().unwrap()["challenge_uuid"], json!("u"));
    let err = client.poll(&geetest, &TaskId::new(4)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedAnswer);
}

// ---------------------------------------------------------------- transient retries

#[tokio::test]
async fn transient_submit_error_then_success() {
    for first in [
        ok("ERROR_SERVER_ERROR"),
        ok(r#"{"status":0,"request":"ERROR_INTERNAL_SERVER_ERROR"}"#),
        // The rate-limit penalties lift by themselves: backing off is the cure.
        ok("MAX_USER_TURN"),
        ok(r#"{"status":0,"request":"ERROR: 1005"}"#),
        ResponseTemplate::new(500),
        ResponseTemplate::new(503).set_body_string("busy"),
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/in.php"))
            .respond_with(first)
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/in.php"))
            .respond_with(ok(r#"{"status":1,"request":"11"}"#))
            .with_priority(2)
            .mount(&server)
            .await;
        let client = fast_client(&server.uri()).build().unwrap();
        assert_eq!(
            client.submit(&turnstile(), None).await.unwrap(),
            TaskId::new(11)
        );
        assert_eq!(requests_to(&server, "/in.php").await.len(), 2);
    }
}

#[tokio::test]
async fn transient_errors_stop_after_max_retries() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/in.php",
        r#"{"status":0,"request":"ERROR_SERVER_ERROR"}"#,
    )
    .await;
    let client = fast_client(&server.uri())
        .retry(fast_retry().max_retries(2))
        .build()
        .unwrap();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert_eq!(err.api_code(), Some("ERROR_SERVER_ERROR"));
    assert!(err.is_transient());
    assert!(err.message().contains("after 2 retries"), "{err}");
    assert_eq!(requests_to(&server, "/in.php").await.len(), 3);
}

#[tokio::test]
async fn retry_none_reports_the_first_transient_error() {
    let server = MockServer::start().await;
    Mock::given(path("/in.php"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let client = fast_client(&server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert!(err.is_network());
    assert_eq!(err.status(), Some(502));
    assert_eq!(requests_to(&server, "/in.php").await.len(), 1);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported_without_the_key() {
    let base = dead_base_url().await;
    let client = fast_client(&base).build().unwrap();
    let started = Instant::now();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert!(err.is_network(), "{err:?}");
    // Three backoffs of at least 2, 4 and 8 ms were slept.
    assert!(started.elapsed() >= ms(14), "{:?}", started.elapsed());
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "the api key leaked: {shown}");
    let client_debug = format!("{client:?}");
    assert!(!client_debug.contains(KEY));
}

#[tokio::test]
async fn a_submit_that_timed_out_is_not_sent_again_but_a_read_is() {
    // The service may have created the task before its answer was lost: a second submit
    // would be a second task for one captcha. A balance read is safe to repeat.
    let server = MockServer::start().await;
    Mock::given(path("/in.php"))
        .respond_with(ok(r#"{"status":1,"request":"11"}"#).set_delay(ms(500)))
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "getbalance"))
        .respond_with(ok(r#"{"status":1,"request":"1.5"}"#).set_delay(ms(500)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "getbalance"))
        .respond_with(ok(r#"{"status":1,"request":"2.5"}"#))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri())
        .request_timeout(ms(100))
        .build()
        .unwrap();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert!(err.is_network(), "{err:?}");
    assert!(err.message().contains("not retried"), "{err}");
    assert_eq!(requests_to(&server, "/in.php").await.len(), 1);
    assert_eq!(client.balance().await.unwrap(), 2.5);
    assert_eq!(requests_to(&server, "/res.php").await.len(), 2);
}

#[tokio::test]
async fn transient_poll_failure_then_ready() {
    let server = MockServer::start().await;
    Mock::given(path("/res.php"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .respond_with(ok("OK|answer"))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let s = client.poll(&turnstile(), &TaskId::new(3)).await.unwrap();
    assert_eq!(s.raw(), "answer");
    assert_eq!(requests_to(&server, "/res.php").await.len(), 2);
}

#[tokio::test]
async fn poll_once_never_retries() {
    let server = MockServer::start().await;
    Mock::given(path("/res.php"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let err = client.poll_once(&TaskId::new(3)).await.unwrap_err();
    assert!(err.is_network());
    assert_eq!(requests_to(&server, "/res.php").await.len(), 1);
}

// ---------------------------------------------------------------- busy threads

async fn mount_threadsinfo(server: &MockServer, body: &str) {
    Mock::given(method("POST"))
        .and(path("/res.php"))
        .and(FormParam("action", "threadsinfo"))
        .and(FormParam("json", "1"))
        .respond_with(ok(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn busy_threads_then_success() {
    let server = MockServer::start().await;
    Mock::given(path("/in.php"))
        .respond_with(ok(r#"{"status":0,"request":"ERROR_ZERO_BALANCE"}"#))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/in.php"))
        .respond_with(ok(r#"{"status":1,"request":"21"}"#))
        .with_priority(2)
        .mount(&server)
        .await;
    mount_threadsinfo(&server, r#"{"status":1,"threads":"2","working_threads":2}"#).await;
    let client = fast_client(&server.uri()).build().unwrap();
    assert_eq!(
        client.submit(&turnstile(), None).await.unwrap(),
        TaskId::new(21)
    );
    assert_eq!(requests_to(&server, "/in.php").await.len(), 3);
    assert_eq!(
        requests_to(&server, "/res.php").await.len(),
        2,
        "one threadsinfo per busy answer"
    );
}

#[tokio::test]
async fn zero_balance_with_free_threads_means_no_active_plan() {
    let server = MockServer::start().await;
    answer(&server, "/in.php", "ERROR_ZERO_BALANCE").await;
    mount_threadsinfo(&server, r#"{"status":1,"threads":2,"working_threads":0}"#).await;
    let client = fast_client(&server.uri()).build().unwrap();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoThreads);
    assert_eq!(err.api_code(), Some("ERROR_ZERO_BALANCE"));
    assert_eq!(requests_to(&server, "/in.php").await.len(), 1);
}

#[tokio::test]
async fn zero_balance_without_threadsinfo_means_no_funds() {
    let server = MockServer::start().await;
    answer(&server, "/in.php", "ERROR_ZERO_BALANCE").await;
    mount_threadsinfo(&server, "ERROR_EMPTY_ACTION").await;
    let client = fast_client(&server.uri()).build().unwrap();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoThreads);
    assert_eq!(requests_to(&server, "/in.php").await.len(), 1);
}

#[tokio::test]
async fn no_slot_available_then_success() {
    let server = MockServer::start().await;
    Mock::given(path("/in.php"))
        .respond_with(ok("ERROR_NO_SLOT_AVAILABLE"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/in.php"))
        .respond_with(ok("OK|31"))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    assert_eq!(
        client.submit(&turnstile(), None).await.unwrap(),
        TaskId::new(31)
    );
    assert_eq!(
        requests_to(&server, "/res.php").await.len(),
        0,
        "no threadsinfo for NO_SLOT"
    );
}

#[tokio::test]
async fn busy_budget_exhausted_is_a_thread_limit_error() {
    let server = MockServer::start().await;
    answer(&server, "/in.php", "ERROR_ZERO_BALANCE").await;
    mount_threadsinfo(&server, r#"{"threads":1,"working_threads":1}"#).await;
    let client = fast_client(&server.uri())
        .retry(fast_retry().busy(ms(10), Duration::ZERO, ms(35)))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ThreadLimit);
    assert_eq!(err.api_code(), Some("ERROR_ZERO_BALANCE"));
    assert!(started.elapsed() >= ms(35));
    // At 0, 10, 20, 30 and 35 ms when requests are instant; fewer on a loaded machine, but
    // always a retry and never past the budget's end.
    let submits = requests_to(&server, "/in.php").await.len();
    assert!((2..=5).contains(&submits), "{submits} submits");
}

#[tokio::test]
async fn retry_none_fails_at_once_on_busy_threads() {
    let server = MockServer::start().await;
    answer(&server, "/in.php", "ERROR_ZERO_BALANCE").await;
    mount_threadsinfo(&server, r#"{"threads":1,"working_threads":1}"#).await;
    let client = fast_client(&server.uri())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ThreadLimit);
    assert_eq!(requests_to(&server, "/in.php").await.len(), 1);
}

// ---------------------------------------------------------------- fatal codes

#[tokio::test]
async fn fatal_submit_codes_are_never_retried() {
    let cases = [
        ("ERROR_WRONG_USER_KEY", ErrorKind::InvalidKey),
        ("ERROR_KEY_DOES_NOT_EXIST", ErrorKind::InvalidKey),
        ("ERROR_BAD_PARAMETERS", ErrorKind::BadInput),
        ("ERROR_PAGEURL", ErrorKind::BadInput),
        ("ERROR_ZERO_CAPTCHA_FILESIZE", ErrorKind::BadInput),
        ("ERROR_BAD_PROXY", ErrorKind::Proxy),
        ("IP_BANNED", ErrorKind::Api),
        ("ERROR: 1001", ErrorKind::Api),
        ("ERROR_SOMETHING_NEW", ErrorKind::Api),
    ];
    for (code, kind) in cases {
        for json in [true, false] {
            let server = MockServer::start().await;
            let body = if json {
                json!({"status": 0, "request": code}).to_string()
            } else {
                code.to_owned()
            };
            answer(&server, "/in.php", &body).await;
            let client = fast_client(&server.uri()).json(json).build().unwrap();
            let err = client.submit(&turnstile(), None).await.unwrap_err();
            assert_eq!(err.kind(), kind, "{code}");
            assert_eq!(err.api_code(), Some(code));
            assert_eq!(requests_to(&server, "/in.php").await.len(), 1, "{code}");
        }
    }
}

#[tokio::test]
async fn local_validation_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ok("OK|1"))
        .expect(0)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let blank: Task = Turnstile::new("", "https://e.x").into();
    assert!(
        client
            .submit(&blank, None)
            .await
            .unwrap_err()
            .is_bad_input()
    );
    let err = client
        .submit(&turnstile(), Some("not a url"))
        .await
        .unwrap_err();
    assert!(err.is_bad_input());
    let err = client
        .submit(&turnstile(), Some("ftp://example.com/cb"))
        .await
        .unwrap_err();
    assert!(err.is_bad_input());
}

#[tokio::test]
async fn unexpected_answers_are_typed() {
    let server = MockServer::start().await;
    let cases = [
        (
            1,
            ResponseTemplate::new(200).set_body_string("<html>oops</html>"),
        ),
        (2, ResponseTemplate::new(404)),
        (3, ok(r#"{"status":1}"#)),
        (4, ok("{\"status\":")),
    ];
    for (id, response) in cases {
        Mock::given(path("/res.php"))
            .and(query_param("id", id.to_string()))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    answer(&server, "/in.php", r#"{"status":1,"request":"12a"}"#).await;
    let client = fast_client(&server.uri()).build().unwrap();
    for id in 1..=4 {
        let err = client.poll_once(&TaskId::new(id)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedAnswer, "id {id}: {err}");
    }
    let err = client.poll_once(&TaskId::new(2)).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    let err = client.submit(&turnstile(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedAnswer);
}

// ---------------------------------------------------------------- poll loop outcomes

#[tokio::test]
async fn deadline_passes_while_not_ready() {
    let server = MockServer::start().await;
    answer(&server, "/res.php", "CAPCHA_NOT_READY").await;
    let client = fast_client(&server.uri())
        .poll_timing_override(ms(5), ms(20))
        .deadline(ms(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .poll(&turnstile(), &TaskId::new(5))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(elapsed >= ms(100), "raised early: {elapsed:?}");
    assert!(elapsed < ms(1_000), "raised late: {elapsed:?}");
    let polls = requests_to(&server, "/res.php").await.len();
    // polls at about 5, 25, 45, 65, 85 ms
    assert!((1..=5).contains(&polls), "{polls} polls");
}

#[tokio::test]
async fn unsolvable_ends_polling() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/res.php",
        r#"{"status":0,"request":"ERROR_CAPTCHA_UNSOLVABLE"}"#,
    )
    .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let err = client
        .poll(&turnstile(), &TaskId::new(5))
        .await
        .unwrap_err();
    assert!(err.is_unsolvable());
    assert_eq!(err.api_code(), Some("ERROR_CAPTCHA_UNSOLVABLE"));
    assert_eq!(requests_to(&server, "/res.php").await.len(), 1);
}

#[tokio::test]
async fn fatal_poll_codes_end_polling() {
    for (code, kind) in [
        ("ERROR_WRONG_CAPTCHA_ID", ErrorKind::Api),
        ("ERROR_KEY_DOES_NOT_EXIST", ErrorKind::InvalidKey),
    ] {
        let server = MockServer::start().await;
        answer(&server, "/res.php", code).await;
        let client = fast_client(&server.uri()).json(false).build().unwrap();
        let err = client
            .poll(&turnstile(), &TaskId::new(5))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind);
        assert_eq!(requests_to(&server, "/res.php").await.len(), 1);
    }
}

#[tokio::test]
async fn proxy_connection_failed_keeps_polling() {
    let server = MockServer::start().await;
    Mock::given(path("/res.php"))
        .respond_with(ok(
            r#"{"status":0,"request":"ERROR_PROXY_CONNECTION_FAILED"}"#,
        ))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .respond_with(ok(
            r#"{"status":1,"request":"fox-token","user_agent":"UA"}"#,
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    let task: Task = CaptchaFox::new(
        "sk",
        "https://e.x",
        Proxy::new("1.2.3.4:80", ProxyType::Http),
    )
    .into();
    let s = client.poll(&task, &TaskId::new(8)).await.unwrap();
    assert_eq!(s.token(), Some("fox-token"));
    assert_eq!(s.user_agent(), Some("UA"));
    assert_eq!(requests_to(&server, "/res.php").await.len(), 3);
}

// ---------------------------------------------------------------- account actions

#[tokio::test]
async fn account_actions() {
    let server = MockServer::start().await;
    mount_threadsinfo(
        &server,
        r#"{"status":1,"request":"OK","threads":"5","working_threads":"3"}"#,
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/res.php"))
        .and(query_param("action", "getbalance"))
        .and(query_param("json", "1"))
        .respond_with(ok(r#"{"status":1,"request":"12.345"}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/res.php"))
        .and(query_param("action", "getbalance"))
        .and(query_param("json", "0"))
        .respond_with(ok("7.5"))
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "reportgood"))
        .and(query_param("id", "1"))
        .respond_with(ok(r#"{"status":1,"request":"OK_REPORT_RECORDED"}"#))
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "reportbad"))
        .and(query_param("id", "1"))
        .respond_with(ok("OK_REPORT_RECORDED"))
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "reportbad"))
        .and(query_param("id", "2"))
        .respond_with(ok(r#"{"status":0,"request":"ERROR_DUPLICATE_REPORT"}"#))
        .mount(&server)
        .await;

    let client = fast_client(&server.uri()).build().unwrap();
    let info = client.threads_info().await.unwrap();
    assert_eq!((info.threads, info.working_threads), (5, 3));
    assert!(!info.all_busy());
    assert!((client.balance().await.unwrap() - 12.345).abs() < 1e-9);
    client.report_good(&TaskId::new(1)).await.unwrap();

    let plain = fast_client(&server.uri()).json(false).build().unwrap();
    assert!((plain.balance().await.unwrap() - 7.5).abs() < 1e-9);
    plain.report_bad(&TaskId::new(1)).await.unwrap();
    let err = client.report_bad(&TaskId::new(2)).await.unwrap_err();
    assert_eq!(err.api_code(), Some("ERROR_DUPLICATE_REPORT"));
}

#[tokio::test]
async fn threadsinfo_errors() {
    let server = MockServer::start().await;
    mount_threadsinfo(&server, r#"{"status":0,"request":"ERROR_WRONG_USER_KEY"}"#).await;
    let client = fast_client(&server.uri()).build().unwrap();
    assert!(client.threads_info().await.unwrap_err().is_invalid_key());

    let server = MockServer::start().await;
    mount_threadsinfo(&server, r#"{"status":1,"threads":"many"}"#).await;
    let client = fast_client(&server.uri()).build().unwrap();
    assert_eq!(
        client.threads_info().await.unwrap_err().kind(),
        ErrorKind::UnexpectedAnswer
    );
}

#[tokio::test]
async fn base_url_with_a_path_prefix() {
    let server = MockServer::start().await;
    Mock::given(path("/api/in.php"))
        .respond_with(ok("OK|4"))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast_client(&format!("{}/api", server.uri()))
        .build()
        .unwrap();
    assert_eq!(
        client.submit(&turnstile(), None).await.unwrap(),
        TaskId::new(4)
    );
}

#[test]
fn builder_rejects_bad_settings() {
    for base in [
        "not a url",
        "ftp://x.example",
        "http://x.example/?a=1",
        "mailto:a@b",
    ] {
        let err = captchaai_client::Client::builder(base, KEY)
            .build()
            .unwrap_err();
        assert!(err.is_bad_input(), "{base}");
    }
    let err = captchaai_client::Client::builder("http://127.0.0.1:1", KEY)
        .poll_timing_override(ms(1), Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.is_bad_input());
}

// ---------------------------------------------------------------- 2captcha callback hosts

#[tokio::test]
async fn pingback_registration_round_trips_in_both_json_modes() {
    let server = MockServer::start().await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "add_pingback"))
        .and(query_param("addr", "https://my.app/pingback"))
        .respond_with(ok(r#"{"status":1,"request":"OK"}"#))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "get_pingback"))
        .respond_with(ok("my.app,other.app"))
        .mount(&server)
        .await;
    Mock::given(path("/res.php"))
        .and(query_param("action", "del_pingback"))
        .respond_with(ok(r#"{"status":0,"request":"ERROR_WRONG_USER_KEY"}"#))
        .mount(&server)
        .await;
    let client = fast_client(&server.uri()).build().unwrap();
    client
        .add_pingback("https://my.app/pingback")
        .await
        .unwrap();
    assert_eq!(
        client.pingback_hosts().await.unwrap(),
        vec!["my.app", "other.app"]
    );
    let err = client.del_pingback("all").await.unwrap_err();
    assert!(err.is_invalid_key(), "{err}");
    assert_eq!(err.api_code(), Some("ERROR_WRONG_USER_KEY"));
}
