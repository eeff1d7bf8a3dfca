//! Serving: the HTTP app (the API routes and the admin API over one state), on a listener
//! the caller bound, until a cancellation token fires, then a graceful shutdown. Plain HTTP
//! through `axum::serve`; HTTPS through `axum-server` with the generated certificate.

use std::{net::SocketAddr, time::Duration};

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{admin, api, state::MockState, tls};

/// The application router: `/in.php`, `/res.php`, `/solve.php` and `/__admin/`.
pub(crate) fn app(state: MockState) -> Router {
    api::routes()
        .nest("/__admin", admin::router(state.clone()))
        .with_state(state)
}

/// Serves the mock on a bound listener until `shutdown` fires, then drains
/// in-flight requests (graceful shutdown).
pub(crate) async fn serve(
    listener: TcpListener,
    state: MockState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Serves the mock over HTTPS with the certificate and key of `tls` on a bound listener until
/// `shutdown` fires, then lets open connections finish for at most `grace`.
pub(crate) async fn serve_tls(
    listener: std::net::TcpListener,
    state: MockState,
    tls: &tls::Generated,
    shutdown: CancellationToken,
    grace: Duration,
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
    let handle = axum_server::Handle::new();
    let on_shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        on_shutdown.graceful_shutdown(Some(grace));
    });
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum_server::from_tcp_rustls(listener, rustls_config)?
        .handle(handle)
        .serve(app)
        .await
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

        // The same app seen from loopback needs nothing.
        let local = SocketAddr::from(([127, 0, 0, 1], 40_000));
        let (status, _) = admin_health(local, "", None).await;
        assert_eq!(status, StatusCode::OK);
    }
}
