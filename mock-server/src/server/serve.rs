//! Serving: the HTTP app (the API routes and the admin API over one state), on a listener
//! the caller bound, until a cancellation token fires, then a graceful shutdown bounded by a
//! grace period. Plain HTTP through `captchaai-http-serve` (header read timeout, bounded grace);
//! HTTPS through `axum-server` with the generated certificate (the same limits, its TLS
//! handshake bounded by 10 s).

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::Request,
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{admin, api, pingback::dispatcher::PINGBACK_MARKER, state::MockState, tls};
pub(crate) use captchaai_http_serve::Limits;

/// The application router: `/in.php`, `/res.php`, `/solve.php`, `/__admin/` and `/` (a page
/// that links to the dashboard), none of which answers the mock's own pingbacks.
pub(crate) fn app(state: MockState) -> Router {
    api::routes()
        .route("/", axum::routing::get(admin::landing))
        .nest("/__admin", admin::router(state.clone()))
        .merge(admin::dashboard_page(state.clone()))
        .with_state(state)
        .layer(middleware::from_fn(refuse_own_pingbacks))
}

/// A request carrying the pingback marker is one of the mock's own callbacks that reached it
/// under a name or address it could not recognise as its own (the dispatcher blocks the ones
/// it recognises): refused on every route, so a pingback can neither steer the admin API nor
/// make the mock submit to itself.
async fn refuse_own_pingbacks(req: Request, next: Next) -> Response {
    if req.headers().contains_key(PINGBACK_MARKER) {
        return (
            StatusCode::FORBIDDEN,
            "captchaai-mock does not accept its own pingbacks",
        )
            .into_response();
    }
    next.run(req).await
}

/// Serves the mock on a bound listener until `shutdown` fires, then lets requests in flight
/// finish for at most the grace period.
pub(crate) async fn serve(
    listener: TcpListener,
    state: MockState,
    shutdown: CancellationToken,
    limits: Limits,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        state.set_listening(addr);
    }
    captchaai_http_serve::serve(app(state), listener, shutdown, limits).await
}

/// Serves the mock over HTTPS with the certificate and key of `tls` on a bound listener until
/// `shutdown` fires, then lets open connections finish for at most the grace period.
pub(crate) async fn serve_tls(
    listener: std::net::TcpListener,
    state: MockState,
    tls: &tls::Generated,
    shutdown: CancellationToken,
    limits: Limits,
) -> std::io::Result<()> {
    // The process-wide provider (rcgen and rustls must agree on one); a second install is a
    // no-op.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rustls_config = axum_server::tls_rustls::RustlsConfig::from_pem(
        tls.chain_pem.clone().into_bytes(),
        tls.key_pem.clone().into_bytes(),
    )
    .await?;
    listener.set_nonblocking(true)?;
    if let Ok(addr) = listener.local_addr() {
        state.set_listening(addr);
    }
    let handle = axum_server::Handle::new();
    let on_shutdown = handle.clone();
    let grace: Duration = limits.shutdown_grace;
    tokio::spawn(async move {
        shutdown.cancelled().await;
        on_shutdown.graceful_shutdown(Some(grace));
    });
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut server = axum_server::from_tcp_rustls(listener, rustls_config)?.handle(handle);
    if let Some(timeout) = limits.header_read_timeout {
        server
            .http_builder()
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(timeout);
    }
    server.serve(app).await
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::{
        body::Body,
        extract::ConnectInfo,
        http::{Request, StatusCode},
    };
    use tower::ServiceExt as _;

    use super::app;
    use crate::{Config, state::MockState};

    /// The app as `oneshot` sees it, every request appearing to come from `peer`: no
    /// socket, so any address can be tried.
    async fn admin_health(
        peer: SocketAddr,
        toml: &str,
        token: Option<&str>,
    ) -> (StatusCode, String) {
        let state = MockState::new(
            Config::from_toml(toml).expect("config"),
            tokio_util::sync::CancellationToken::new(),
        );
        let mut req = Request::get("/__admin/health");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut req = req.body(Body::empty()).expect("request");
        req.extensions_mut().insert(ConnectInfo(peer));
        let resp = app(state).oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn balance(peer: SocketAddr) -> String {
        let state = MockState::new(
            Config::default(),
            tokio_util::sync::CancellationToken::new(),
        );
        let uri = format!("/res.php?key={}&action=getbalance", crate::DEFAULT_KEY);
        let mut req = Request::get(uri).body(Body::empty()).expect("request");
        req.extensions_mut().insert(ConnectInfo(peer));
        let resp = app(state).oneshot(req).await.expect("infallible");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn the_mocks_own_pingbacks_are_refused_everywhere() {
        let state = MockState::new(
            Config::default(),
            tokio_util::sync::CancellationToken::new(),
        );
        for path in ["/__admin/reset", "/in.php", "/res.php?action=getbalance"] {
            let mut req = Request::post(path)
                .header(crate::pingback::dispatcher::PINGBACK_MARKER, "1")
                .body(Body::empty())
                .expect("request");
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
            let resp = app(state.clone()).oneshot(req).await.expect("infallible");
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        }
    }

    #[tokio::test]
    async fn off_loopback_without_a_token_the_admin_api_is_closed() {
        let state = MockState::new(
            Config::default(),
            tokio_util::sync::CancellationToken::new(),
        );
        state.set_listening(SocketAddr::from(([0, 0, 0, 0], 8080)));
        let mut req = Request::get("/__admin/health")
            .body(Body::empty())
            .expect("request");
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        let resp = app(state).oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn remote_clients_need_a_token() {
        let remote = SocketAddr::from(([203, 0, 113, 7], 40_000));
        let (status, body) = admin_health(remote, "", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("loopback"), "{body}");
        assert_eq!(balance(remote).await, "10", "the API serves remote clients");

        let with_token = "[admin]\ntoken = \"t0k\"\n";
        let (status, _) = admin_health(remote, with_token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = admin_health(remote, with_token, Some("t0k")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"status\":\"ok\""), "{body}");

        // The same app seen from loopback needs nothing, v4-mapped or not.
        let local = SocketAddr::from(([127, 0, 0, 1], 40_000));
        let (status, _) = admin_health(local, "", None).await;
        assert_eq!(status, StatusCode::OK);
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().expect("an address");
        let (status, _) = admin_health(mapped, "", None).await;
        assert_eq!(status, StatusCode::OK);
    }
}
