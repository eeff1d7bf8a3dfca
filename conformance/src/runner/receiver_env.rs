//! The receiver-side layer: an axum middleware the harness puts in front of an in-process
//! subject's receiver. It plays the scenario's receiver faults (`[receiver] fail-first`,
//! `latency`) and records every callback as the receiver saw it, so checks can tell the
//! subject's answers from the environment's.

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};

use crate::{
    scenario::Scenario,
    timeline::{Event, HandledBy, Recorder, Source, short},
};

/// The body a receiver-side fault answers with, so checks can tell it from the subject's own answers.
pub(crate) const ENV_FAILURE_BODY: &str = "conformance-env: injected receiver failure";

/// Puts the receiver-side faults (fail the first N, add latency) and the
/// harness's view of every callback in front of the subject's router.
pub(super) fn with_receiver_env(router: Router, scenario: &Scenario, recorder: Recorder) -> Router {
    let env = scenario.receiver.clone();
    let failed = Arc::new(AtomicU32::new(0));
    router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let env = env.clone();
        let failed = failed.clone();
        let recorder = recorder.clone();
        async move {
            let injected = req.headers().contains_key("x-conformance-injected");
            let method = req.method().to_string();
            let (req, id, code) = read_params(req).await;
            if !injected
                && env.fail_first > 0
                && failed.fetch_add(1, Ordering::Relaxed) < env.fail_first
            {
                recorder.record(
                    Source::Receiver,
                    Event::Received {
                        method,
                        id,
                        code: code.map(|c| short(&c)),
                        status: env.fail_status,
                        handled_by: HandledBy::Env,
                        replica: None,
                    },
                );
                let status = StatusCode::from_u16(env.fail_status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return (status, ENV_FAILURE_BODY).into_response();
            }
            if let Some(l) = env.latency.filter(|_| !injected) {
                tokio::time::sleep(l).await;
            }
            let resp: Response = next.run(req).await;
            if !injected {
                recorder.record(
                    Source::Receiver,
                    Event::Received {
                        method,
                        id,
                        code: code.map(|c| short(&c)),
                        status: resp.status().as_u16(),
                        handled_by: HandledBy::Subject,
                        replica: None,
                    },
                );
            }
            resp
        }
    }))
}

/// Reads `id` and `code` from the query or a form body, and rebuilds the request.
async fn read_params(req: Request) -> (Request, Option<String>, Option<String>) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut id = None;
    let mut code = None;
    let query = parts.uri.query().unwrap_or("").as_bytes().to_vec();
    for src in [query.as_slice(), bytes.as_ref()] {
        for (k, v) in form_urlencoded::parse(src) {
            match &*k {
                "id" if id.is_none() => id = Some(v.into_owned()),
                "code" if code.is_none() => code = Some(v.into_owned()),
                _ => {}
            }
        }
    }
    (Request::from_parts(parts, Body::from(bytes)), id, code)
}
