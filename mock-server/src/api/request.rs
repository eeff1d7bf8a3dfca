//! Reading an API request: merged parameters from any encoding, the response
//! format asked for, and the journal entry describing it.

use std::{borrow::Cow, net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
    http::header::{CONTENT_LENGTH, CONTENT_TYPE},
};

use super::{
    body,
    wire::{Code, Format},
};
use crate::{
    clock::SimTime,
    params::{BodyError, Params},
    state::{InboundRequest, MockState},
};

/// A parsed API request.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    /// HTTP method.
    pub(crate) http_method: Cow<'static, str>,
    /// Merged parameters.
    pub(crate) params: Params,
    /// Body encoding, for the journal.
    pub(crate) encoding: &'static str,
    /// The client's address.
    pub(crate) remote: Option<SocketAddr>,
    /// A body problem, answered with this code after the key check.
    pub(crate) body_error: Option<Code>,
    /// When the mock began reading it, for the request log's latency.
    pub(crate) received_at: SimTime,
}

impl ApiRequest {
    /// `json=1` or not.
    pub(crate) fn format(&self) -> Format {
        if self.params.flag("json") {
            Format::Json
        } else {
            Format::Plain
        }
    }

    /// `header_acao=1`.
    pub(crate) fn acao(&self) -> bool {
        self.params.flag("header_acao")
    }
}

/// Values of `action` and `method` the journal keeps without allocating.
const KNOWN: [&str; 23] = [
    "get",
    "get2",
    "getbalance",
    "threadsinfo",
    "reportgood",
    "reportbad",
    "add_pingback",
    "get_pingback",
    "del_pingback",
    "userrecaptcha",
    "turnstile",
    "base64",
    "post",
    "bls",
    "geetest",
    "geetest_v4",
    "lemin",
    "captchafox",
    "friendly_captcha",
    "cloudflare_challenge",
    "hcaptcha",
    "reportcorrect",
    "reportincorrect",
];

fn interned(v: &str) -> Cow<'static, str> {
    KNOWN
        .iter()
        .find(|k| **k == v)
        .map_or_else(|| Cow::Owned(v.to_owned()), |k| Cow::Borrowed(*k))
}

/// The longest answer the journal keeps whole; a longer one (a bulk `get` of many ids, cookies
/// handed back) keeps its start and `… <N bytes>`.
const ANSWER_MAX: usize = 4096;

fn shortened_answer(answer: Cow<'static, str>) -> Cow<'static, str> {
    if answer.len() <= ANSWER_MAX {
        return answer;
    }
    let mut end = ANSWER_MAX;
    while !answer.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… <{} bytes>", &answer[..end], answer.len()))
}

/// Records a request and its answer in the inbound journal, shortened (see
/// [`crate::RequestParams`]), with the API fault applied to it if any. Short parameters,
/// nearly every request's, move into the entry: nothing is copied on the request path.
pub(crate) fn journal(
    state: &MockState,
    req: ApiRequest,
    endpoint: &'static str,
    action_param: &str,
    answer: Cow<'static, str>,
    task_id: Option<u64>,
    fault: Option<Arc<str>>,
) {
    let action = req.params.get(action_param).map(interned);
    let now = state.clock().now();
    let (code, latency) = (
        super::log::answer_code(&answer),
        now.saturating_since(req.received_at),
    );
    super::log::request(
        &req.http_method,
        endpoint,
        action.as_deref(),
        task_id,
        code,
        latency,
    );
    // A label's values must be few: an action the mock does not know is `other`.
    let known_action = action.as_ref().map(|a| match a {
        Cow::Borrowed(known) => *known,
        Cow::Owned(_) => "other",
    });
    state
        .dispatcher()
        .telemetry()
        .request(endpoint, known_action, code, latency);
    state.journal_inbound(InboundRequest {
        // Numbered when read: the journal knows the position.
        seq: 0,
        at_ms: now.as_millis(),
        endpoint,
        http_method: req.http_method,
        encoding: req.encoding,
        action,
        task_id,
        params: req.params.into(),
        answer: shortened_answer(answer),
        remote: req.remote,
        fault,
    });
}

/// Which endpoint reads the body: the code a body it cannot take gets differs, and so does
/// its size limit ([`super::body`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `in.php` and `solve.php`: an oversized body is `ERROR_TOO_BIG_CAPTCHA_FILESIZE`,
    /// a broken upload `ERROR_UPLOAD`.
    Submit,
    /// `res.php`: there is nothing to upload; any unreadable body is `ERROR_BAD_PARAMETERS`.
    Result,
}

/// Reads a request (its body within the endpoint's limit, [`super::body`]).
pub(crate) async fn read(state: &MockState, req: Request<Body>, endpoint: Endpoint) -> ApiRequest {
    let cfg = state.config();
    let (too_big, bad_upload, limit) = match endpoint {
        Endpoint::Submit => (
            Code::TooBigCaptchaFilesize,
            Code::Upload,
            body::submit_limit(&cfg.images, cfg.dialect),
        ),
        Endpoint::Result => (
            Code::BadParameters,
            Code::BadParameters,
            body::RESULT_MAX_BODY,
        ),
    };
    let received_at = state.clock().now();
    let (parts, body) = req.into_parts();
    // A v4-mapped peer (`::ffff:127.0.0.1`, on a dual-stack listener) is the IPv4 client it
    // is: rate limits, bans and the journal see one address per client.
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| SocketAddr::new(c.0.ip().to_canonical(), c.0.port()));
    let mut params = Params::from_query(parts.uri.query());
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body_error = None;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let encoding = match body::read(body, declared, limit).await {
        Err(_) => {
            body_error = Some(too_big);
            "oversized"
        }
        Ok(bytes) if bytes.is_empty() => "query",
        Ok(bytes) => {
            let ct = content_type.as_deref().unwrap_or("").to_ascii_lowercase();
            let enc = if ct.starts_with("multipart/") {
                "multipart"
            } else if ct.starts_with("application/json")
                || (ct.is_empty() && bytes.first() == Some(&b'{'))
            {
                "json"
            } else {
                "form"
            };
            match params.extend_body(content_type.as_deref(), bytes).await {
                Ok(()) => {}
                Err(BodyError::Multipart) => body_error = Some(bad_upload),
                Err(BodyError::Json) => body_error = Some(Code::BadParameters),
            }
            enc
        }
    };
    ApiRequest {
        http_method: match parts.method {
            axum::http::Method::GET => Cow::Borrowed("GET"),
            axum::http::Method::POST => Cow::Borrowed("POST"),
            ref other => Cow::Owned(other.to_string()),
        },
        params,
        encoding,
        remote,
        body_error,
        received_at,
    }
}
