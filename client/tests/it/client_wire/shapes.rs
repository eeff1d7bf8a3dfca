//! What the client sends to `in.php` per method, and how it reads `res.php` answers.

use captchaai_client::solution::Answer;
use captchaai_client::task::{
    Bls, CaptchaFox, CloudflareChallenge, FriendlyCaptcha, Geetest, Grid, GridSize, Image, Lemin,
    Normal, Proxy, ProxyType, RecaptchaV2, RecaptchaV3,
};
use captchaai_client::{ErrorKind, Task, TaskId};
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer};

use super::{answer, ok, requests_to};
use crate::support::{KEY, fast_client, ms, param, params, turnstile};

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

// ---- poll shapes

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
