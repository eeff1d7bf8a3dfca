//! One attempt: the callback as an HTTP request (GET with `id` and `code` in the query, or a
//! POST form), sent with the per-attempt timeout on the mock's clock; its outcome counted,
//! logged and journalled.

use std::sync::atomic::Ordering;

use super::{
    Dispatcher, Generation, Inner,
    lanes::JobCtx,
    record::{AttemptOutcome, Body, Entry, error_chain},
};
use crate::{
    clock::SimTime,
    model::CallbackMethod,
    pingback::schedule::{DeliveryKind, PlannedDelivery},
    url::{callback_form, query_separator, with_callback_query, with_query},
};

impl Inner {
    /// The HTTP client pingbacks are sent with.
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(self.max_idle_per_host)
                .user_agent(concat!(
                    "captchaai-mock/",
                    env!("CARGO_PKG_VERSION"),
                    " (pingback)"
                ))
                .redirect(reqwest::redirect::Policy::none())
                .local_address(self.source_address)
                .build()
                .unwrap_or_default()
        })
    }
}

impl Dispatcher {
    /// Sends one attempt of planned callback `index` and waits for its outcome (at most the
    /// attempt timeout, in simulated time); counts, logs and journals it.
    #[allow(clippy::too_many_arguments)] // one attempt's facts, all needed
    pub(super) async fn attempt(
        &self,
        ctx: &JobCtx,
        index: u32,
        planned: &PlannedDelivery,
        attempt: u32,
        due: SimTime,
        last: bool,
        generation: &Generation,
    ) -> AttemptOutcome {
        let job = &ctx.job;
        let (sent_id, sent_code) = self.payload(job, planned, generation);
        let request = {
            let (id, code) = (sent_id.text(), sent_code.text());
            self.0.request(
                planned.method,
                &job.url,
                ctx.parsed_url.as_ref(),
                id.as_deref(),
                code.as_deref(),
            )
        };
        let sent_at = self.0.clock.now();
        let timeout = self.0.clock.to_real(self.0.attempt_timeout);
        let result = tokio::time::timeout(timeout, async {
            let resp = request.send().await?;
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, body))
        })
        .await;
        let answered_at = self.0.clock.now();
        let (outcome, response) = match result {
            Err(_) => (AttemptOutcome::Timeout, Body::None),
            Ok(answer) => classify(answer),
        };
        if matches!(outcome, AttemptOutcome::Delivered { .. }) {
            self.0.delivered.fetch_add(1, Ordering::Relaxed);
            if planned.kind == DeliveryKind::Genuine {
                generation.delivered.push(job.task_id);
            }
        } else {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
        }
        let latency = answered_at.saturating_since(sent_at);
        let last_attempt = last || !outcome.is_failure();
        tracing::info!(
            target: "captchaai_mock::pingback",
            task = job.task_id,
            kind = planned.kind.label(),
            fault = %ctx.fault,
            attempt,
            method = planned.method.as_str(),
            url = %job.url,
            outcome = %outcome,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "pingback attempt"
        );
        self.0
            .telemetry
            .pingback(&ctx.fault, &outcome, Some(latency));
        self.0.journal.push(Entry {
            task_id: job.task_id,
            delivery: index,
            kind: planned.kind,
            fault: ctx.fault.clone(),
            attempt,
            method: planned.method,
            url: job.url.clone(),
            id: sent_id,
            code: sent_code,
            scheduled_at_ms: due.as_millis(),
            sent_at_ms: sent_at.as_millis(),
            outcome: outcome.clone(),
            latency_us: Some(latency.as_micros() as u64),
            response,
            last_attempt,
        });
        outcome
    }
}

impl Inner {
    /// The callback as a request: GET with `id` and `code` in the query (after the URL's own
    /// parameters, before a fragment), or POST with them as a form body; with the pingback
    /// marker header the mock's own routes refuse.
    ///
    /// `parsed` is `url` parsed once for the job ([`parse_callback`](crate::url::parse_callback)): the query is appended
    /// to a copy of it, which makes the URL reqwest would parse out of the string (a 300-byte
    /// code parsed again per attempt was a visible share of the dispatcher's CPU time).
    /// Without it, or where appending declines, the string is built and reqwest parses it.
    fn request(
        &self,
        method: CallbackMethod,
        url: &str,
        parsed: Option<&reqwest::Url>,
        id: Option<&str>,
        code: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = match method {
            CallbackMethod::Get => {
                match parsed.and_then(|base| with_callback_query(base, id, code)) {
                    Some(full) => self.http().get(full),
                    None if url.contains('#') => self
                        .http()
                        .get(with_query(url, &callback_form("", "", id, code))),
                    None => {
                        let sep = query_separator(url);
                        self.http().get(callback_form(url, sep, id, code))
                    }
                }
            }
            CallbackMethod::Post => {
                let request = match parsed {
                    Some(base) => self.http().post(base.clone()),
                    None => self.http().post(url),
                };
                request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        reqwest::header::HeaderValue::from_static(
                            "application/x-www-form-urlencoded",
                        ),
                    )
                    .body(callback_form("", "", id, code))
            }
        };
        request.header(
            reqwest::header::HeaderName::from_static(super::PINGBACK_MARKER),
            reqwest::header::HeaderValue::from_static("1"),
        )
    }
}

/// What an answer (or a transport failure before one) means for the attempt.
fn classify(answer: Result<(u16, bytes::Bytes), reqwest::Error>) -> (AttemptOutcome, Body) {
    match answer {
        Ok((status, body)) => {
            let outcome = if (200..300).contains(&status) {
                AttemptOutcome::Delivered { status }
            } else {
                AttemptOutcome::Rejected { status }
            };
            (outcome, Body::from_bytes(&body))
        }
        Err(e) if e.is_connect() => (
            AttemptOutcome::Refused {
                error: error_chain(&e),
            },
            Body::None,
        ),
        Err(e) if e.is_timeout() => (AttemptOutcome::Timeout, Body::None),
        Err(e) => (
            AttemptOutcome::Error {
                error: error_chain(&e),
            },
            Body::None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::{clock::Clock, config::Config, url::parse_callback};

    /// The request head (and a POST's body) as it reached a raw listener.
    async fn on_the_wire(
        request: reqwest::RequestBuilder,
        listener: &tokio::net::TcpListener,
    ) -> String {
        let sent = tokio::spawn(request.send());
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "connection closed early: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.parse::<usize>().unwrap());
                if got.len() >= end + 4 + length {
                    break;
                }
            }
        }
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK")
            .await
            .unwrap();
        let answer = sent.await.unwrap().unwrap();
        assert_eq!(answer.status(), 200);
        String::from_utf8(got).unwrap()
    }

    /// A callback built on the URL parsed once carries the very bytes that one built as a
    /// string and parsed by reqwest does, GET and POST, whatever the URL already holds.
    #[tokio::test]
    async fn a_callback_on_the_parsed_url_is_the_same_on_the_wire() {
        let d = Dispatcher::new(
            &Config::default().dispatcher_settings(),
            Clock::new(1.0),
            CancellationToken::new(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let code = "0.aB-_~ *+&=?#%/é\"<>'";
        for path in [
            "/hook",
            "/hook?token=abc",
            "/hook?",
            "/hook?t=a&",
            "/h%20k?t=\"x\"#frag",
            "/hook#f?x",
        ] {
            let url = format!("http://{addr}{path}");
            let parsed = parse_callback(&url);
            assert!(parsed.is_some(), "{url}");
            for method in [CallbackMethod::Get, CallbackMethod::Post] {
                for (id, code) in [
                    (Some("74000000001"), Some(code)),
                    (None, Some("x")),
                    (Some("1x"), None),
                ] {
                    let fast = d.0.request(method, &url, parsed.as_ref(), id, code);
                    let fast = on_the_wire(fast, &listener).await;
                    let string = d.0.request(method, &url, None, id, code);
                    let string = on_the_wire(string, &listener).await;
                    assert_eq!(fast, string, "{method:?} {url} {id:?} {code:?}");
                    assert!(
                        fast.contains("\r\nx-captchaai-mock-pingback: 1\r\n"),
                        "{fast}"
                    );
                }
            }
        }
    }
}
