//! The pingback receiver over a real socket on 127.0.0.1:0 (reqwest against axum), plus a few
//! handler tests without a socket (`oneshot`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use captchaai_client::TaskId;
use captchaai_client::receiver::{
    Receiver, ReceiverConfig, RejectReason, ResultSource, ResultStore, StoreEvent,
};
use tower::ServiceExt as _;

use crate::support::{
    EventLog, ShutdownOnDrop, form_encode, http, record_events, serve, serve_router,
};

struct Running {
    base: String,
    store: ResultStore,
    events: EventLog,
    http: reqwest::Client,
    _server: ShutdownOnDrop,
}

impl Running {
    fn url(&self, query: &str) -> String {
        format!("{}/pingback{query}", self.base)
    }

    async fn get(&self, query: &str) -> StatusCode {
        let response = self.http.get(self.url(query)).send().await.unwrap();
        StatusCode::from_u16(response.status().as_u16()).unwrap()
    }

    async fn post_form(&self, query: &str, body: &str) -> StatusCode {
        let response = self
            .http
            .post(self.url(query))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        StatusCode::from_u16(response.status().as_u16()).unwrap()
    }

    fn rejected(&self) -> Vec<RejectReason> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                StoreEvent::Rejected { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

async fn start(config: ReceiverConfig) -> Running {
    start_with(config, true).await
}

async fn start_with(config: ReceiverConfig, connect_info: bool) -> Running {
    let store = ResultStore::new();
    let events = record_events(&store);
    let receiver = Receiver::new(config, store.clone());
    let (addr, server) = if connect_info {
        serve(receiver).await
    } else {
        // Served the wrong way: without ConnectInfo.
        serve_router(receiver.router()).await
    };
    Running {
        base: format!("http://{addr}"),
        store,
        events,
        http: http(),
        _server: server,
    }
}

#[tokio::test]
async fn valid_get_and_post_callbacks_are_stored() {
    let r = start(ReceiverConfig::default()).await;
    assert_eq!(r.get("?id=101&code=03AFcWeA").await, StatusCode::OK);
    assert_eq!(
        r.post_form("", "id=102&code=0.tok%2Bplus").await,
        StatusCode::OK
    );
    assert_eq!(
        r.store.get(TaskId::new(101)).await.unwrap().unwrap().code(),
        "03AFcWeA"
    );
    let posted = r.store.get(TaskId::new(102)).await.unwrap().unwrap();
    assert_eq!(posted.code(), "0.tok+plus");
    assert_eq!(posted.source(), ResultSource::Pingback);
    // A JSON answer near the length limit, percent-encoded to almost three times its size,
    // is as valid by POST as by GET.
    let json = format!("{{\"a\":\"{}\"}}", "+/=".repeat(2600));
    assert!(json.len() < captchaai_client::receiver::DEFAULT_MAX_CODE_LEN);
    let body = format!("id=103&code={}", form_encode(&json));
    assert!(body.len() > 2 * json.len());
    assert_eq!(r.post_form("", &body).await, StatusCode::OK);
    assert_eq!(
        r.store.get(TaskId::new(103)).await.unwrap().unwrap().code(),
        json
    );
    assert_eq!(r.store.stats().stored, 3);
    assert!(r.rejected().is_empty());
}

#[tokio::test]
async fn malformed_callbacks_get_4xx_and_leave_the_store_untouched() {
    let config = ReceiverConfig::default().with_max_code_len(16).unwrap();
    let r = start(config).await;
    let long = "x".repeat(17);
    let cases: Vec<(String, StatusCode, RejectReason)> = vec![
        (
            "?code=abc".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::MissingId,
        ),
        (
            "?id=&code=abc".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::InvalidId,
        ),
        (
            "?id=12a&code=abc".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::InvalidId,
        ),
        (
            "?id=-5&code=abc".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::InvalidId,
        ),
        (
            "?id=99999999999999999999999&code=abc".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::InvalidId,
        ),
        (
            "?id=5".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::MissingCode,
        ),
        (
            "?id=5&code=".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::MissingCode,
        ),
        (
            format!("?id=5&code={long}"),
            StatusCode::BAD_REQUEST,
            RejectReason::CodeTooLarge,
        ),
        (
            "?id=5&id=6&code=a".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::AmbiguousParameter,
        ),
        (
            "?id=5&code=a&code=b".into(),
            StatusCode::BAD_REQUEST,
            RejectReason::AmbiguousParameter,
        ),
    ];
    for (query, status, _) in &cases {
        assert_eq!(r.get(query).await, *status, "{query}");
    }
    // POST: wrong content type, oversized body, malformed form.
    let response = r
        .http
        .post(r.url(""))
        .header("content-type", "application/json")
        .body(r#"{"id":5,"code":"abc"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let huge = format!("id=5&code={}", "y".repeat(20_000));
    assert_eq!(r.post_form("", &huge).await.as_u16(), 413);
    assert_eq!(r.post_form("", "id=abc&code=x").await.as_u16(), 400);
    let response = r.http.put(r.url("?id=5&code=a")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response.headers().get("allow").unwrap().to_str().unwrap(),
        "GET, POST"
    );

    assert_eq!(r.store.len().await.unwrap(), 0, "no entry was created");
    let stats = r.store.stats();
    assert_eq!((stats.stored, stats.registered), (0, 0));
    assert_eq!(stats.rejected as usize, cases.len() + 4);
    let mut expected: Vec<RejectReason> = cases.into_iter().map(|(_, _, r)| r).collect();
    expected.extend([
        RejectReason::UnsupportedContentType,
        RejectReason::BodyTooLarge,
        RejectReason::InvalidId,
        RejectReason::MethodNotAllowed,
    ]);
    assert_eq!(r.rejected(), expected);
}

#[tokio::test]
async fn identical_duplicates_and_conflicts_are_acknowledged_and_ignored() {
    let r = start(ReceiverConfig::default()).await;
    assert_eq!(r.get("?id=7&code=first").await, StatusCode::OK);
    assert_eq!(r.get("?id=7&code=first").await, StatusCode::OK);
    assert_eq!(r.post_form("", "id=7&code=second").await, StatusCode::OK);
    assert_eq!(
        r.store.get(TaskId::new(7)).await.unwrap().unwrap().code(),
        "first"
    );
    let stats = r.store.stats();
    assert_eq!((stats.stored, stats.duplicates, stats.conflicts), (1, 1, 1));
    let conflicts: Vec<_> = r
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, StoreEvent::Conflict { .. }))
        .cloned()
        .collect();
    assert_eq!(
        conflicts,
        vec![StoreEvent::Conflict {
            task_id: TaskId::new(7),
            kept: "first".into(),
            rejected: "second".into(),
            source: ResultSource::Pingback,
        }]
    );
}

#[tokio::test]
async fn early_callbacks_are_kept_for_a_later_wait() {
    let r = start(ReceiverConfig::default()).await;
    assert_eq!(r.get("?id=55&code=early").await, StatusCode::OK);
    // Registered after the result arrived: still found.
    assert!(r.store.register(TaskId::new(55)).await.unwrap());
    let result = r
        .store
        .wait(TaskId::new(55), Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(result.code(), "early");
}

#[tokio::test]
async fn wait_sees_a_callback_arriving_later() {
    let r = start(ReceiverConfig::default()).await;
    let store = r.store.clone();
    let waiter =
        tokio::spawn(async move { store.wait(TaskId::new(66), Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(r.get("?id=66&code=later").await, StatusCode::OK);
    assert_eq!(waiter.await.unwrap().unwrap().code(), "later");
}

#[tokio::test]
async fn shared_secret_is_enforced() {
    let config = ReceiverConfig::default().with_secret("s3cret").unwrap();
    let callback = config.callback_url("http://127.0.0.1:1").unwrap();
    assert_eq!(callback, "http://127.0.0.1:1/pingback?token=s3cret");
    let r = start(config).await;
    assert_eq!(r.get("?id=1&code=a").await, StatusCode::FORBIDDEN);
    assert_eq!(
        r.get("?token=wrong&id=1&code=a").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        r.get("?token=s3cre&id=1&code=a").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        r.get("?token=s3cret&token=s3cret&id=1&code=a").await,
        StatusCode::FORBIDDEN
    );
    // The secret travels in the query, even for 2captcha-style POST callbacks.
    assert_eq!(
        r.post_form("", "token=s3cret&id=1&code=a").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(r.store.len().await.unwrap(), 0);
    // Existing query parameters are kept by the sender: ?token=...&id=..&code=..
    assert_eq!(r.get("?token=s3cret&id=1&code=a").await, StatusCode::OK);
    assert_eq!(
        r.post_form("?token=s3cret", "id=2&code=b").await,
        StatusCode::OK
    );
    assert_eq!(r.store.stats().stored, 2);
    assert_eq!(r.rejected(), vec![RejectReason::BadSecret; 5]);
}

#[tokio::test]
async fn allow_list_rejects_loopback_when_only_10_slash_8_is_allowed() {
    let config = ReceiverConfig::default().allow_network("10.0.0.0/8".parse().unwrap());
    let r = start(config).await;
    assert_eq!(r.get("?id=1&code=a").await, StatusCode::FORBIDDEN);
    assert_eq!(r.store.len().await.unwrap(), 0);
    assert_eq!(r.rejected(), vec![RejectReason::SourceNotAllowed]);
}

#[tokio::test]
async fn allow_list_accepts_loopback_when_127_slash_8_is_allowed() {
    let config = ReceiverConfig::default().allow_networks([
        "10.0.0.0/8".parse().unwrap(),
        "127.0.0.0/8".parse().unwrap(),
    ]);
    let r = start(config).await;
    assert_eq!(r.get("?id=1&code=a").await, StatusCode::OK);
    assert_eq!(r.store.stats().stored, 1);
}

#[tokio::test]
async fn allow_list_fails_closed_without_connect_info() {
    let config = ReceiverConfig::default().allow_network("127.0.0.0/8".parse().unwrap());
    let r = start_with(config, false).await;
    assert_eq!(r.get("?id=1&code=a").await, StatusCode::FORBIDDEN);
    assert_eq!(r.rejected(), vec![RejectReason::NoConnectInfo]);
    assert_eq!(r.store.len().await.unwrap(), 0);
}

#[tokio::test]
async fn registered_only_mode() {
    let r = start(ReceiverConfig::default().registered_only(true)).await;
    assert_eq!(r.get("?id=8&code=a").await, StatusCode::NOT_FOUND);
    assert_eq!(
        r.store.len().await.unwrap(),
        0,
        "an unknown id leaves no trace"
    );
    r.store.register(TaskId::new(8)).await.unwrap();
    assert_eq!(r.get("?id=8&code=a").await, StatusCode::OK);
    assert_eq!(
        r.store.get(TaskId::new(8)).await.unwrap().unwrap().code(),
        "a"
    );
    assert_eq!(r.rejected(), vec![RejectReason::UnknownTask]);
}

#[tokio::test]
async fn error_codes_are_stored_as_failures() {
    let r = start(ReceiverConfig::default()).await;
    assert_eq!(
        r.get("?id=9&code=ERROR_CAPTCHA_UNSOLVABLE").await,
        StatusCode::OK
    );
    let result = r.store.get(TaskId::new(9)).await.unwrap().unwrap();
    assert!(result.is_failure());
    let err = result
        .to_solution(captchaai_client::task::TaskKind::Turnstile)
        .unwrap_err();
    assert!(err.is_unsolvable());
}

#[tokio::test]
async fn custom_path_and_secret_param() {
    let config = ReceiverConfig::default()
        .with_path("/hooks/cb")
        .unwrap()
        .with_secret("k")
        .unwrap()
        .with_secret_param("sig")
        .unwrap();
    let r = start(config).await;
    let response = r
        .http
        .get(format!("{}/hooks/cb?sig=k&id=3&code=z", r.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = r
        .http
        .get(format!("{}/pingback?sig=k&id=3&code=z", r.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        404,
        "the default path is not served"
    );
}

#[test]
fn config_validation() {
    let c = ReceiverConfig::default();
    assert!(c.clone().with_path("no-slash").is_err());
    assert!(c.clone().with_path("/{id}").is_err());
    assert!(c.clone().with_path("/a//b").is_err());
    assert!(c.clone().with_path("/*rest").is_err());
    assert!(c.clone().with_secret("").is_err());
    assert!(c.clone().with_secret_param("id").is_err());
    assert!(c.clone().with_max_code_len(0).is_err());
    let c = c.with_secret("hidden-value").unwrap();
    assert!(!format!("{c:?}").contains("hidden-value"));
    assert!(c.callback_url("not a url").is_err());
    assert_eq!(
        c.callback_url("https://my.app/prefix/").unwrap(),
        "https://my.app/prefix/pingback?token=hidden-value"
    );
}

// ---------------------------------------------------------------- oneshot (no socket)

fn oneshot_request(uri: &str, peer: Option<SocketAddr>) -> Request<Body> {
    let mut request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request
}

#[tokio::test]
async fn oneshot_allow_list_with_ipv4_mapped_ipv6_peer() {
    let store = ResultStore::new();
    let receiver = Receiver::new(
        ReceiverConfig::default().allow_network("192.168.0.0/16".parse().unwrap()),
        store.clone(),
    );
    let mapped: SocketAddr = "[::ffff:192.168.1.20]:4000".parse().unwrap();
    let response = receiver
        .router()
        .oneshot(oneshot_request("/pingback?id=1&code=a", Some(mapped)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let outside: SocketAddr = "192.169.0.1:4000".parse().unwrap();
    let response = receiver
        .router()
        .oneshot(oneshot_request("/pingback?id=2&code=a", Some(outside)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(store.stats().stored, 1);
}

#[tokio::test]
async fn oneshot_bodiless_post_with_query_parameters() {
    let store = ResultStore::new();
    let receiver = Receiver::new(ReceiverConfig::default(), store.clone());
    let request = Request::builder()
        .method("POST")
        .uri("/pingback?id=4&code=q")
        .body(Body::empty())
        .unwrap();
    let response = receiver.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        store.get(TaskId::new(4)).await.unwrap().unwrap().code(),
        "q"
    );
}
