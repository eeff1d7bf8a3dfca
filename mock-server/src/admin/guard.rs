//! Who may use the admin API.
//!
//! - With `admin.token` configured, every request needs `Authorization: Bearer <token>`
//!   (compared in constant time), from any address. An empty token is refused when the
//!   configuration is validated: it would match a missing header.
//! - Without a token, the mock must listen on loopback only (`127.0.0.1`, `::1`, or
//!   `::ffff:127.0.0.1`), and then only loopback clients are served. Listening on any other
//!   address (`0.0.0.0`, `[::]`, a LAN address) without a token, the admin API answers 403 to
//!   everyone, loopback included: the mock's own pingbacks leave from loopback, and so does
//!   anything else on the machine that a remote user can make send requests, so a loopback
//!   peer proves nothing there. The API itself keeps serving everyone.
//! - Whatever the token, a request that carries the pingback marker (`PINGBACK_MARKER`, which
//!   every callback the mock sends carries) is refused: the mock's pingbacks never reach its
//!   admin API, whatever name or address they took to get here (`server::serve` refuses them
//!   on every route).
//!
//! Peer addresses are canonical (`::ffff:127.0.0.1` is `127.0.0.1`): a dual-stack listener
//! sees IPv4 clients as v4-mapped IPv6 addresses.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header::AUTHORIZATION},
    middleware::Next,
    response::Response,
};
use subtle::ConstantTimeEq as _;

use super::error;
use crate::state::MockState;

/// Whether an address is on the loopback interface (v4-mapped ones included).
pub(crate) fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

pub(super) async fn guard(State(state): State<MockState>, req: Request, next: Next) -> Response {
    let cfg = state.config();
    if let Some(token) = cfg.admin.token.as_deref() {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Length leaks, content does not. `validate` refuses an empty token, and a missing
        // header never matches.
        let matches = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.as_bytes())));
        if !matches {
            return error(
                StatusCode::UNAUTHORIZED,
                "admin API: missing or wrong bearer token",
            );
        }
        return next.run(req).await;
    }
    if let Some(listening) = state.listening()
        && !is_loopback(listening)
    {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "the admin API is closed: the mock listens on {listening}, off loopback, and \
                 admin.token (--admin-token) is not set; set one and send \
                 `Authorization: Bearer <token>`"
            ),
        );
    }
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && !is_loopback(*peer)
    {
        return error(
            StatusCode::FORBIDDEN,
            "admin API is only served to loopback clients unless admin.token is configured",
        );
    }
    next.run(req).await
}
