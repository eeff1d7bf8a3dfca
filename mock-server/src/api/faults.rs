//! API faults on the wire: what a client gets when a rule of `[[api.rules]]` (the vocabulary
//! in [`crate::api_faults`]) applies to its request. Error pages as the services' front ends
//! send them, a connection closed without an answer, a stall, an answer cut short, a late
//! answer, or another code.
//!
//! CaptchaAI's error-handling page warns that "in very rare cases server can return HTML page
//! with error text like 500 or 502" and asks clients to wait 5 seconds and retry on anything
//! unrecognised; 2captcha's request limits ask for "proper error handling for cases when server
//! returns an error (error message, HTTP error or HTML page with error)". Users of
//! flathunter (PR #161) and node_two_captcha (issue #19) met such pages and 521s from
//! Cloudflare.
//!
//! A connection is closed without an answer by a response whose body fails before its first
//! byte: hyper then drops the connection without writing the buffered head (the tests check
//! that a real client sees a connection error, not a response).

use std::{borrow::Cow, convert::Infallible};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::{StreamExt as _, stream};

use super::{
    request::{self, ApiRequest},
    wire::{Code, Reply, Style},
};
use crate::{
    api_faults::{ApiFault, PageBody},
    state::{DrawnFault, MockState},
};

/// What a handler does with the fault drawn for its request.
#[derive(Debug)]
pub(crate) enum Drawn {
    /// No fault: answer normally.
    None,
    /// Answer normally, after a delay.
    Late(DrawnFault),
    /// Answer normally, cut short on the wire.
    Cut(DrawnFault),
    /// Answer with the fault, instead of processing the request.
    Instead(DrawnFault),
}

impl Drawn {
    /// The journal's words for the fault, when there is one.
    pub(crate) fn description(&self) -> Option<std::sync::Arc<str>> {
        match self {
            Drawn::None => None,
            Drawn::Late(f) | Drawn::Cut(f) | Drawn::Instead(f) => Some(f.description.clone()),
        }
    }

    /// True for a truncated answer.
    pub(crate) fn cut(&self) -> bool {
        matches!(self, Drawn::Cut(_))
    }
}

/// Draws the fault of a request (`action_param`: the parameter the journal calls its action).
pub(crate) fn draw(
    state: &MockState,
    req: &ApiRequest,
    endpoint: &'static str,
    action_param: &str,
) -> Drawn {
    let Some(f) = state.api_fault(endpoint, req.params.get(action_param), &req.http_method) else {
        return Drawn::None;
    };
    match f.fault {
        ApiFault::Delay(_) => Drawn::Late(f),
        ApiFault::Truncated => Drawn::Cut(f),
        _ => Drawn::Instead(f),
    }
}

/// Waits out a late answer's delay on the mock's clock (a no-op for other faults).
pub(crate) async fn wait(state: &MockState, drawn: &Drawn) {
    if let Drawn::Late(f) = drawn {
        let delay = f.delay.unwrap_or_default();
        tokio::select! {
            () = state.clock().sleep(delay) => {}
            () = state.cancelled() => {}
        }
    }
}

/// Answers a request with its fault instead of processing it, and journals the request with
/// what the client got.
pub(crate) async fn instead(
    state: &MockState,
    req: ApiRequest,
    endpoint: &'static str,
    action_param: &str,
    fault: DrawnFault,
) -> Response {
    let task_id = req.params.get("id").and_then(|i| i.trim().parse().ok());
    let (answer, response): (Cow<'static, str>, Response) = match &fault.fault {
        ApiFault::Page { status, body } => {
            (Cow::Owned(format!("HTTP {status}")), page(*status, *body))
        }
        ApiFault::Answer(code) => {
            let code = Code::parse(code).unwrap_or(Code::ServerError);
            let reply = Reply::Code(code);
            let (format, acao) = (req.format(), req.acao());
            (
                Cow::Borrowed(code.as_str()),
                reply.into_http(format, acao, Style::of(&state.config())),
            )
        }
        ApiFault::Stall(_) => (Cow::Borrowed("(stalled: no answer)"), reset()),
        // `none`, `delay` and `truncated` never come here; close like a reset if they did.
        _ => (Cow::Borrowed("(reset: no answer)"), reset()),
    };
    let stall = match fault.fault {
        ApiFault::Stall(d) => Some(d),
        _ => None,
    };
    request::journal(
        state,
        req,
        endpoint,
        action_param,
        answer,
        task_id,
        Some(fault.description),
    );
    if let Some(d) = stall {
        // Nothing is sent for that long; a shutdown does not wait for it.
        tokio::select! {
            () = state.clock().sleep(d) => {}
            () = state.cancelled() => {}
        }
    }
    response
}

/// The journal's text for an answer that was cut short.
pub(crate) fn cut_text(answer: &str) -> Cow<'static, str> {
    Cow::Owned(format!("(truncated: {answer})"))
}

/// An HTTP error page, as nginx or Cloudflare in front of the service sends it.
pub(crate) fn page(status: u16, body: PageBody) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let cloudflare = matches!(status, 520..=527);
    let server = HeaderValue::from_static(if cloudflare { "cloudflare" } else { "nginx" });
    match body {
        PageBody::Empty => (code, [(header::SERVER, server)]).into_response(),
        PageBody::Html => {
            let html = if cloudflare {
                cloudflare_page(code)
            } else {
                nginx_page(code)
            };
            (
                code,
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=UTF-8"),
                    ),
                    (header::SERVER, server),
                ],
                html,
            )
                .into_response()
        }
    }
}

/// nginx's own error page (`502 Bad Gateway`, `503 Service Temporarily Unavailable`, ...).
fn nginx_page(code: StatusCode) -> String {
    let reason = match code.as_u16() {
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => code.canonical_reason().unwrap_or("Error"),
    };
    let title = format!("{} {reason}", code.as_u16());
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// Cloudflare's error page for an origin that does not answer (`521 Web server is down`,
/// `522 Connection timed out`, ...), shortened.
fn cloudflare_page(code: StatusCode) -> String {
    let status = code.as_u16();
    let what = match status {
        521 => "Web server is down",
        522 => "Connection timed out",
        523 => "Origin is unreachable",
        524 => "A timeout occurred",
        _ => "Web server is returning an unknown error",
    };
    format!(
        "<!DOCTYPE html>\n<!--[if lt IE 7]> <html class=\"no-js ie6 oldie\" lang=\"en-US\"> <![endif]-->\n\
<html class=\"no-js\" lang=\"en-US\">\n<head>\n<title>ocr.captchaai.com | {status}: {what}</title>\n\
<meta charset=\"UTF-8\" />\n<meta name=\"robots\" content=\"noindex, nofollow\" />\n</head>\n<body>\n\
<div id=\"cf-wrapper\">\n<div id=\"cf-error-details\" class=\"cf-error-details-wrapper\">\n\
<h1><span class=\"cf-error-type\">Error</span> <span class=\"cf-error-code\">{status}</span></h1>\n\
<h2 class=\"cf-subheadline\">{what}</h2>\n\
<p>The web server is not returning a connection. As a result, the web page is not displaying.</p>\n\
<p>Cloudflare Ray ID: <strong class=\"font-semibold\">8c3e9a7f1d2b4c5e</strong></p>\n\
</div>\n</div>\n</body>\n</html>\n"
    )
}

/// A response that never reaches the client: its body fails before the first byte, and the
/// connection is closed with nothing written.
pub(crate) fn reset() -> Response {
    let failing = stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "api fault: reset",
        ))
    });
    Response::new(Body::from_stream(failing))
}

/// The same response, cut short: its `Content-Length` says the whole body, half of it is
/// sent, then the connection is closed.
pub(crate) async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return reset();
    };
    let half = bytes.slice(..bytes.len() / 2);
    parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len() as u64),
    );
    // The stream ends early: hyper refuses to end a response short of its length and
    // closes the connection. The pause before the end lets it write the half first (it
    // flushes while the body is pending).
    let cut = stream::iter([Ok::<Bytes, Infallible>(half)]).chain(stream::once(async {
        tokio::task::yield_now().await;
        Ok::<Bytes, Infallible>(Bytes::new())
    }));
    Response::from_parts(parts, Body::from_stream(cut))
}
