//! What the mock says on the wire: answer codes and the two response formats.
//!
//! | case | `json=0` | `json=1` |
//! |---|---|---|
//! | submit ok | `OK\|2122988149` | `{"status":1,"request":"2122988149"}` |
//! | error | `ERROR_WRONG_USER_KEY` | `{"status":0,"request":"ERROR_WRONG_USER_KEY"}` |
//! | not ready | `CAPCHA_NOT_READY` | `{"status":0,"request":"CAPCHA_NOT_READY"}` |
//! | solved | `OK\|<answer>` | `{"status":1,"request":"<answer>", ...extras}` |
//! | balance | `12.345` | `{"status":1,"request":"12.345"}` |
//!
//! API errors are always HTTP 200: clients treat any other status as a network
//! failure.

pub(crate) use crate::codes::Code;
use crate::model::TaskIdEncoding;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// Response format requested by the client (`json=1` or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Plain text (`json=0`, the default).
    Plain,
    /// JSON (`json=1`).
    Json,
}

/// The value of an extra JSON member of a solved answer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Extra {
    /// A JSON string.
    Text(String),
    /// Any JSON value (`cookies` as an object).
    Json(serde_json::Value),
}

/// One API answer, rendered in either format.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reply {
    /// An error or status code (`status: 0`, or 1 for `OK_REPORT_RECORDED`).
    Code(Code),
    /// `OK|<id>` after a submit.
    Submitted(u64, TaskIdEncoding),
    /// `OK|<answer>` with optional extra JSON fields.
    Solved {
        /// The `request` value.
        answer: String,
        /// Extra JSON members (`user_agent`, `result`, ...), in order.
        extras: Vec<(&'static str, Extra)>,
    },
    /// `OK|<answer>|<price>` (`get2`).
    SolvedWithPrice {
        /// The answer.
        answer: String,
        /// Price as text.
        price: String,
    },
    /// A bare value without `OK|` (balance, bulk get), `status: 1`.
    Bare(String),
    /// A whole JSON document, for answers that are JSON in both modes (`threadsinfo`).
    Json(serde_json::Value),
}

impl Reply {
    /// The text an inbound journal records for this answer (the plain form).
    pub(crate) fn summary(&self) -> String {
        match self {
            Reply::Code(c) => c.as_str().to_owned(),
            Reply::Submitted(id, _) => format!("OK|{id}"),
            Reply::Solved { answer, .. } => format!("OK|{answer}"),
            Reply::SolvedWithPrice { answer, price } => format!("OK|{answer}|{price}"),
            Reply::Bare(s) => s.clone(),
            Reply::Json(v) => v.to_string(),
        }
    }

    /// [`Reply::summary`] for the journal: codes (most answers) are static text.
    pub(crate) fn journal_text(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Reply::Code(c) => std::borrow::Cow::Borrowed(c.as_str()),
            other => std::borrow::Cow::Owned(other.summary()),
        }
    }

    /// Renders the body for a format, and whether it is JSON. Codes are static text.
    pub(crate) fn render(&self, format: Format) -> (std::borrow::Cow<'static, str>, bool) {
        use std::borrow::Cow;
        match (format, self) {
            (Format::Plain, Reply::Code(c)) => (Cow::Borrowed(c.as_str()), false),
            (Format::Json, Reply::Code(c)) => (Cow::Borrowed(c.json_reply()), true),
            (Format::Plain, Reply::Json(v)) => (Cow::Owned(v.to_string()), true),
            (Format::Plain, other) => (Cow::Owned(other.summary()), false),
            (Format::Json, other) => (Cow::Owned(other.render_json()), true),
        }
    }

    fn render_json(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(64);
        match self {
            Reply::Code(c) => out.push_str(c.json_reply()),
            Reply::Submitted(id, TaskIdEncoding::String) => {
                let _ = write!(out, r#"{{"status":1,"request":"{id}"}}"#);
            }
            Reply::Submitted(id, TaskIdEncoding::Integer) => {
                let _ = write!(out, r#"{{"status":1,"request":{id}}}"#);
            }
            Reply::Solved { answer, extras } => {
                out.push_str(r#"{"status":1,"request":"#);
                push_json_str(&mut out, answer);
                for (k, v) in extras {
                    let _ = write!(out, r#","{k}":"#);
                    match v {
                        Extra::Text(v) => push_json_str(&mut out, v),
                        Extra::Json(v) => out.push_str(&v.to_string()),
                    }
                }
                out.push('}');
            }
            Reply::SolvedWithPrice { answer, price } => {
                out.push_str(r#"{"status":1,"request":"#);
                push_json_str(&mut out, answer);
                out.push_str(r#","price":"#);
                push_json_str(&mut out, price);
                out.push('}');
            }
            Reply::Bare(s) => {
                out.push_str(r#"{"status":1,"request":"#);
                push_json_str(&mut out, s);
                out.push('}');
            }
            Reply::Json(v) => out = v.to_string(),
        }
        out
    }

    /// The HTTP response: always 200, with CORS when `header_acao=1`.
    pub(crate) fn into_http(self, format: Format, acao: bool) -> Response {
        let (body, is_json) = self.render(format);
        let ct = if is_json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let mut resp = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(ct))],
            body,
        )
            .into_response();
        if acao {
            resp.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        resp
    }
}

/// `OPTIONS` on an API endpoint: a CORS preflight (a browser about to POST JSON with
/// `header_acao=1`, as 2captcha's JavaScript client does) is answered 204 with the CORS
/// headers, and creates no task.
pub(crate) async fn preflight(headers: axum::http::HeaderMap) -> Response {
    let allow_headers = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type"));
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            ),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            ),
            (
                header::ALLOW,
                HeaderValue::from_static("GET, POST, OPTIONS, HEAD"),
            ),
        ],
    )
        .into_response()
}

/// `HEAD` on an API endpoint: an uptime probe. 200 with the plain-text content type and no
/// body; nothing is submitted, read or reported.
pub(crate) async fn probe() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
    )
        .into_response()
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, without building a Value.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_static_json_answer() {
        for &c in Code::ALL {
            let status = if c.is_error() { 0 } else { 1 };
            let want = serde_json::json!({"status": status, "request": c.as_str()});
            let got: serde_json::Value = serde_json::from_str(c.json_reply()).unwrap();
            assert_eq!(got, want, "{c:?}");
        }
    }

    #[test]
    fn shapes_match_the_protocol_table() {
        let e = Reply::Code(Code::WrongUserKey);
        assert_eq!(e.render(Format::Plain).0, "ERROR_WRONG_USER_KEY");
        assert_eq!(
            e.render(Format::Json).0,
            r#"{"status":0,"request":"ERROR_WRONG_USER_KEY"}"#
        );
        let s = Reply::Submitted(2122988149, TaskIdEncoding::String);
        assert_eq!(s.render(Format::Plain).0, "OK|2122988149");
        assert_eq!(
            s.render(Format::Json).0,
            r#"{"status":1,"request":"2122988149"}"#
        );
        let i = Reply::Submitted(2122988149, TaskIdEncoding::Integer);
        assert_eq!(
            i.render(Format::Json).0,
            r#"{"status":1,"request":2122988149}"#
        );
        let r = Reply::Code(Code::ReportRecorded);
        assert_eq!(
            r.render(Format::Json).0,
            r#"{"status":1,"request":"OK_REPORT_RECORDED"}"#
        );
        let g2 = Reply::SolvedWithPrice {
            answer: "abc".into(),
            price: "0.00085".into(),
        };
        assert_eq!(g2.render(Format::Plain).0, "OK|abc|0.00085");
        assert_eq!(
            g2.render(Format::Json).0,
            r#"{"status":1,"request":"abc","price":"0.00085"}"#
        );
        let b = Reply::Bare("12.345".into());
        assert_eq!(b.render(Format::Plain).0, "12.345");
        let solved = Reply::Solved {
            answer: "{\"a\":1}".into(),
            extras: vec![("user_agent", Extra::Text("UA".into()))],
        };
        assert_eq!(
            solved.render(Format::Json).0,
            r#"{"status":1,"request":"{\"a\":1}","user_agent":"UA"}"#
        );
    }

    #[test]
    fn codes_round_trip() {
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
    }
}
