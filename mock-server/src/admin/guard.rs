//! Who may use the admin API: with `admin.token` configured, every request needs
//! `Authorization: Bearer <token>` (from any address); without one, only loopback clients are
//! served.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header::AUTHORIZATION},
    middleware::Next,
    response::Response,
};

use super::error;
use crate::state::MockState;

/// Constant-time comparison of two byte strings (length leaks, content does not).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) async fn guard(State(state): State<MockState>, req: Request, next: Next) -> Response {
    let cfg = state.config();
    if let Some(token) = cfg.admin.token.as_deref() {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !ct_eq(given.as_bytes(), token.as_bytes()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "admin API: missing or wrong bearer token",
            );
        }
    } else if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && !addr.ip().is_loopback()
    {
        return error(
            StatusCode::FORBIDDEN,
            "admin API is only served to loopback clients unless admin.token is configured",
        );
    }
    next.run(req).await
}
