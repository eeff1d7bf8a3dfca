//! The service's HTTP API: `in.php` (submit), `res.php` (results, balance, threads, reports,
//! pingback registration) and `solve.php` (submit and wait), answered as CaptchaAI answers.
//!
//! A request flows through these files in order:
//!
//! - [`request`] reads it: [`crate::params`] from all four encodings merged (the body within
//!   the endpoint's limit: [`body`]), the format asked for;
//! - [`faults`] draws its API fault (`[[api.rules]]`) and, for a page, a reset, a stall or
//!   another code, answers instead of the service;
//! - the state admits it (key, [`crate::limits`]) and does the work;
//! - [`in_php`] validates a submission ([`submission`], [`image_submission`], [`images`])
//!   and hands it to the state; [`res_php`] answers every action;
//! - [`wire`] renders the answer (`json=0` text or `json=1` JSON, always HTTP 200), and
//!   [`request`] journals request, answer and fault ([`faults`] delays or cuts the answer
//!   when its fault says so), and [`log`] writes the request log's line.

pub(crate) mod body;
pub(crate) mod faults;
pub(crate) mod image_submission;
pub(crate) mod images;
pub(crate) mod in_php;
pub(crate) mod log;
pub(crate) mod request;
pub(crate) mod res_php;
pub(crate) mod submission;
pub(crate) mod wire;

use axum::{Router, routing::any};

use crate::state::MockState;

/// The API routes: `/in.php`, `/res.php` and `/solve.php`.
///
/// The endpoints answer any method as PHP would (parameters from the query and the body),
/// except `OPTIONS`, a CORS preflight, and `HEAD`, a probe: neither creates a task.
pub(crate) fn routes() -> Router<MockState> {
    Router::new()
        .route("/in.php", endpoint(in_php::handle))
        .route("/res.php", endpoint(res_php::handle))
        .route("/solve.php", endpoint(in_php::handle_solve))
}

/// An API endpoint: `handler` for every method but `OPTIONS` and `HEAD`.
fn endpoint<H, T>(handler: H) -> axum::routing::MethodRouter<MockState>
where
    H: axum::handler::Handler<T, MockState>,
    T: 'static,
{
    any(handler).options(wire::preflight).head(wire::probe)
}
