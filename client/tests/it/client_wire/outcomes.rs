//! Answers that end a submit or a poll: fatal codes, local validation, unparseable bodies,
//! deadlines and failed tasks.

use captchaai_client::task::{CaptchaFox, Proxy, ProxyType, Turnstile};
use captchaai_client::{ErrorKind, Task, TaskId};
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{answer, ok, requests_to};
use crate::support::{fast_client, ms, turnstile};

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

// ---- poll loop outcomes

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
