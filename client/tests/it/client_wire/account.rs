//! Account actions (threadsinfo, balance, reports), client settings, and 2captcha
//! pingback host registration.

use std::time::Duration;

use captchaai_client::{ErrorKind, TaskId};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer};

use super::{mount_threadsinfo, ok};
use crate::support::{KEY, fast_client, ms, turnstile};

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

// ---- 2captcha callback hosts

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
