//! The client against `wiremock`: every wire shape, error path and retry path.
//!
//! wiremock's server runs outside the test runtime, so these tests use the real clock with
//! millisecond timings (never a paused clock).

mod account;
mod outcomes;
mod retries;
mod shapes;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::FormParam;

pub(super) fn ok(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string(body)
}

/// Every request to `endpoint` is answered `body`.
pub(super) async fn answer(server: &MockServer, endpoint: &str, body: &str) {
    Mock::given(path(endpoint))
        .respond_with(ok(body))
        .mount(server)
        .await;
}

pub(super) async fn requests_to(server: &MockServer, p: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

/// Answers `threadsinfo` requests (POST, json=1) with `body`.
pub(super) async fn mount_threadsinfo(server: &MockServer, body: &str) {
    Mock::given(method("POST"))
        .and(path("/res.php"))
        .and(FormParam("action", "threadsinfo"))
        .and(FormParam("json", "1"))
        .respond_with(ok(body))
        .mount(server)
        .await;
}
