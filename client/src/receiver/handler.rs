//! The callback handler: checks in the order source, secret, body, parameters, registration,
//! so that an unauthorised sender learns nothing about the parameters.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use subtle::ConstantTimeEq as _;

use super::ReceiverConfig;
use super::RejectReason;
use super::store::{Recorded, ResultSource, ResultStore};
use crate::task_id::TaskId;

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) config: ReceiverConfig,
    pub(super) store: ResultStore,
}

/// Room for `id=...&code=` and a secret around the code itself.
const BODY_OVERHEAD: usize = 4096;

pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match accept(&shared, request).await {
        Ok(recorded) => {
            if let Recorded::Conflict { kept, .. } = &recorded {
                tracing::debug!(task_id = %kept.task_id(), "conflicting pingback acknowledged");
            }
            (StatusCode::OK, "OK").into_response()
        }
        Err((task_id, reason)) => {
            let status = StatusCode::from_u16(reason.status()).unwrap_or(StatusCode::BAD_REQUEST);
            tracing::debug!(?task_id, %reason, "pingback rejected");
            let message = reason.to_string();
            shared.store.report_rejected(task_id, reason);
            let mut response = (status, message).into_response();
            if status == StatusCode::METHOD_NOT_ALLOWED {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            }
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

type Rejection = (Option<TaskId>, RejectReason);

async fn accept(shared: &Shared, request: Request) -> Result<Recorded, Rejection> {
    let config = &shared.config;
    let reject = |reason| (None, reason);

    let method = request.method().clone();
    if method != Method::GET && method != Method::POST {
        return Err(reject(RejectReason::MethodNotAllowed));
    }

    if !config.allow.is_empty() {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical());
        match peer {
            None => return Err(reject(RejectReason::NoConnectInfo)),
            Some(ip) if !config.allow.iter().any(|net| net.contains(&ip)) => {
                return Err(reject(RejectReason::SourceNotAllowed));
            }
            Some(_) => {}
        }
    }

    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();

    if let Some(secret) = &config.secret {
        let mut given = query
            .iter()
            .filter(|(k, _)| *k == config.secret_param)
            .map(|(_, v)| v);
        let ok = match (given.next(), given.next()) {
            (Some(value), None) => bool::from(value.as_bytes().ct_eq(secret.as_bytes())),
            _ => false,
        };
        if !ok {
            return Err(reject(RejectReason::BadSecret));
        }
    }

    let mut params = query;
    if method == Method::POST {
        params.extend(read_form(config, request).await.map_err(reject)?);
    }

    let id = single(&params, "id").map_err(reject)?;
    let task_id: TaskId = match id {
        None => return Err(reject(RejectReason::MissingId)),
        Some(id) => id.parse().map_err(|_| reject(RejectReason::InvalidId))?,
    };
    let code = match single(&params, "code").map_err(|r| (Some(task_id), r))? {
        None | Some("") => return Err((Some(task_id), RejectReason::MissingCode)),
        Some(code) if code.len() > config.max_code_len => {
            return Err((Some(task_id), RejectReason::CodeTooLarge));
        }
        Some(code) => code.to_owned(),
    };

    let store = &shared.store;
    let recorded = if config.registered_only {
        store
            .record_if_registered(task_id, code, ResultSource::Pingback)
            .await
    } else {
        store
            .record(task_id, code, ResultSource::Pingback)
            .await
            .map(Some)
    };
    match recorded {
        Ok(Some(recorded)) => Ok(recorded),
        Ok(None) => Err((Some(task_id), RejectReason::UnknownTask)),
        Err(e) if e.is_store_unavailable() => {
            // Not acknowledged: the sender retries, and nothing is lost.
            tracing::warn!(%task_id, error = %e, "pingback not stored: the store is unavailable");
            Err((Some(task_id), RejectReason::StoreUnavailable))
        }
        // The store refuses only an empty code, which was checked above.
        Err(_) => Err((Some(task_id), RejectReason::MissingCode)),
    }
}

/// The one value of a parameter; the same value repeated is fine, different values are not.
fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, RejectReason> {
    let mut found: Option<&str> = None;
    for (k, v) in params {
        if k == name {
            match found {
                Some(prev) if prev != v => return Err(RejectReason::AmbiguousParameter),
                _ => found = Some(v),
            }
        }
    }
    Ok(found)
}

/// Reads an urlencoded POST body, bounded.
async fn read_form(
    config: &ReceiverConfig,
    request: Request,
) -> Result<Vec<(String, String)>, RejectReason> {
    // Percent-encoding can triple the code (`{"` is `%7B%22`): the decoded length is what
    // `max_code_len` bounds, so a valid code must fit however it was encoded.
    let limit = config
        .max_code_len
        .saturating_mul(3)
        .saturating_add(BODY_OVERHEAD);
    let headers = request.headers();
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit as u64
    {
        return Err(RejectReason::BodyTooLarge);
    }
    let content_type: Option<Cow<'_, str>> = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let is_form = content_type.as_deref().is_some_and(|ct| {
        ct.split(';').next().is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    let has_content_type = content_type.is_some();

    let mut body = Vec::new();
    let mut stream = Body::into_data_stream(request.into_body());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| RejectReason::UnreadableBody)?;
        if body.len() + chunk.len() > limit {
            return Err(RejectReason::BodyTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() && !has_content_type {
        // A bodiless POST with the parameters in the query string.
        return Ok(Vec::new());
    }
    if !is_form {
        return Err(RejectReason::UnsupportedContentType);
    }
    if std::str::from_utf8(&body).is_err() {
        return Err(RejectReason::UnreadableBody);
    }
    Ok(form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}
