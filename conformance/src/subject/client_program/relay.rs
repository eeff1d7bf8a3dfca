//! The pingback relay a client program gets in a scenario that uses pingbacks: the harness
//! receives the program's callbacks (behind the receiver-side layer, like any receiver) and
//! keeps the first code per task id, and the program reads it back from a results URL, as
//! its application would read its own receiver's store.
//!
//! The program passes `CAPTCHAAI_PINGBACK_URL` as `pingback` and reads
//! `CAPTCHAAI_PINGBACK_RESULTS` (`{id}` replaced by the task id: 200 and the code once the
//! callback came, 404 before). The results are served on a listener of their own, so that
//! reading them never shows in the timeline as a callback.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{any, get},
};
use tokio::net::TcpListener;

/// What the relay received: the first code per task id.
#[derive(Clone, Default)]
pub(super) struct Relay {
    codes: Arc<Mutex<HashMap<String, String>>>,
}

impl Relay {
    /// The router the harness serves as the program's receiver: `/pingback`, GET or POST.
    pub(super) fn receiver(&self) -> Router {
        Router::new()
            .route("/pingback", any(callback))
            .with_state(self.clone())
    }

    /// Serves `/results/{id}` on a loopback port of its own; gives its URL template. The
    /// server ends with the run's runtime.
    pub(super) async fn serve_results(&self) -> Result<String, String> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| format!("cannot bind the pingback relay's results: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the pingback relay's address: {e}"))?;
        let app = Router::new()
            .route("/results/{id}", get(result))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://{addr}/results/{{id}}"))
    }
}

/// A callback: `id` and `code` from the query or a form body; the first code per id is kept.
async fn callback(State(relay): State<Relay>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let mut id = None;
    let mut code = None;
    let query = query.unwrap_or_default();
    for source in [query.as_bytes(), body.as_ref()] {
        for (k, v) in form_urlencoded::parse(source) {
            match &*k {
                "id" if id.is_none() => id = Some(v.into_owned()),
                "code" if code.is_none() => code = Some(v.into_owned()),
                _ => {}
            }
        }
    }
    let (Some(id), Some(code)) = (id, code) else {
        return (StatusCode::BAD_REQUEST, "id and code are required").into_response();
    };
    relay
        .codes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(id)
        .or_insert(code);
    (StatusCode::OK, "OK").into_response()
}

/// The code kept for a task id: 200 and the code, or 404.
async fn result(State(relay): State<Relay>, Path(id): Path<String>) -> Response {
    match relay
        .codes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
    {
        Some(code) => (StatusCode::OK, code.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
