//! Retries: transient errors with backoff, busy threads within their budget, and what is
//! never sent twice.

use std::time::Duration;

use captchaai_client::{ErrorKind, RetryPolicy, TaskId};
use tokio::time::Instant;
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{answer, mount_threadsinfo, ok, requests_to};
use crate::support::{KEY, dead_base_url, fast_client, fast_retry, ms, turnstile};

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

// ---- busy threads

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
