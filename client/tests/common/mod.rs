//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use captchaai_client::{Client, ClientBuilder, RetryPolicy};
use wiremock::{Match, Request};

pub const KEY: &str = "0123456789abcdef0123456789abcdef";

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Millisecond-scale retries so wiremock tests (real clock) stay fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(3)
        .backoff(ms(2), 2, ms(20))
        .jitter(ms(1))
        .busy(ms(5), ms(1), ms(60))
}

/// A client for a wiremock server: millisecond polling, fast retries, fixed seed.
pub fn fast_client(base: &str) -> ClientBuilder {
    Client::builder(base, KEY)
        .poll_timing_override(ms(1), ms(5))
        .retry(fast_retry())
        .deadline(ms(2_000))
        .request_timeout(ms(2_000))
        .seed(7)
}

/// Matches an urlencoded body parameter.
pub struct FormParam(pub &'static str, pub &'static str);

impl Match for FormParam {
    fn matches(&self, request: &Request) -> bool {
        form_urlencoded::parse(&request.body).any(|(k, v)| k == self.0 && v == self.1)
    }
}

/// The urlencoded parameters of a request: query string, then body.
pub fn params(request: &Request) -> Vec<(String, String)> {
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

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A base URL where nothing listens.
pub async fn dead_base_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
