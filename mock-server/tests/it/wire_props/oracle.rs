//! What an answer may be: one of the protocol's shapes (see the module above), given what
//! the request could have asked for; and a test that the oracle itself can fail.

use super::{
    K,
    requests::{Body, Req},
};
use crate::support::{Answer, REPORT_RECORDED, is_code, is_failure_code};

fn flag(v: &str) -> bool {
    matches!(v.trim(), "1" | "true" | "True" | "TRUE" | "yes")
}

/// Every pair the request carries anywhere (query and any body form).
fn all_pairs(r: &Req) -> Vec<&(String, String)> {
    let mut v: Vec<&(String, String)> = r.query.iter().collect();
    match &r.body {
        Body::Form(p) | Body::Json(p) | Body::Multipart(p, _) => v.extend(p.iter()),
        Body::None | Body::Raw(..) => {}
    }
    v
}

/// What the request could have asked for that loosens the shape checks.
struct Context {
    bulk: bool,
    pingback_list: bool,
    threadsinfo: bool,
}

fn context(r: &Req) -> Context {
    let pairs = all_pairs(r);
    // Raw bodies may carry anything: assume the loosest context.
    let raw = matches!(r.body, Body::Raw(..));
    let has = |k: &str, v: &str| pairs.iter().any(|(pk, pv)| pk == k && pv.trim() == v);
    Context {
        bulk: raw || pairs.iter().any(|(k, _)| k == "ids"),
        pingback_list: raw || has("action", "get_pingback"),
        threadsinfo: raw || has("action", "threadsinfo"),
    }
}

fn plain_ok(body: &str, cx: &Context) -> Result<(), String> {
    if is_code(body)
        || body == "OK"
        || (body.starts_with("OK|") && body.len() > 3 && !body.contains("ERROR"))
        || (!body.is_empty() && body.parse::<f64>().is_ok())
    {
        return Ok(());
    }
    if cx.bulk
        && body
            .split('|')
            .all(|p| is_code(p) || (!p.is_empty() && !p.contains("ERROR")))
    {
        return Ok(());
    }
    if cx.pingback_list {
        return Ok(()); // the hosts the client registered, verbatim
    }
    Err(format!("plain body is no protocol answer: {body:?}"))
}

fn json_ok(body: &str, cx: &Context) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| format!("JSON body does not parse ({e}): {body:?}"))?;
    let status = v
        .get("status")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("no integer status: {body}"))?;
    let request = v
        .get("request")
        .ok_or_else(|| format!("no request: {body}"))?;
    match (status, request) {
        (0, serde_json::Value::String(s)) if is_failure_code(s) => Ok(()),
        (1, serde_json::Value::Number(n)) if n.is_u64() => Ok(()),
        (1, serde_json::Value::String(s)) => {
            // A threadsinfo answer carries both counts as integers (its exact
            // shape is pinned by the snapshots); a bare `OK` is add/del_pingback.
            let counts = v.get("threads").is_some() || v.get("working_threads").is_some();
            if s == "OK" && cx.threadsinfo && counts {
                let int = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).is_some();
                return if int("threads") && int("working_threads") {
                    Ok(())
                } else {
                    Err(format!("threadsinfo without integer counts: {body}"))
                };
            }
            if s == REPORT_RECORDED || s == "OK" || cx.pingback_list {
                return Ok(());
            }
            if cx.bulk {
                return Ok(()); // codes and answers joined by `|`
            }
            if s.is_empty() || s.contains("ERROR") {
                return Err(format!(
                    "a successful answer must be non-empty and free of ERROR: {body}"
                ));
            }
            Ok(())
        }
        _ => Err(format!("status/request do not fit the protocol: {body}")),
    }
}

pub(super) fn check(r: &Req, a: &Answer) -> Result<(), String> {
    if a.status != 200 {
        return Err(format!("HTTP {} (always 200): {:?}", a.status, a.body));
    }
    let cx = context(r);
    let is_json = a.content_type == "application/json";
    if is_json {
        json_ok(&a.body, &cx)?;
    } else if a.content_type == "text/plain; charset=utf-8" {
        plain_ok(&a.body, &cx)?;
    } else {
        return Err(format!("unexpected content type {:?}", a.content_type));
    }
    // The query string comes first: when it carries `json` or `header_acao`,
    // its first value decides.
    let first = |k: &str| {
        r.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(j) = first("json")
        && !cx.threadsinfo
        && flag(j) != is_json
    {
        return Err(format!(
            "json={j:?} in the query, but the answer is {}",
            a.content_type
        ));
    }
    if let Some(c) = first("header_acao")
        && flag(c) != a.acao.is_some()
    {
        return Err(format!(
            "header_acao={c:?} in the query, but CORS header is {:?}",
            a.acao
        ));
    }
    Ok(())
}

/// The oracle itself must be able to fail: broken answers are rejected.
#[test]
fn the_oracle_rejects_broken_answers() {
    let req = |query: &[(&str, &str)]| Req {
        endpoint: "res.php",
        method: "GET",
        two_captcha: false,
        query: crate::support::pairs(query),
        body: Body::None,
    };
    let plain = |status: u16, body: &str| Answer {
        status,
        content_type: "text/plain; charset=utf-8".into(),
        acao: None,
        body: body.into(),
    };
    let json = |body: &str| Answer {
        content_type: "application/json".into(),
        ..plain(200, body)
    };
    let get = req(&[("key", K), ("action", "get"), ("id", "1")]);
    assert!(check(&get, &plain(200, "CAPCHA_NOT_READY")).is_ok());
    assert!(check(&get, &plain(200, "OK|token")).is_ok());
    assert!(
        check(
            &get,
            &json(r#"{"status":0,"request":"ERROR_WRONG_CAPTCHA_ID"}"#)
        )
        .is_ok()
    );
    let broken = [
        plain(500, "ERROR_SERVER_ERROR"),
        plain(200, "Internal Server Error"),
        plain(200, "OK|"),
        plain(200, ""),
        plain(200, "OK|ERROR_CAPTCHA_UNSOLVABLE"),
        json(r#"{"status":1,"request":"ERROR_CAPTCHA_UNSOLVABLE"}"#),
        json(r#"{"status":0,"request":"NOT_A_CODE"}"#),
        json(r#"{"status":"1","request":"abc"}"#),
        json(r#"{"request":"abc"}"#),
        json(r#"{"status":2,"request":"abc"}"#),
        json("not json"),
        Answer {
            content_type: "text/html".into(),
            ..plain(200, "OK|x")
        },
    ];
    for a in &broken {
        assert!(check(&get, a).is_err(), "accepted {a:?}");
    }
    // The query decides the format and the CORS header.
    let want_json = req(&[("key", K), ("action", "get"), ("id", "1"), ("json", "1")]);
    assert!(check(&want_json, &plain(200, "CAPCHA_NOT_READY")).is_err());
    let want_cors = req(&[("key", K), ("header_acao", "1")]);
    assert!(check(&want_cors, &plain(200, "ERROR_EMPTY_ACTION")).is_err());
    let cors = Answer {
        acao: Some("*".into()),
        ..plain(200, "ERROR_EMPTY_ACTION")
    };
    assert!(check(&want_cors, &cors).is_ok());
    assert!(
        check(&get, &cors).is_ok(),
        "no header_acao in the query: either is fine"
    );
}
