//! `in.php`: submit a task (and `solve.php`: submit and wait).

use axum::{
    body::Body,
    extract::{Request, State},
    response::Response,
};

use super::{
    faults::{self, Drawn},
    request::{self, ApiRequest},
    res_php, submission,
    wire::{Code, Reply, Style},
};
use crate::state::{KeyCheck, MockState};

/// `GET|POST /in.php`.
pub(crate) async fn handle(State(state): State<MockState>, req: Request<Body>) -> Response {
    let req = request::read(&state, req, request::Endpoint::Submit).await;
    let drawn = faults::draw(&state, &req, "in.php", "method");
    if let Drawn::Instead(f) = drawn {
        return faults::instead(&state, req, "in.php", "method", f).await;
    }
    faults::wait(&state, &drawn).await;
    let (reply, task_id) = submit(&state, &req).await;
    finish(&state, req, "in.php", reply, task_id, drawn).await
}

/// `GET|POST /solve.php`: submit, wait for the task to finish (at most 5
/// simulated minutes), then answer as `res.php?action=get` would.
pub(crate) async fn handle_solve(State(state): State<MockState>, req: Request<Body>) -> Response {
    let req = request::read(&state, req, request::Endpoint::Submit).await;
    let drawn = faults::draw(&state, &req, "solve.php", "method");
    if let Drawn::Instead(f) = drawn {
        return faults::instead(&state, req, "solve.php", "method", f).await;
    }
    faults::wait(&state, &drawn).await;
    let (reply, task_id) = match submit(&state, &req).await {
        (Reply::Submitted(id, _), _) => (wait_for(&state, id).await, Some(id)),
        other => other,
    };
    finish(&state, req, "solve.php", reply, task_id, drawn).await
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

async fn submit(state: &MockState, req: &ApiRequest) -> (Reply, Option<u64>) {
    let account = match state.admit(req.params.get("key").map(str::trim), req.remote, true) {
        KeyCheck::Ok(a) => a,
        KeyCheck::Err(code) => return (Reply::Code(code), None),
    };
    if let Some(code) = req.body_error {
        return (Reply::Code(code), None);
    }
    let cfg = state.config();
    let sub = match submission::parse_submission(&req.params, &submission::Checks::new(&cfg)) {
        Ok(s) => s,
        Err(code) => return (Reply::Code(code), None),
    };
    let submitted = state.submit(account, sub);
    state.submit_answered(account, submitted.as_ref().err().copied());
    match submitted {
        Ok(done) => {
            if let Some(job) = done.early {
                state.deliver_early(job).await;
            }
            (Reply::Submitted(done.id, cfg.task_id), Some(done.id))
        }
        Err(code) => (Reply::Code(code), None),
    }
}

async fn finish(
    state: &MockState,
    req: ApiRequest,
    endpoint: &'static str,
    reply: Reply,
    task_id: Option<u64>,
    drawn: Drawn,
) -> Response {
    let format = req.format();
    let acao = req.acao();
    let mut answer = reply.journal_text();
    if drawn.cut() {
        answer = faults::cut_text(&answer);
    }
    request::journal(
        state,
        req,
        endpoint,
        "method",
        answer,
        task_id,
        drawn.description(),
    );
    let resp = reply.into_http(format, acao, Style::of(&state.config()));
    if drawn.cut() {
        faults::truncate(resp).await
    } else {
        resp
    }
}
