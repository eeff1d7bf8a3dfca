//! The admin API under `/__admin/`: inspect and steer a running mock.
//!
//! | route | does |
//! |---|---|
//! | `GET /__admin/health` | status, version, dialect, seed, clock, counters, pingback totals, keys |
//! | `POST /__admin/reset` | back to start-up state (tasks, journals, ids, fault rules) |
//! | `GET /__admin/tasks?limit=` | stored tasks with their ground truth |
//! | `GET /__admin/tasks/{id}` | one task |
//! | `POST /__admin/tasks/{id}/solve` | finish it now, solved (body `{"answer": "..."}` optional); 409 once finished |
//! | `POST /__admin/tasks/{id}/fail` | finish it now, failed (body `{"code": "ERROR_..."}` optional); 409 once finished |
//! | `POST /__admin/tasks/{id}/pingback` | send its pingback again, by hand (503 when the queue is full) |
//! | `GET /__admin/tasks/{id}/schedule` | its compiled pingback schedule and every attempt so far |
//! | `GET /__admin/journal?since=&limit=&task=&endpoint=` | inbound requests |
//! | `GET /__admin/pingbacks?since=&limit=&task=` | outbound delivery attempts |
//! | `GET /__admin/pingback/rules` | fault rules in effect |
//! | `PUT /__admin/pingback/rules` | replace them (JSON array, same shape as the TOML rules) |
//!
//! Every error is JSON, `{"error": "..."}`. Off the loopback interface the admin API answers 403 unless a token is
//! configured; with a token, every request needs `Authorization: Bearer <token>`.

use std::net::SocketAddr;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{ConnectInfo, Path, Query, Request, State},
    http::{
        StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use subtle_free_eq::ct_eq;

use crate::{
    pingback::faults::FaultRule,
    state::{FireError, ForceError, ForceResult, MockState},
    wire::Code,
};

mod subtle_free_eq {
    /// Constant-time comparison of two byte strings (length leaks, content does not).
    pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The admin router (mounted at `/__admin`).
pub fn router(state: MockState) -> Router<MockState> {
    Router::new()
        .route("/health", get(health))
        .route("/reset", post(reset))
        .route("/tasks", get(list_tasks))
        .route("/tasks/{id}", get(one_task))
        .route("/tasks/{id}/solve", post(solve))
        .route("/tasks/{id}/fail", post(fail))
        .route("/tasks/{id}/pingback", post(fire))
        .route("/tasks/{id}/schedule", get(schedule))
        .route("/journal", get(journal))
        .route("/pingbacks", get(pingbacks))
        .route("/pingback/rules", get(get_rules).put(put_rules))
        .fallback(no_route)
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(state, guard))
}

/// Extractor rejections (a non-numeric id, a bad query string) are plain
/// text: every admin error is JSON `{"error": "..."}`, so clients parse one shape.
async fn json_errors(resp: Response) -> Response {
    let failed = resp.status().is_client_error() || resp.status().is_server_error();
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !failed || json {
        return resp;
    }
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = match String::from_utf8_lossy(&body).trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        text => text.to_owned(),
    };
    error(status, message)
}

async fn no_route(req: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no admin route {} {}",
            req.method(),
            req.extensions()
                .get::<axum::extract::OriginalUri>()
                .map_or_else(|| req.uri().path(), |u| u.path())
        ),
    )
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn guard(State(state): State<MockState>, req: Request, next: Next) -> Response {
    let cfg = state.config();
    if let Some(token) = cfg.admin.token.as_deref() {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !ct_eq(given.as_bytes(), token.as_bytes()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "admin API: missing or wrong bearer token",
            );
        }
    } else if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && !addr.ip().is_loopback()
    {
        return error(
            StatusCode::FORBIDDEN,
            "admin API is only served to loopback clients unless admin.token is configured",
        );
    }
    next.run(req).await
}

async fn health(State(s): State<MockState>) -> Response {
    let cfg = s.config();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "dialect": cfg.dialect,
        "seed": cfg.seed,
        "time_scale": cfg.time_scale,
        "now_ms": s.now().as_millis() as u64,
        "tasks": s.task_count(),
        "counters": s.counters(),
        "pingbacks": s.dispatcher().stats(),
        "keys": s.keys(),
    }))
    .into_response()
}

async fn reset(State(s): State<MockState>) -> Response {
    s.reset();
    Json(json!({ "status": "ok" })).into_response()
}

#[derive(Deserialize)]
struct Paging {
    since: Option<u64>,
    limit: Option<usize>,
    task: Option<u64>,
    endpoint: Option<String>,
}

async fn list_tasks(State(s): State<MockState>, Query(q): Query<Paging>) -> Response {
    Json(s.tasks(q.limit.unwrap_or(1000))).into_response()
}

async fn one_task(State(s): State<MockState>, Path(id): Path<u64>) -> Response {
    match s.task(id) {
        Some(t) => Json(t).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no task {id}")),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SolveBody {
    answer: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FailBody {
    code: Option<String>,
}

fn parse_body<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}"),
        ))
    })
}

async fn solve(State(s): State<MockState>, Path(id): Path<u64>, body: Bytes) -> Response {
    let b: SolveBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    if b.answer.as_deref().is_some_and(|a| a.contains("ERROR")) {
        return error(
            StatusCode::BAD_REQUEST,
            "an answer must not contain ERROR (clients treat it as a failure)",
        );
    }
    if b.answer.as_deref().is_some_and(|a| a.trim().is_empty()) {
        return error(
            StatusCode::BAD_REQUEST,
            "an answer must not be empty (leave `answer` out for the task's own)",
        );
    }
    forced(id, s.force(id, ForceResult::Solve(b.answer)))
}

fn forced(id: u64, r: Result<crate::state::TaskView, ForceError>) -> Response {
    match r {
        Ok(t) => Json(t).into_response(),
        Err(ForceError::NotFound) => error(StatusCode::NOT_FOUND, format!("no task {id}")),
        Err(e @ ForceError::Finished) => error(StatusCode::CONFLICT, format!("task {id}: {e}")),
    }
}

async fn fail(State(s): State<MockState>, Path(id): Path<u64>, body: Bytes) -> Response {
    let b: FailBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let code = match b.code.as_deref() {
        None => Code::CaptchaUnsolvable,
        Some(c) => match Code::parse(c) {
            Some(code) if code.is_error() && code != Code::NotReady => code,
            _ => return error(StatusCode::BAD_REQUEST, format!("unknown error code {c:?}")),
        },
    };
    forced(id, s.force(id, ForceResult::Fail(code)))
}

async fn fire(State(s): State<MockState>, Path(id): Path<u64>) -> Response {
    match s.fire_pingback(id) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "status": "queued" }))).into_response(),
        Err(FireError::NotFound) => error(StatusCode::NOT_FOUND, format!("no task {id}")),
        Err(e @ FireError::Shed) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn schedule(State(s): State<MockState>, Path(id): Path<u64>) -> Response {
    match s.task(id) {
        Some(t) => Json(json!({
            "task": id,
            "schedule": t.schedule,
            "attempts": s.deliveries(0, usize::MAX, Some(id)),
        }))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no task {id}")),
    }
}

async fn journal(State(s): State<MockState>, Query(q): Query<Paging>) -> Response {
    Json(s.inbound(
        q.since.unwrap_or(0),
        q.limit.unwrap_or(1000),
        q.task,
        q.endpoint.as_deref(),
    ))
    .into_response()
}

async fn pingbacks(State(s): State<MockState>, Query(q): Query<Paging>) -> Response {
    Json(s.deliveries(q.since.unwrap_or(0), q.limit.unwrap_or(1000), q.task)).into_response()
}

async fn get_rules(State(s): State<MockState>) -> Response {
    Json(&*s.rules()).into_response()
}

async fn put_rules(State(s): State<MockState>, body: Bytes) -> Response {
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let parsed = serde_path_to_error::deserialize::<_, Vec<FaultRule>>(&mut *de);
    // Nothing may follow the array: `[...] garbage` is not a rule set.
    if parsed.is_ok()
        && let Err(e) = de.end()
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("invalid rules at the end of the body: {e}"),
        );
    }
    match parsed {
        Ok(rules) => {
            let n = rules.len();
            s.set_rules(rules);
            Json(json!({ "status": "ok", "rules": n })).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("invalid rules at {}: {}", e.path(), e.inner()),
        ),
    }
}
