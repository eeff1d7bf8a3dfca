//! Who may use the admin API.
//!
//! - With `admin.token` configured, every request needs `Authorization: Bearer <token>`
//!   (compared in constant time), or the cookie a browser gets by signing in ([`login`]),
//!   from any address. An empty token is refused when the
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
//! - Without a token, loopback proves nothing about a browser on this machine: a page from
//!   any site it has open is a loopback client too. So a request that a browser made for
//!   another site is refused: an `Origin` other than the mock's own (a cross-site `fetch` or
//!   form POST), or a `Host` that is not a loopback name or address (DNS rebinding: a name
//!   of the attacker's that resolves to 127.0.0.1). The dashboard, curl and test clients send
//!   neither. With a token, the token is the proof; a browser signs in once and then sends
//!   it as a cookie, which is refused on a request from another site ([`login`]).
//!
//! Peer addresses are canonical (`::ffff:127.0.0.1` is `127.0.0.1`): a dual-stack listener
//! sees IPv4 clients as v4-mapped IPv6 addresses.

use std::net::{IpAddr, SocketAddr};

use super::{error, login};
use crate::state::MockState;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{
        HeaderMap, StatusCode,
        header::{HOST, ORIGIN},
    },
    middleware::Next,
    response::Response,
};

/// Whether an address is on the loopback interface (v4-mapped ones included).
pub(crate) fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

pub(super) async fn guard(State(state): State<MockState>, req: Request, next: Next) -> Response {
    let cfg = state.config();
    if let Some(token) = cfg.admin.token.as_deref() {
        match login::credential(req.headers(), token) {
            login::Credential::Bearer => return next.run(req).await,
            // A browser's cookie: never on another site's behalf.
            login::Credential::Cookie => {
                if let Some(why) = from_another_origin(req.headers()) {
                    return error(StatusCode::FORBIDDEN, why);
                }
                return next.run(req).await;
            }
            login::Credential::None if login::wants_a_page(&req) => return login::form(false),
            login::Credential::None => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "admin API: missing or wrong bearer token",
                );
            }
        }
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
    if let Some(why) = from_another_site(req.headers()) {
        return error(StatusCode::FORBIDDEN, why);
    }
    next.run(req).await
}

/// Why a request looks like a browser's on behalf of another site (see the module's docs).
fn from_another_site(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    if let Some(host) = host
        && !is_loopback_host(host)
    {
        return Some(format!(
            "admin API: Host {host:?} is not a loopback name or address (a name that resolves \
             to this machine is not enough without admin.token)"
        ));
    }
    from_another_origin(headers)
}

/// Why a request carries the `Origin` of another site than the mock's own (its `Host`).
fn from_another_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(ORIGIN)?;
    let same = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| Some(authority) == host);
    (!same)
        .then(|| format!("admin API: a request from another site (Origin {origin:?}) is refused"))
}

/// `localhost`, `*.localhost`, or a loopback address, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "127.0.0.1:8080",
            "127.9.9.9",
            "localhost:1",
            "LOCALHOST",
            "a.localhost:2",
            "[::1]:3",
            "[::ffff:127.0.0.1]:4",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:80",
            "[::2]:3",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
