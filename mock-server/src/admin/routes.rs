//! The admin handlers: each reads or steers the state and answers JSON.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use super::error;
use crate::{
    pingback::faults::FaultRule,
    state::{FireError, ForceError, ForceResult, MockState, TaskView},
};

/// Every admin route (mounted at `/__admin`), the table in the module docs.
pub(super) fn routes() -> Router<MockState> {
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
    newest: Option<bool>,
}

async fn list_tasks(State(s): State<MockState>, Query(q): Query<Paging>) -> Response {
    let limit = q.limit.unwrap_or(1000);
    if q.newest == Some(true) {
        return Json(s.newest_tasks(limit)).into_response();
    }
    Json(s.tasks(limit)).into_response()
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
    forced(
        id,
        ForceResult::solve(b.answer).and_then(|r| s.force(id, r)),
    )
}

async fn fail(State(s): State<MockState>, Path(id): Path<u64>, body: Bytes) -> Response {
    let b: FailBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    forced(
        id,
        ForceResult::fail(b.code.as_deref()).and_then(|r| s.force(id, r)),
    )
}

fn forced(id: u64, r: Result<TaskView, ForceError>) -> Response {
    match r {
        Ok(t) => Json(t).into_response(),
        Err(ForceError::NotFound) => error(StatusCode::NOT_FOUND, format!("no task {id}")),
        Err(e @ ForceError::Finished) => error(StatusCode::CONFLICT, format!("task {id}: {e}")),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
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
