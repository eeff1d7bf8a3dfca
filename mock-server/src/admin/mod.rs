//! The admin API under `/__admin/`: inspect and steer a running mock.
//!
//! | route | does |
//! |---|---|
//! | `GET /__admin/health` | status, version, dialect, seed, clock, counters, pingback totals, keys |
//! | `POST /__admin/reset` | back to start-up state (tasks, journals, ids, fault rules) |
//! | `GET /__admin/tasks?limit=&newest=` | stored tasks with their ground truth (the first `limit` by id, or with `newest=true` the last) |
//! | `GET /__admin/tasks/{id}` | one task |
//! | `POST /__admin/tasks/{id}/solve` | finish it now, solved (body `{"answer": "..."}` optional); 409 once finished |
//! | `POST /__admin/tasks/{id}/fail` | finish it now, failed (body `{"code": "ERROR_..."}` optional); 409 once finished |
//! | `POST /__admin/tasks/{id}/pingback` | send its pingback again, by hand (503 when the queue is full) |
//! | `GET /__admin/tasks/{id}/schedule` | its compiled pingback schedule and every attempt so far |
//! | `GET /__admin/journal?since=&limit=&task=&endpoint=` | inbound requests |
//! | `GET /__admin/pingbacks?since=&limit=&task=` | outbound delivery attempts |
//! | `GET /__admin/pingback/rules` | fault rules in effect |
//! | `PUT /__admin/pingback/rules` | replace them (JSON array, same shape as the TOML rules) |
//! | `GET /__admin/api/rules` | API fault rules in effect (the legacy `[api]` rates among them) |
//! | `PUT /__admin/api/rules` | replace them (JSON array, same shape as `[[api.rules]]`) |
//! | `GET /__admin/metrics` | metrics in the Prometheus text format ([`crate::telemetry`]) |
//! | `GET /__admin/` | the live dashboard, one self-contained page ([`dashboard`]) |
//! | `GET /__admin/events` | its event stream (server-sent events) |
//! | `POST /__admin/login` | a browser signs in with the token (form field `token`): a cookie, then the dashboard |
//!
//! Every error is JSON, `{"error": "..."}`. Without a token, the admin API serves loopback
//! clients of a mock listening on loopback only (403 otherwise, to everyone when the mock
//! listens off loopback); with a token, every request needs `Authorization: Bearer <token>`,
//! or the cookie a browser gets by signing in ([`login`]).
//! The mock's own pingbacks are refused on every route. Details in [`guard`].
//!
//! # Files
//!
//! - this file: the router, and the JSON shape of every admin error;
//! - [`guard`]: who may use the admin API (loopback clients of a loopback mock, or a bearer
//!   token);
//! - [`login`]: a browser's sign-in form and cookie, when a token is set;
//! - [`routes`]: the handlers, thin wrappers over the state's inspection and control;
//! - [`metrics`]: the Prometheus exposition;
//! - [`dashboard`]: the live dashboard and its event stream.

mod dashboard;
mod guard;
mod login;
mod metrics;
mod routes;

pub(crate) use dashboard::landing;
#[cfg(feature = "cli")]
pub(crate) use guard::is_loopback;

use axum::{
    Json, Router,
    extract::Request,
    http::{StatusCode, header::CONTENT_TYPE},
    middleware,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::state::MockState;

/// The admin router (mounted at `/__admin`).
pub(crate) fn router(state: MockState) -> Router<MockState> {
    routes::routes()
        .merge(metrics::routes())
        .merge(dashboard::routes())
        .fallback(no_route)
        .layer(middleware::map_response(json_errors))
        .layer(middleware::from_fn_with_state(state, guard::guard))
}

/// `GET /__admin/` (with its slash: a nested router's `/` is `/__admin` alone), behind the
/// same guard, and `POST /__admin/login`, where a browser signs in when a token is set
/// ([`login`]); mounted beside [`router`].
pub(crate) fn dashboard_page(state: MockState) -> Router<MockState> {
    Router::new()
        .route("/__admin/", axum::routing::get(dashboard::page))
        .layer(middleware::from_fn_with_state(state, guard::guard))
        // Outside the guard: how a browser gets past it.
        .route("/__admin/login", axum::routing::post(login::login))
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
