//! What the test modules share: the key, durations, a task, clients for wiremock and for
//! loopback, a served receiver, and recorders of the store's events.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use captchaai_client::receiver::{Receiver, StoreEvent};
use captchaai_client::task::Turnstile;
use captchaai_client::{Client, ClientBuilder, RetryPolicy, Task, TaskId};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use wiremock::{Match, Request};

pub(crate) const KEY: &str = "0123456789abcdef0123456789abcdef";

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn id(n: u64) -> TaskId {
    TaskId::new(n)
}

/// The task most tests submit: a Turnstile (GET, token answer).
pub(crate) fn turnstile() -> Task {
    Turnstile::new("0x4AAAAAAA", "https://example.com/login").into()
}

/// A reqwest client for loopback servers (no proxy from the environment).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client")
}

/// Millisecond-scale retries so wiremock tests (real clock) stay fast.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(3)
        .backoff(ms(2), 2, ms(20))
        .jitter(ms(1))
        .busy(ms(5), ms(1), ms(60))
}

/// A client for a wiremock server: millisecond polling, fast retries, fixed seed.
pub(crate) fn fast_client(base: &str) -> ClientBuilder {
    Client::builder(base, KEY)
        .poll_timing_override(ms(1), ms(5))
        .retry(fast_retry())
        .deadline(ms(2_000))
        .request_timeout(ms(2_000))
        .seed(7)
}

/// Matches an urlencoded body parameter.
pub(crate) struct FormParam(pub(crate) &'static str, pub(crate) &'static str);

impl Match for FormParam {
    fn matches(&self, request: &Request) -> bool {
        form_urlencoded::parse(&request.body).any(|(k, v)| k == self.0 && v == self.1)
    }
}

/// The urlencoded parameters of a request: query string, then body.
pub(crate) fn params(request: &Request) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = request
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    out.extend(
        form_urlencoded::parse(&request.body).map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
    out
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `application/x-www-form-urlencoded` encoding of a value.
pub(crate) fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A base URL where nothing listens.
pub(crate) async fn dead_base_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Cancels a served test server when dropped.
pub(crate) struct ShutdownOnDrop(pub(crate) CancellationToken);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Serves `receiver` (with connect info) on 127.0.0.1:0 until the guard is dropped.
pub(crate) async fn serve(receiver: Receiver) -> (SocketAddr, ShutdownOnDrop) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move { receiver.serve(listener, token).await.unwrap() });
    (addr, ShutdownOnDrop(shutdown))
}

/// Serves a plain router (no connect info) on 127.0.0.1:0 until the guard is dropped.
pub(crate) async fn serve_router(app: axum::Router) -> (SocketAddr, ShutdownOnDrop) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await
            .unwrap()
    });
    (addr, ShutdownOnDrop(shutdown))
}

/// Every event of a store, as observed synchronously.
pub(crate) type EventLog = Arc<Mutex<Vec<StoreEvent>>>;

/// Starts recording the store's events.
pub(crate) fn record_events(store: &captchaai_client::receiver::ResultStore) -> EventLog {
    let log: EventLog = Arc::default();
    let sink = Arc::clone(&log);
    store.on_event(move |e| sink.lock().unwrap().push(e.clone()));
    log
}

/// The evictions received so far: (task, whether it had a result).
pub(crate) fn evictions(events: &mut broadcast::Receiver<StoreEvent>) -> Vec<(TaskId, bool)> {
    let mut evicted = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let StoreEvent::Evicted {
            task_id,
            had_result,
        } = event
        {
            evicted.push((task_id, had_result));
        }
    }
    evicted
}
