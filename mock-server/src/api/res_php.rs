//! `res.php`: results, balance, threads, reports and pingback registration.

use axum::{
    body::Body,
    extract::{Request, State},
    response::Response,
};

use super::{
    faults::{self, Drawn},
    request::{self, ApiRequest},
    wire::{AnswerText, Code, Extra, Reply, Style},
};
use crate::{
    answers,
    config::{Config, StructuredJson, StructuredText},
    model::{Dialect, TaskKind},
    state::{KeyCheck, MockState, Outcome, TaskView, stream_subject},
    url::caller_can_serve,
};

/// `GET|POST /res.php`.
pub(crate) async fn handle(State(state): State<MockState>, req: Request<Body>) -> Response {
    let req = request::read(&state, req, request::Endpoint::Result).await;
    let drawn = faults::draw(&state, &req, "res.php", "action");
    if let Drawn::Instead(f) = drawn {
        return faults::instead(&state, req, "res.php", "action", f).await;
    }
    faults::wait(&state, &drawn).await;
    let (reply, task_id) = answer(&state, &req);
    let format = req.format();
    let acao = req.acao();
    let mut answer = reply.journal_text();
    if drawn.cut() {
        answer = faults::cut_text(&answer);
    }
    let fault = drawn.description();
    request::journal(&state, req, "res.php", "action", answer, task_id, fault);
    let resp = reply.into_http(format, acao, Style::of(&state.config()));
    if drawn.cut() {
        faults::truncate(resp).await
    } else {
        resp
    }
}

/// A task id parameter: missing is an unknown id, non-numeric a format error.
fn parse_id(raw: Option<&str>) -> Result<u64, Code> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(Code::WrongCaptchaId)?;
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Code::WrongIdFormat);
    }
    raw.parse().map_err(|_| Code::WrongCaptchaId)
}

fn answer(state: &MockState, req: &ApiRequest) -> (Reply, Option<u64>) {
    let p = &req.params;
    let account = match state.admit(p.get("key").map(str::trim), req.remote, false) {
        KeyCheck::Ok(a) => a,
        KeyCheck::Err(code) => return (Reply::Code(code), parse_id(p.get("id")).ok()),
    };
    if let Some(code) = req.body_error {
        return (Reply::Code(code), None);
    }
    let cfg = state.config();
    let action = p.non_empty("action").unwrap_or("");
    match action {
        "get" if p.get("ids").is_some() => (
            bulk_get(state, &cfg, account, p.get("ids").unwrap_or("")),
            None,
        ),
        "get" | "get2" => {
            let id = match parse_id(p.get("id")) {
                Ok(id) => id,
                Err(code) => return (Reply::Code(code), None),
            };
            let reply = match state.get(account, id) {
                Err(code) => Reply::Code(code),
                Ok(outcome) if action == "get2" => match (outcome, state.task(id)) {
                    (Outcome::Solved { answer, user_agent }, Some(view)) => {
                        Reply::SolvedWithPrice {
                            answer: answer_text(&cfg, view.kind, answer, user_agent.as_deref()),
                            price: format_money(state.price(account, id).unwrap_or(0.0)),
                        }
                    }
                    (Outcome::Failed { code }, _) => Reply::Code(failure(&code)),
                    (_, None) => Reply::Code(Code::WrongCaptchaId),
                },
                Ok(outcome) => match state.task(id) {
                    Some(view) => solved_reply(&cfg, &view, outcome),
                    None => Reply::Code(Code::WrongCaptchaId),
                },
            };
            (reply, Some(id))
        }
        "getbalance" => (Reply::Bare(format_money(state.balance(account))), None),
        "threadsinfo" if cfg.dialect == Dialect::Captchaai => {
            let (threads, working) = state.threads(account);
            (
                Reply::Json(serde_json::json!({
                    "status": 1,
                    "request": "OK",
                    "threads": threads,
                    "working_threads": working,
                })),
                None,
            )
        }
        "reportgood" | "reportbad" | "reportcorrect" | "reportincorrect" => {
            let id = match parse_id(p.get("id")) {
                Ok(id) => id,
                Err(code) => return (Reply::Code(code), None),
            };
            let good = matches!(action, "reportgood" | "reportcorrect");
            (Reply::Code(state.report(account, id, good)), Some(id))
        }
        "add_pingback" => match p.non_empty("addr") {
            Some(addr) if !caller_can_serve(addr, req.remote.map(|r| r.ip())) => {
                (Reply::Code(Code::IpAddres), None)
            }
            Some(addr) => {
                state.add_pingback_host(account, addr);
                (Reply::Bare("OK".into()), None)
            }
            None => (Reply::Code(Code::BadParameters), None),
        },
        // 2captcha's clients read `OK|addr1|addr2` (rucaptcha-php `getPingbacks`).
        "get_pingback" => (Reply::List(state.pingback_hosts(account)), None),
        "del_pingback" => match p.non_empty("addr") {
            Some(addr) => {
                state.del_pingback_host(account, addr);
                (Reply::Bare("OK".into()), None)
            }
            None => (Reply::Code(Code::BadParameters), None),
        },
        _ => (Reply::Code(Code::EmptyAction), None),
    }
}

/// The answer to a finished task, with the extra fields real clients read.
pub(crate) fn solved_reply(cfg: &Config, task: &TaskView, outcome: Outcome) -> Reply {
    let (id, kind) = (task.id, task.kind);
    match outcome {
        Outcome::Failed { code } => Reply::Code(failure(&code)),
        Outcome::Solved { answer, user_agent } => {
            let mut extras = Vec::new();
            if kind.has_result_field() {
                extras.push(("result", Extra::Text(answer.clone())));
            }
            let answer = answer_text(cfg, kind, answer, user_agent.as_deref());
            if let Some(ua) = user_agent {
                extras.push(("user_agent", Extra::Text(ua)));
            }
            if cfg.dialect == Dialect::TwoCaptcha && kind == TaskKind::Turnstile {
                extras.push((
                    "useragent",
                    Extra::Text(answers::user_agent(cfg.seed, stream_subject(cfg, id)).to_owned()),
                ));
            }
            if let Some(cookies) = &task.cookies {
                extras.push(("cookies", cookies_extra(cookies, task.json_cookies)));
            }
            Reply::Solved { answer, extras }
        }
    }
}

/// A solved answer as the configuration writes it in each format (`[answers]`): a
/// structured answer (GeeTest v3 and v4, Lemin, coordinates) as a JSON value in `json=1`
/// where the dialect gives one (2captcha), and GeeTest or Cloudflare Challenge in CaptchaAI's
/// fields form after `OK|` when asked for.
fn answer_text(
    cfg: &Config,
    kind: TaskKind,
    answer: String,
    user_agent: Option<&str>,
) -> AnswerText {
    let value = cfg.answers.structured_json(cfg.dialect) == StructuredJson::Value;
    if kind == TaskKind::Coordinates {
        // The stored answer is the plain form; `json=1` gives its points as an array.
        return match points_json(&answer).filter(|_| value) {
            Some(json) => AnswerText {
                text: json,
                as_value: true,
                plain: Some(answer),
            },
            None => AnswerText {
                text: answer,
                as_value: false,
                plain: None,
            },
        };
    }
    let as_value = matches!(
        kind,
        TaskKind::Geetest | TaskKind::GeetestV4 | TaskKind::Lemin
    ) && value
        // A forced answer need not be JSON: it stays a string.
        && serde_json::from_str::<serde_json::Value>(&answer).is_ok_and(|v| v.is_object());
    let plain = match cfg.answers.structured_text() {
        StructuredText::Json => None,
        StructuredText::Fields => fields_form(kind, &answer, user_agent),
    };
    AnswerText {
        text: answer,
        as_value,
        plain,
    }
}

/// A coordinates answer's points as 2captcha gives them in `json=1`: an array of objects
/// whose `x` and `y` are **strings** (`[{"x":"39","y":"59"},{"x":"252","y":"72"}]`), beside
/// the plain form `coordinates:x=39,y=59;x=252,y=72` (2captcha's API v1 documentation, copied
/// side by side in a Java 2captcha client's `APITest`, `com.twocaptcha.api`). `None` when
/// the text is not that plain form (a forced answer), which then stays a string.
fn points_json(plain: &str) -> Option<String> {
    let points = plain.strip_prefix("coordinates:")?;
    let mut out = Vec::new();
    for point in points.split(';') {
        let (x, y) = point.split_once(',')?;
        let number = |s: Option<&str>| {
            s.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
        };
        let (x, y) = (number(x.strip_prefix("x="))?, number(y.strip_prefix("y="))?);
        out.push(serde_json::json!({ "x": x, "y": y }));
    }
    Some(serde_json::Value::Array(out).to_string())
}

/// CaptchaAI's blog's plain-text form of a structured answer ("API response formats"):
/// GeeTest `challenge:...,validate:...,seccode:...`, Cloudflare Challenge
/// `cf_clearance=...;user_agent=...`; `None` for the other kinds (and an answer that is not
/// the JSON a GeeTest answer is).
fn fields_form(kind: TaskKind, answer: &str, user_agent: Option<&str>) -> Option<String> {
    match kind {
        TaskKind::Geetest => {
            let v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(answer).ok()?;
            let field = |name: &str| {
                v.get(name)
                    .or_else(|| v.get(&format!("geetest_{name}")))
                    .and_then(serde_json::Value::as_str)
            };
            Some(format!(
                "challenge:{},validate:{},seccode:{}",
                field("challenge")?,
                field("validate")?,
                field("seccode")?
            ))
        }
        TaskKind::CloudflareChallenge => Some(match user_agent {
            Some(ua) => format!("cf_clearance={answer};user_agent={ua}"),
            None => format!("cf_clearance={answer}"),
        }),
        _ => None,
    }
}

/// The cookies handed back with a reCAPTCHA answer: as sent
/// (`KEY1:Value1;KEY2:Value2`), or as a JSON object with `json_cookies=1`.
fn cookies_extra(cookies: &str, as_json: bool) -> Extra {
    if !as_json {
        return Extra::Text(cookies.to_owned());
    }
    let pairs: serde_json::Map<String, serde_json::Value> = cookies
        .split(';')
        .filter_map(|pair| {
            let (k, v) = pair.split_once([':', '='])?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), v.trim().into()))
        })
        .collect();
    Extra::Json(pairs.into())
}

/// `get` with `ids=1,2,3`: the answers (or codes) joined by `|`, without `OK|`, and
/// `status:1`. One id alone is answered as `get` answers it (its own status), and no id at
/// all is the error `get` gives for a missing `id`: a client reading `status` never takes
/// an error code for an answer.
fn bulk_get(state: &MockState, _cfg: &Config, account: u32, ids: &str) -> Reply {
    let items: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let one = |raw: &str| state.get(account, parse_id(Some(raw))?);
    match items.as_slice() {
        [] => Reply::Code(parse_id(None).err().unwrap_or(Code::WrongCaptchaId)),
        [single] => match one(single) {
            Err(code) => Reply::Code(code),
            Ok(Outcome::Solved { answer, .. }) => Reply::Bare(answer),
            Ok(Outcome::Failed { code }) => Reply::Code(failure(&code)),
        },
        many => Reply::Bare(
            many.iter()
                .map(|raw| match one(raw) {
                    Ok(outcome) => outcome.code().to_owned(),
                    Err(code) => code.as_str().to_owned(),
                })
                .collect::<Vec<_>>()
                .join("|"),
        ),
    }
}

/// The code a failed task is answered with (`ERROR_CAPTCHA_UNSOLVABLE` unless forced).
fn failure(code: &str) -> Code {
    Code::parse(code).unwrap_or(Code::CaptchaUnsolvable)
}

/// Money as the service prints it: up to five decimals, no trailing zeros.
fn format_money(v: f64) -> String {
    let s = format!("{v:.5}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_become_points_with_string_numbers() {
        assert_eq!(
            points_json("coordinates:x=39,y=59;x=252,y=72").as_deref(),
            Some(r#"[{"x":"39","y":"59"},{"x":"252","y":"72"}]"#)
        );
        for forced in [
            "coordinates:",
            "x=1,y=2",
            "coordinates:x=1",
            "coordinates:x=a,y=2",
        ] {
            assert_eq!(points_json(forced), None, "{forced}");
        }
    }

    #[test]
    fn ids_and_money() {
        assert_eq!(parse_id(Some("123")), Ok(123));
        assert_eq!(parse_id(Some("12a")), Err(Code::WrongIdFormat));
        assert_eq!(parse_id(Some("")), Err(Code::WrongCaptchaId));
        assert_eq!(parse_id(None), Err(Code::WrongCaptchaId));
        assert_eq!(
            parse_id(Some("99999999999999999999999")),
            Err(Code::WrongCaptchaId)
        );
        assert_eq!(format_money(10.0), "10");
        assert_eq!(format_money(9.99701), "9.99701");
        assert_eq!(format_money(0.0), "0");
    }
}
