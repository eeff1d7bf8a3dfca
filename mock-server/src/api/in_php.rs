//! `in.php`: submit a task (and `solve.php`: submit and wait).

use axum::{
    body::Body,
    extract::{Request, State},
    response::Response,
};

use super::{
    images::ImageLimits,
    request::{self, ApiRequest},
    res_php, submission,
    wire::{Code, Reply},
};
use crate::state::{ApiFault, KeyCheck, MockState};

/// `GET|POST /in.php`.
pub(crate) async fn handle(State(state): State<MockState>, req: Request<Body>) -> Response {
    let req = request::read(&state, req, request::Endpoint::Submit).await;
    let fault = state.api_fault(true);
    if fault == Some(ApiFault::Http503) {
        return request::http_503(&state, req, "in.php", "method");
    }
    let (reply, task_id) = submit(&state, &req, fault).await;
    finish(&state, req, "in.php", reply, task_id)
}

/// `GET|POST /solve.php`: submit, wait for the task to finish (at most 5
/// simulated minutes), then answer as `res.php?action=get` would.
pub(crate) async fn handle_solve(State(state): State<MockState>, req: Request<Body>) -> Response {
    let req = request::read(&state, req, request::Endpoint::Submit).await;
    let (reply, task_id) = match submit(&state, &req, None).await {
        (Reply::Submitted(id, _), _) => (wait_for(&state, id).await, Some(id)),
        other => other,
    };
    finish(&state, req, "solve.php", reply, task_id)
}

async fn wait_for(state: &MockState, id: u64) -> Reply {
    let deadline = state.now() + std::time::Duration::from_secs(300);
    loop {
        let Some(view) = state.task(id) else {
            return Reply::Code(Code::WrongCaptchaId);
        };
        let account = match state.check_key(Some(&view.key)) {
            KeyCheck::Ok(a) => a,
            KeyCheck::Err(c) => return Reply::Code(c),
        };
        match state.get(account, id) {
            Err(Code::NotReady) => {}
            Err(code) => return Reply::Code(code),
            Ok(outcome) => {
                return res_php::solved_reply(&state.config(), &view, outcome);
            }
        }
        let now = state.now();
        if now >= deadline {
            return Reply::Code(Code::NotReady);
        }
        let until = view.finish_at_ms.map_or(deadline, |ms| {
            std::time::Duration::from_millis(ms + 1).min(deadline)
        });
        state
            .clock()
            .sleep(
                until
                    .saturating_sub(now)
                    .max(std::time::Duration::from_millis(1)),
            )
            .await;
    }
}

async fn submit(
    state: &MockState,
    req: &ApiRequest,
    fault: Option<ApiFault>,
) -> (Reply, Option<u64>) {
    let account = match state.admit(req.params.get("key").map(str::trim), req.remote, true) {
        KeyCheck::Ok(a) => a,
        KeyCheck::Err(code) => return (Reply::Code(code), None),
    };
    if let Some(code) = req.body_error {
        return (Reply::Code(code), None);
    }
    let cfg = state.config();
    let limits = ImageLimits::from(&cfg.images);
    let sub = match submission::parse_submission(&req.params, cfg.dialect, &limits) {
        Ok(s) => s,
        Err(code) => return (Reply::Code(code), None),
    };
    if fault == Some(ApiFault::ServerError) {
        return (Reply::Code(Code::ServerError), None);
    }
    match state.submit(account, sub) {
        Ok(done) => {
            if let Some(job) = done.early {
                state.deliver_early(job).await;
            }
            (Reply::Submitted(done.id, cfg.task_id), Some(done.id))
        }
        Err(code) => (Reply::Code(code), None),
    }
}

fn finish(
    state: &MockState,
    req: ApiRequest,
    endpoint: &'static str,
    reply: Reply,
    task_id: Option<u64>,
) -> Response {
    let format = req.format();
    let acao = req.acao();
    let answer = reply.journal_text();
    request::journal(state, req, endpoint, "method", answer, task_id);
    reply.into_http(format, acao)
}
