//! `GET /__admin/metrics`: the mock's metrics in the Prometheus text format
//! ([`crate::telemetry`] says which), behind the admin API's guard like every admin route.

use axum::{
    Router,
    extract::State,
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
    routing::get,
};

use crate::state::MockState;

/// The Prometheus text exposition format's media type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics route (mounted at `/__admin`).
pub(super) fn routes() -> Router<MockState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(s): State<MockState>) -> Response {
    let tasks = s.task_states();
    let text = s.dispatcher().telemetry().render(&tasks);
    ([(CONTENT_TYPE, TEXT_FORMAT)], text).into_response()
}
