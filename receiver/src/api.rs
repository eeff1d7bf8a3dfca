//! The routes the application behind the receiver calls (the pingback endpoint itself is
//! the client library's [`Receiver`](captchaai_client::receiver::Receiver)):
//!
//! | route | answers |
//! |---|---|
//! | `GET /results/{id}` | `200` with the code (`text/plain`, its source in `x-result-source`), `404` when there is none; `?wait=30s` waits for it (at most `--max-wait`) and registers the id, as any wait does |
//! | `POST /register/{id}` | `201` when newly registered, `200` when it was already |
//! | `GET /healthz` | `200 {"status":"ok","store":...}`, or `503` with a `"reason"` |
//!
//! With a secret, `/results` and `/register` want it in the same query parameter as the
//! callbacks (`403` otherwise); `/healthz` is open. An id that is not a number is `400`, and
//! so is an unreadable `wait`. When the store cannot be reached, these routes answer `503`
//! with the reason, never a `404` that would say "no result".

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use captchaai_client::receiver::{ResultSource, ResultStore, TaskResult};
use captchaai_client::{Error, TaskId};
use subtle::ConstantTimeEq as _;

/// What the routes share.
#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) store: ResultStore,
    pub(crate) secret: Option<String>,
    pub(crate) secret_param: String,
    pub(crate) max_wait: Duration,
}

pub(crate) fn routes(api: Api) -> Router {
    Router::new()
        .route("/results/{id}", get(result))
        .route("/register/{id}", post(register))
        .route("/healthz", get(health))
        .with_state(Arc::new(api))
}

/// A refusal: its status and a one-line reason (`text/plain`).
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn unavailable(e: &Error) -> Refusal {
    tracing::warn!(error = %e, "results api: the store is unavailable");
    Refusal(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

impl Api {
    /// The query parameters, once the secret (when one is set) checked out.
    fn authorised(&self, query: Option<String>) -> Result<Vec<(String, String)>, Refusal> {
        let params: Vec<(String, String)> = query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(secret) = &self.secret {
            let mut given = params.iter().filter(|(k, _)| *k == self.secret_param);
            let ok = match (given.next(), given.next()) {
                (Some((_, value)), None) => bool::from(value.as_bytes().ct_eq(secret.as_bytes())),
                _ => false,
            };
            if !ok {
                return Err(Refusal(
                    StatusCode::FORBIDDEN,
                    "missing or wrong secret".to_owned(),
                ));
            }
        }
        Ok(params)
    }
}

fn task_id(id: &str) -> Result<TaskId, Refusal> {
    id.parse().map_err(|_| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("task id {id:?} is not a number"),
        )
    })
}

fn found(result: &TaskResult) -> Response {
    let source = match result.source() {
        ResultSource::Pingback => "pingback",
        ResultSource::Poll => "poll",
        ResultSource::Manual => "manual",
    };
    let mut response = (StatusCode::OK, result.code().to_owned()).into_response();
    response
        .headers_mut()
        .insert("x-result-source", HeaderValue::from_static(source));
    response
}

fn not_found(task_id: TaskId) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("no result for task {task_id}"),
    )
        .into_response()
}

async fn result(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Refusal> {
    let params = api.authorised(query)?;
    let task_id = task_id(&id)?;
    let wait = match params.iter().find(|(k, _)| k == "wait") {
        None => None,
        Some((_, text)) => Some(
            humantime::parse_duration(text)
                .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("wait={text:?}: {e}")))?,
        ),
    };
    let Some(wait) = wait.map(|w| w.min(api.max_wait)) else {
        return match api.store.get(task_id).await {
            Ok(Some(result)) => Ok(found(&result)),
            Ok(None) => Ok(not_found(task_id)),
            Err(e) => Err(unavailable(&e)),
        };
    };
    match api.store.wait(task_id, wait).await {
        Ok(result) => Ok(found(&result)),
        // No result in time; a store that went away meanwhile says so instead of a 404.
        Err(e) if e.is_timeout() => match api.store.get(task_id).await {
            Ok(Some(result)) => Ok(found(&result)),
            Ok(None) => Ok(not_found(task_id)),
            Err(e) => Err(unavailable(&e)),
        },
        Err(e) => Err(unavailable(&e)),
    }
}

async fn register(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Refusal> {
    api.authorised(query)?;
    let task_id = task_id(&id)?;
    match api.store.register(task_id).await {
        Ok(true) => Ok((StatusCode::CREATED, format!("task {task_id} registered")).into_response()),
        Ok(false) => Ok((
            StatusCode::OK,
            format!("task {task_id} was registered already"),
        )
            .into_response()),
        Err(e) => Err(unavailable(&e)),
    }
}

async fn health(State(api): State<Arc<Api>>) -> Response {
    let store = api.store.backend_name();
    let (status, body) = match api.store.health().await {
        Ok(()) => (
            StatusCode::OK,
            serde_json::json!({ "status": "ok", "store": store }),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "unavailable", "store": store, "reason": e.to_string() }),
        ),
    };
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    fn api(secret: Option<&str>) -> (Router, ResultStore) {
        let store = ResultStore::new();
        let routes = routes(Api {
            store: store.clone(),
            secret: secret.map(str::to_owned),
            secret_param: "token".to_owned(),
            max_wait: Duration::from_millis(50),
        });
        (routes, store)
    }

    async fn call(router: &Router, method: &str, uri: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn results_register_and_health() {
        let (router, store) = api(None);
        let id = TaskId::new(7);
        assert_eq!(
            call(&router, "GET", "/results/7").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&router, "POST", "/register/7").await.0,
            StatusCode::CREATED
        );
        assert_eq!(call(&router, "POST", "/register/7").await.0, StatusCode::OK);
        store
            .record(id, "tok", ResultSource::Pingback)
            .await
            .unwrap();
        assert_eq!(
            call(&router, "GET", "/results/7").await,
            (StatusCode::OK, "tok".to_owned())
        );
        let (status, body) = call(&router, "GET", "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"status":"ok","store":"memory"}"#);
    }

    #[tokio::test]
    async fn a_wait_is_bounded_by_max_wait_and_registers() {
        let (router, store) = api(None);
        // 1 h asked, 50 ms granted.
        assert_eq!(
            call(&router, "GET", "/results/8?wait=1h").await.0,
            StatusCode::NOT_FOUND
        );
        assert!(store.is_registered(TaskId::new(8)).await.unwrap());
    }

    #[tokio::test]
    async fn bad_input_and_the_secret() {
        let (router, _) = api(Some("s3cret"));
        assert_eq!(
            call(&router, "GET", "/results/1").await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(&router, "GET", "/results/1?token=wrong").await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(&router, "GET", "/results/1?token=s3cret").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&router, "GET", "/results/x1?token=s3cret").await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call(&router, "GET", "/results/1?token=s3cret&wait=soon")
                .await
                .0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call(&router, "POST", "/register/1").await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(call(&router, "GET", "/healthz").await.0, StatusCode::OK);
    }
}
