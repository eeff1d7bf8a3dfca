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

/// A solved task's answer as each format writes it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AnswerText {
    /// The answer (the `request` value, and the text after `OK|` unless `plain` says
    /// otherwise).
    pub(crate) text: String,
    /// `json=1`: `text` is JSON to give as the value itself rather than as a string
    /// (2captcha's structured answers).
    pub(crate) as_value: bool,
    /// `json=0`: the text after `OK|`, when it is not `text` (CaptchaAI's fields form).
    pub(crate) plain: Option<String>,
}

impl AnswerText {
    /// An answer written the same way in both formats, as a string in JSON.
    #[cfg(test)]
    pub(crate) fn plain(text: String) -> Self {
        AnswerText {
            text,
            as_value: false,
            plain: None,
        }
    }

    fn plain_text(&self) -> &str {
        self.plain.as_deref().unwrap_or(&self.text)
    }

    fn push_json(&self, out: &mut String) {
        if self.as_value {
            out.push_str(&self.text);
        } else {
            push_json_str(out, &self.text);
        }
    }
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
        answer: AnswerText,
        /// Extra JSON members (`user_agent`, `result`, ...), in order.
        extras: Vec<(&'static str, Extra)>,
    },
    /// `OK|<answer>|<price>` (`get2`).
    SolvedWithPrice {
        /// The answer.
        answer: AnswerText,
        /// Price as text.
        price: String,
    },
    /// A bare value without `OK|` (balance, bulk get), `status: 1`.
    Bare(String),
    /// `OK|a|b|c` in plain text (`OK|` when empty), `"request":["a","b","c"]` in JSON
    /// (`get_pingback`).
    List(Vec<String>),
    /// A whole JSON document, for answers that are JSON in both modes (`threadsinfo`).
    Json(serde_json::Value),
}

/// How the configuration shapes every answer of a mock (from [`crate::config::Config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Style {
    /// `json=1` errors carry `error_text` (2captcha).
    pub(crate) error_text: bool,
}

impl Style {
    /// The style a configuration asks for (`[answers]`, or the dialect's defaults).
    pub(crate) fn of(cfg: &crate::config::Config) -> Style {
        Style {
            error_text: cfg.answers.error_text(cfg.dialect),
        }
    }
}

impl Reply {
    /// The text an inbound journal records for this answer (the plain form).
    pub(crate) fn summary(&self) -> String {
        match self {
            Reply::Code(c) => c.as_str().to_owned(),
            Reply::Submitted(id, _) => format!("OK|{id}"),
            Reply::Solved { answer, .. } => format!("OK|{}", answer.plain_text()),
            Reply::SolvedWithPrice { answer, price } => {
                format!("OK|{}|{price}", answer.plain_text())
            }
            Reply::Bare(s) => s.clone(),
            // `OK|` even when empty: 2captcha's PHP clients look for `OK|` and take what
            // follows, split on `|` (rucaptcha-php `getPingbacks`).
            Reply::List(items) => format!("OK|{}", items.join("|")),
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
    pub(crate) fn render(
        &self,
        format: Format,
        style: Style,
    ) -> (std::borrow::Cow<'static, str>, bool) {
        use std::borrow::Cow;
        match (format, self) {
            (Format::Plain, Reply::Code(c)) => (Cow::Borrowed(c.as_str()), false),
            (Format::Json, Reply::Code(c)) => (Cow::Borrowed(c.json_reply(style.error_text)), true),
            (Format::Plain, Reply::Json(v)) => (Cow::Owned(v.to_string()), true),
            (Format::Plain, other) => (Cow::Owned(other.summary()), false),
            (Format::Json, other) => (Cow::Owned(other.render_json()), true),
        }
    }

    fn render_json(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(64);
        match self {
            Reply::Code(c) => out.push_str(c.json_reply(false)),
            Reply::Submitted(id, TaskIdEncoding::String) => {
                let _ = write!(out, r#"{{"status":1,"request":"{id}"}}"#);
            }
            Reply::Submitted(id, TaskIdEncoding::Integer) => {
                let _ = write!(out, r#"{{"status":1,"request":{id}}}"#);
            }
            Reply::Solved { answer, extras } => {
                out.push_str(r#"{"status":1,"request":"#);
                answer.push_json(&mut out);
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
                answer.push_json(&mut out);
                out.push_str(r#","price":"#);
                push_json_str(&mut out, price);
                out.push('}');
            }
            Reply::Bare(s) => {
                out.push_str(r#"{"status":1,"request":"#);
                push_json_str(&mut out, s);
                out.push('}');
            }
            Reply::List(items) => {
                out.push_str(r#"{"status":1,"request":["#);
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_str(&mut out, item);
                }
                out.push_str("]}");
            }
            Reply::Json(v) => out = v.to_string(),
        }
        out
    }

    /// The HTTP response: always 200, with CORS when `header_acao=1`.
    pub(crate) fn into_http(self, format: Format, acao: bool, style: Style) -> Response {
        let (body, is_json) = self.render(format, style);
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

    const PLAIN: Style = Style { error_text: false };
    const TEXT: Style = Style { error_text: true };

    #[test]
    fn every_code_has_its_static_json_answer() {
        for &c in Code::ALL {
            let status = if c.is_error() { 0 } else { 1 };
            let want = serde_json::json!({"status": status, "request": c.as_str()});
            let got: serde_json::Value = serde_json::from_str(c.json_reply(false)).unwrap();
            assert_eq!(got, want, "{c:?}");
            // With 2captcha's error_text: the description beside every error, never beside
            // a status that is no error.
            let got: serde_json::Value = serde_json::from_str(c.json_reply(true)).unwrap();
            let mut want = want;
            if c.is_error() && c != Code::NotReady {
                want["error_text"] = c.description().into();
                assert!(!c.description().is_empty(), "{c:?}");
            }
            assert_eq!(got, want, "{c:?}");
        }
    }

    #[test]
    fn shapes_match_the_protocol_table() {
        let e = Reply::Code(Code::WrongUserKey);
        assert_eq!(e.render(Format::Plain, PLAIN).0, "ERROR_WRONG_USER_KEY");
        assert_eq!(
            e.render(Format::Json, PLAIN).0,
            r#"{"status":0,"request":"ERROR_WRONG_USER_KEY"}"#
        );
        assert_eq!(e.render(Format::Plain, TEXT).0, "ERROR_WRONG_USER_KEY");
        let s = Reply::Submitted(2122988149, TaskIdEncoding::String);
        assert_eq!(s.render(Format::Plain, PLAIN).0, "OK|2122988149");
        assert_eq!(
            s.render(Format::Json, PLAIN).0,
            r#"{"status":1,"request":"2122988149"}"#
        );
        let i = Reply::Submitted(2122988149, TaskIdEncoding::Integer);
        assert_eq!(
            i.render(Format::Json, PLAIN).0,
            r#"{"status":1,"request":2122988149}"#
        );
        let r = Reply::Code(Code::ReportRecorded);
        assert_eq!(
            r.render(Format::Json, TEXT).0,
            r#"{"status":1,"request":"OK_REPORT_RECORDED"}"#
        );
        let g2 = Reply::SolvedWithPrice {
            answer: AnswerText::plain("abc".into()),
            price: "0.00085".into(),
        };
        assert_eq!(g2.render(Format::Plain, PLAIN).0, "OK|abc|0.00085");
        assert_eq!(
            g2.render(Format::Json, PLAIN).0,
            r#"{"status":1,"request":"abc","price":"0.00085"}"#
        );
        let b = Reply::Bare("12.345".into());
        assert_eq!(b.render(Format::Plain, PLAIN).0, "12.345");
        let solved = Reply::Solved {
            answer: AnswerText::plain("{\"a\":1}".into()),
            extras: vec![("user_agent", Extra::Text("UA".into()))],
        };
        assert_eq!(
            solved.render(Format::Json, PLAIN).0,
            r#"{"status":1,"request":"{\"a\":1}","user_agent":"UA"}"#
        );
        let value = Reply::Solved {
            answer: AnswerText {
                text: "{\"a\":1}".into(),
                as_value: true,
                plain: Some("a:1".into()),
            },
            extras: vec![],
        };
        assert_eq!(
            value.render(Format::Json, PLAIN).0,
            r#"{"status":1,"request":{"a":1}}"#
        );
        assert_eq!(value.render(Format::Plain, PLAIN).0, "OK|a:1");
        let list = Reply::List(vec!["a".into(), "b".into()]);
        assert_eq!(list.render(Format::Plain, PLAIN).0, "OK|a|b");
        assert_eq!(
            list.render(Format::Json, PLAIN).0,
            r#"{"status":1,"request":["a","b"]}"#
        );
        assert_eq!(Reply::List(vec![]).render(Format::Plain, PLAIN).0, "OK|");
    }

    #[test]
    fn codes_round_trip() {
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
    }
}
