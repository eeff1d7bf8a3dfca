//! Reading `in.php` / `res.php` bodies in both json modes.
//!
//! The mode is detected from the body, not trusted from the request: a body starting with
//! `{` is JSON (`{"status":1,"request":...}`), anything else is plain text (`OK|...`,
//! `CAPCHA_NOT_READY`, `ERROR_...`, a bare balance). The SDK notes that the service sometimes
//! answers a plain-text error code to a `json=1` request, so detection is the robust choice.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::task_id::{TaskId, truncate};

/// A decoded body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// A JSON object.
    Json(Map<String, Value>),
    /// Plain text, trimmed.
    Text(String),
}

/// What a body says, for the actions that use the `status`/`request` convention.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// `status: 1` or `OK|<request>`: `request` is the task id or the answer.
    Ok {
        request: Value,
        fields: Map<String, Value>,
        json: bool,
    },
    /// `CAPCHA_NOT_READY`.
    NotReady,
    /// An error code (`ERROR_...`, `IP_BANNED`, `MAX_USER_TURN`, `ERROR: 1001`).
    Error(String),
    /// Plain text that is none of the above (a bare balance, `OK_REPORT_RECORDED`).
    Other(String),
}

const NOT_READY: &str = "CAPCHA_NOT_READY";
/// The correct spelling, accepted too in case a server fixes the typo.
const NOT_READY_FIXED: &str = "CAPTCHA_NOT_READY";

pub(crate) fn decode(text: &str) -> Result<Body, Error> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(map)) => Ok(Body::Json(map)),
            Ok(_) | Err(_) => Err(Error::unexpected(format!(
                "malformed JSON body: {:?}",
                truncate(trimmed, 120)
            ))),
        }
    } else {
        Ok(Body::Text(trimmed.to_owned()))
    }
}

/// True for plain-text bodies that are error codes rather than data.
pub(crate) fn is_error_code(text: &str) -> bool {
    text.starts_with("ERROR") || matches!(text, "IP_BANNED" | "MAX_USER_TURN")
}

pub(crate) fn interpret(body: &Body) -> Result<Reply, Error> {
    match body {
        Body::Json(map) => {
            let status = match map.get("status") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
                Some(Value::Bool(b)) => Some(i64::from(*b)),
                _ => None,
            };
            let request = map.get("request").cloned().unwrap_or(Value::Null);
            match status {
                Some(1) => {
                    let mut fields = map.clone();
                    fields.remove("request");
                    Ok(Reply::Ok {
                        request,
                        fields,
                        json: true,
                    })
                }
                Some(0) => match request {
                    Value::String(s) if s == NOT_READY || s == NOT_READY_FIXED => {
                        Ok(Reply::NotReady)
                    }
                    Value::String(s) if !s.is_empty() => Ok(Reply::Error(s)),
                    _ => Err(Error::unexpected(format!(
                        "status 0 without an error code: {}",
                        truncate(&Value::Object(map.clone()).to_string(), 120)
                    ))),
                },
                _ => Err(Error::unexpected(format!(
                    "JSON body without a usable status: {}",
                    truncate(&Value::Object(map.clone()).to_string(), 120)
                ))),
            }
        }
        Body::Text(text) => {
            if text == NOT_READY || text == NOT_READY_FIXED {
                Ok(Reply::NotReady)
            } else if let Some(rest) = text.strip_prefix("OK|") {
                Ok(Reply::Ok {
                    request: Value::String(rest.to_owned()),
                    fields: Map::new(),
                    json: false,
                })
            } else if is_error_code(text) {
                Ok(Reply::Error(text.clone()))
            } else {
                Ok(Reply::Other(text.clone()))
            }
        }
    }
}

/// Reads a task id from `request`: a JSON string or a JSON integer.
pub(crate) fn task_id(request: &Value) -> Result<TaskId, Error> {
    match request {
        Value::String(s) => s.trim().parse(),
        Value::Number(n) => n
            .as_u64()
            .map(TaskId::new)
            .ok_or_else(|| Error::unexpected(format!("task id is not a natural number: {n}"))),
        other => Err(Error::unexpected(format!(
            "task id has an unexpected type: {}",
            truncate(&other.to_string(), 60)
        ))),
    }
}

/// Reads an integer that may be sent as a number or a string (`threadsinfo`).
pub(crate) fn coerce_u32(value: Option<&Value>) -> Option<u32> {
    match value? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(text: &str) -> Reply {
        interpret(&decode(text).unwrap()).unwrap()
    }

    #[test]
    fn both_modes_decode_to_the_same_replies() {
        assert_eq!(reply("CAPCHA_NOT_READY"), Reply::NotReady);
        assert_eq!(
            reply(r#"{"status":0,"request":"CAPCHA_NOT_READY"}"#),
            Reply::NotReady
        );
        assert_eq!(
            reply("ERROR_WRONG_USER_KEY"),
            Reply::Error("ERROR_WRONG_USER_KEY".into())
        );
        assert_eq!(
            reply(r#"{"status":"0","request":"ERROR_ZERO_BALANCE"}"#),
            Reply::Error("ERROR_ZERO_BALANCE".into())
        );
        assert_eq!(reply("ERROR: 1005"), Reply::Error("ERROR: 1005".into()));
        assert_eq!(reply("IP_BANNED\n"), Reply::Error("IP_BANNED".into()));
        match reply("OK|a|b") {
            Reply::Ok { request, json, .. } => {
                assert_eq!(request, json!("a|b"));
                assert!(!json);
            }
            other => panic!("{other:?}"),
        }
        match reply(r#"{"status":1,"request":123,"user_agent":"UA"}"#) {
            Reply::Ok {
                request, fields, ..
            } => {
                assert_eq!(request, json!(123));
                assert_eq!(fields["user_agent"], json!("UA"));
                assert!(!fields.contains_key("request"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(reply("12.345"), Reply::Other("12.345".into()));
    }

    #[test]
    fn malformed_bodies_are_unexpected_answers() {
        for bad in [
            "{not json",
            r#"{"request":"x"}"#,
            r#"{"status":0}"#,
            r#"{"status":7,"request":"x"}"#,
        ] {
            let err = decode(bad).and_then(|b| interpret(&b)).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::UnexpectedAnswer, "{bad}");
        }
    }

    #[test]
    fn task_ids_come_as_strings_or_integers() {
        assert_eq!(task_id(&json!("2122988149")).unwrap().get(), 2122988149);
        assert_eq!(task_id(&json!(2122988149_u64)).unwrap().get(), 2122988149);
        assert!(task_id(&json!(-4)).is_err());
        assert!(task_id(&json!(1.5)).is_err());
        assert!(task_id(&json!("abc")).is_err());
        assert!(task_id(&json!(null)).is_err());
    }

    #[test]
    fn coerces_thread_counts() {
        assert_eq!(coerce_u32(Some(&json!(5))), Some(5));
        assert_eq!(coerce_u32(Some(&json!("7"))), Some(7));
        assert_eq!(coerce_u32(Some(&json!(3.0))), Some(3));
        assert_eq!(coerce_u32(Some(&json!(-1))), None);
        assert_eq!(coerce_u32(Some(&json!("x"))), None);
        assert_eq!(coerce_u32(None), None);
    }
}
