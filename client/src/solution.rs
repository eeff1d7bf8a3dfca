//! [`Solution`]: a solved task, with the answer parsed by the shape its method returns.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::task::{AnswerShape, TaskKind};
use crate::task_id::{TaskId, truncate};

/// A parsed answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A token (reCAPTCHA, Turnstile, ...) or the text read from an image.
    Text(String),
    /// Indices of the cells to click (grid, BLS), as the service numbers them.
    Cells(Vec<u32>),
    /// A JSON object (GeeTest `{challenge, validate, seccode}`, Lemin
    /// `{answer, challenge_uuid}`).
    Object(Map<String, Value>),
}

/// A solved task.
///
/// ```
/// use captchaai_client::{Solution, TaskId};
/// use captchaai_client::solution::Answer;
/// use captchaai_client::task::TaskKind;
///
/// let s = Solution::from_code(TaskKind::Grid, TaskId::new(7), "[1,4,7]").unwrap();
/// assert_eq!(s.answer(), &Answer::Cells(vec![1, 4, 7]));
/// assert_eq!(s.raw(), "[1,4,7]");
///
/// let err = Solution::from_code(TaskKind::Turnstile, TaskId::new(7), "ERROR_CAPTCHA_UNSOLVABLE")
///     .unwrap_err();
/// assert!(err.is_unsolvable());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solution {
    task_id: TaskId,
    kind: Option<TaskKind>,
    raw: String,
    answer: Answer,
    user_agent: Option<String>,
    result: Option<String>,
    response: Option<Map<String, Value>>,
}

impl Solution {
    /// Builds a solution from a bare answer string, as a pingback `code` carries it.
    ///
    /// Codes starting with `ERROR` are failures and become the matching [`Error`]
    /// (`ERROR_CAPTCHA_UNSOLVABLE` is [`crate::ErrorKind::Unsolvable`]).
    pub fn from_code(kind: TaskKind, task_id: TaskId, code: &str) -> Result<Solution, Error> {
        if code.starts_with("ERROR") {
            return Err(Error::from_api_code(code));
        }
        Solution::build(
            Some(kind),
            task_id,
            Value::String(code.to_owned()),
            Map::new(),
            false,
        )
    }

    /// Builds a solution from a solved `res.php?action=get` answer: `request` and, in JSON
    /// mode, the other fields of the body. Without a kind the shape is guessed.
    pub(crate) fn from_response(
        kind: Option<TaskKind>,
        task_id: TaskId,
        request: Value,
        fields: Map<String, Value>,
        json_body: bool,
    ) -> Result<Solution, Error> {
        Solution::build(kind, task_id, request, fields, json_body)
    }

    fn build(
        kind: Option<TaskKind>,
        task_id: TaskId,
        request: Value,
        fields: Map<String, Value>,
        json_body: bool,
    ) -> Result<Solution, Error> {
        // No answer contains `ERROR` (2captcha's own client relies on it): an "answer" that
        // starts with it is an error code, by poll as by pingback.
        if let Value::String(s) = &request
            && s.starts_with("ERROR")
        {
            return Err(Error::from_api_code(s));
        }
        let raw = match &request {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(_) | Value::Object(_) => request.to_string(),
            Value::Null | Value::Bool(_) => {
                return Err(Error::unexpected(format!(
                    "answer for task {task_id} is not a string: {request}"
                )));
            }
        };
        let result = match fields.get("result") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let user_agent =
            ["user_agent", "useragent"]
                .iter()
                .find_map(|name| match fields.get(*name) {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    _ => None,
                });
        let shape = kind.map_or_else(|| guess_shape(&request), TaskKind::answer_shape);
        let what = kind.map_or("answer", TaskKind::name);
        let answer = match shape {
            AnswerShape::Text => {
                let in_result = kind.is_some_and(TaskKind::token_in_result_field);
                let text = match (&result, in_result) {
                    (Some(token), true) => token.clone(),
                    _ => raw.clone(),
                };
                if text.is_empty() {
                    return Err(Error::unexpected(format!(
                        "empty answer for task {task_id}"
                    )));
                }
                Answer::Text(text)
            }
            AnswerShape::Cells => Answer::Cells(parse_cells(&request, &raw).ok_or_else(|| {
                Error::unexpected(format!(
                    "{what} answer for task {task_id} is not a list of cells: {:?}",
                    truncate(&raw, 80)
                ))
            })?),
            AnswerShape::Object => Answer::Object(parse_object(&request).ok_or_else(|| {
                Error::unexpected(format!(
                    "{what} answer for task {task_id} is not a JSON object: {:?}",
                    truncate(&raw, 80)
                ))
            })?),
        };
        let response = if json_body {
            let mut body = fields;
            body.insert("request".to_owned(), request);
            Some(body)
        } else {
            None
        };
        Ok(Solution {
            task_id,
            kind,
            raw,
            answer,
            user_agent,
            result,
            response,
        })
    }

    /// The task this solves.
    pub fn task_id(&self) -> TaskId {
        self.task_id
    }

    /// The method the task was submitted with, when known (a bare
    /// [`crate::Client::poll_once`] of a task this client did not submit cannot know it).
    pub fn kind(&self) -> Option<TaskKind> {
        self.kind
    }

    /// The answer exactly as the service sent it in `request` (or as the pingback `code`).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The parsed answer.
    pub fn answer(&self) -> &Answer {
        &self.answer
    }

    /// The token or text, for [`Answer::Text`] answers. For enterprise reCAPTCHA and
    /// Cloudflare Challenge this is the `result` field when the service sent one.
    pub fn token(&self) -> Option<&str> {
        match &self.answer {
            Answer::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The cell indices, for grid and BLS answers.
    pub fn cells(&self) -> Option<&[u32]> {
        match &self.answer {
            Answer::Cells(c) => Some(c),
            _ => None,
        }
    }

    /// The JSON object, for GeeTest and Lemin answers.
    pub fn object(&self) -> Option<&Map<String, Value>> {
        match &self.answer {
            Answer::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The solver's user agent (`user_agent`, or 2captcha's `useragent`), to be reused with
    /// the token.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The `result` field, when the service sent one (enterprise, Cloudflare Challenge,
    /// CaptchaFox).
    pub fn result_field(&self) -> Option<&str> {
        self.result.as_deref()
    }

    /// The whole JSON body of the `res.php` answer, when the answer came from a JSON poll.
    pub fn response(&self) -> Option<&Map<String, Value>> {
        self.response.as_ref()
    }
}

/// The shape of an answer whose task kind is unknown: a JSON object or a list of cells when
/// it parses as one, text otherwise.
fn guess_shape(request: &Value) -> AnswerShape {
    let parsed;
    let value = match request {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => return AnswerShape::Text,
        },
        other => other,
    };
    match value {
        Value::Object(_) => AnswerShape::Object,
        Value::Array(items) if !items.is_empty() && items.iter().all(|v| v.as_u64().is_some()) => {
            AnswerShape::Cells
        }
        _ => AnswerShape::Text,
    }
}

fn parse_cells(request: &Value, raw: &str) -> Option<Vec<u32>> {
    let from_array = |items: &Vec<Value>| -> Option<Vec<u32>> {
        items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .collect()
    };
    if let Value::Array(items) = request {
        return from_array(items);
    }
    let text = raw.trim();
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) {
        return from_array(&items);
    }
    // 2captcha's plain-text grid answer: `click:1/4/7`.
    let list = text.strip_prefix("click:")?;
    list.split('/').map(|s| s.trim().parse().ok()).collect()
}

fn parse_object(request: &Value) -> Option<Map<String, Value>> {
    match request {
        Value::Object(map) => Some(map.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test helper takes objects"),
        }
    }

    #[test]
    fn enterprise_prefers_result_and_reads_user_agent() {
        let s = Solution::from_response(
            Some(TaskKind::RecaptchaV2Enterprise),
            TaskId::new(1),
            json!("03Arequest"),
            fields(json!({"status": 1, "result": "03Aresult", "user_agent": "UA"})),
            true,
        )
        .unwrap();
        assert_eq!(s.token(), Some("03Aresult"));
        assert_eq!(s.raw(), "03Arequest");
        assert_eq!(s.user_agent(), Some("UA"));
        assert_eq!(s.result_field(), Some("03Aresult"));
        assert_eq!(s.response().unwrap()["request"], json!("03Arequest"));

        // Without `result`, the token is `request`.
        let s = Solution::from_response(
            Some(TaskKind::CloudflareChallenge),
            TaskId::new(1),
            json!("cf"),
            Map::new(),
            true,
        )
        .unwrap();
        assert_eq!(s.token(), Some("cf"));
    }

    #[test]
    fn turnstile_reads_2captcha_useragent_spelling() {
        let s = Solution::from_response(
            Some(TaskKind::Turnstile),
            TaskId::new(1),
            json!("0.tok"),
            fields(json!({"useragent": "UA2"})),
            true,
        )
        .unwrap();
        assert_eq!(s.user_agent(), Some("UA2"));
        assert_eq!(s.token(), Some("0.tok"));
    }

    #[test]
    fn structured_answers_parse_or_fail_clearly() {
        let id = TaskId::new(9);
        let g = Solution::from_code(
            TaskKind::Geetest,
            id,
            r#"{"challenge":"c","validate":"v","seccode":"s"}"#,
        )
        .unwrap();
        assert_eq!(g.object().unwrap()["validate"], json!("v"));
        let err = Solution::from_code(TaskKind::Lemin, id, "[1,2]").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnexpectedAnswer);

        let c = Solution::from_code(TaskKind::Bls, id, "click:1/4/7").unwrap();
        assert_eq!(c.cells(), Some(&[1, 4, 7][..]));
        let c =
            Solution::from_response(Some(TaskKind::Grid), id, json!([2, "3"]), Map::new(), true)
                .unwrap();
        assert_eq!(c.cells(), Some(&[2, 3][..]));
        assert!(Solution::from_code(TaskKind::Grid, id, "[1,-2]").is_err());
        assert!(Solution::from_code(TaskKind::Grid, id, "cat").is_err());
        assert!(Solution::from_code(TaskKind::Normal, id, "").is_err());
        assert!(
            Solution::from_response(Some(TaskKind::Normal), id, Value::Null, Map::new(), true)
                .is_err()
        );
    }

    #[test]
    fn unknown_kinds_are_guessed_from_the_answer() {
        let id = TaskId::new(4);
        let s = Solution::from_response(None, id, json!("[1,2]"), Map::new(), false).unwrap();
        assert_eq!(s.cells(), Some(&[1, 2][..]));
        assert_eq!(s.kind(), None);
        let s = Solution::from_response(None, id, json!(r#"{"a":1}"#), Map::new(), false).unwrap();
        assert_eq!(s.object().unwrap()["a"], json!(1));
        let s = Solution::from_response(None, id, json!("03AFcW"), Map::new(), false).unwrap();
        assert_eq!(s.token(), Some("03AFcW"));
    }

    #[test]
    fn error_codes_in_a_success_body_are_errors() {
        let err = Solution::from_response(
            Some(TaskKind::Turnstile),
            TaskId::new(1),
            json!("ERROR_CAPTCHA_UNSOLVABLE"),
            Map::new(),
            true,
        )
        .unwrap_err();
        assert!(err.is_unsolvable());
    }

    #[test]
    fn integer_answers_are_text() {
        let s = Solution::from_response(
            Some(TaskKind::Normal),
            TaskId::new(3),
            json!(4521),
            Map::new(),
            true,
        )
        .unwrap();
        assert_eq!(s.token(), Some("4521"));
    }
}
