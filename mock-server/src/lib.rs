//! A faithful, stateful, seeded mock of the CaptchaAI API (`in.php` /
//! `res.php`, 2captcha-compatible) that solves tasks with realistic delays,
//! answers and errors, and sends pingbacks with faults you control.
//!
//! Use it embedded in Rust tests:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let mock = captchaai_mock::MockServer::start().await?;
//! let url = format!("{}/res.php?key={}&action=getbalance", mock.uri(), mock.key());
//! // ... point your client at mock.uri(); the server stops when `mock` drops.
//! # Ok(()) }
//! ```
//!
//! or standalone as the `captchaai-mock` binary.
//!
//! # Layout
//!
//! - [`config`]: the configuration (TOML, flags, embedded), validated.
//! - [`clock`]: the clock seam (paused tokio clock or a time scale).
//! - [`seed`]: seeded random streams, one per purpose and task.
//! - [`dist`]: duration distributions (fixed, uniform, normal, log-normal).
//! - [`params`], [`request`]: request parameters from all four encodings.
//! - [`methods`]: the method catalogue and input validation.
//! - [`answers`]: deterministic, realistically shaped answers.
//! - [`state`]: accounts, threads, tasks and their lifecycle.
//! - [`in_php`], [`res_php`]: the two API endpoints.
//! - [`wire`]: answer codes and the plain/JSON response formats.
//! - [`pingback`]: fault rules, schedules and the dispatcher.
//! - [`journal`]: bounded journals of inbound requests and outbound attempts.
//! - [`admin`]: the `/__admin/` API.
//! - [`tls`]: the generated CA and leaf certificate for `--tls`.

pub mod admin;
pub mod answers;
pub mod clock;
pub mod config;
pub mod dist;
pub mod in_php;
pub mod journal;
pub mod limits;
pub mod methods;
pub mod params;
pub mod pingback;
pub mod request;
pub mod res_php;
pub mod seed;
pub mod state;
pub mod tls;
pub mod wire;

use std::{net::SocketAddr, time::Duration};

use axum::{Router, routing::any};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, DEFAULT_KEY};
pub use state::MockState;

/// The application router: `/in.php`, `/res.php`, `/solve.php` and `/__admin/`.
///
/// The API endpoints answer any method as PHP would (parameters from the query and the
/// body), except `OPTIONS`, a CORS preflight, and `HEAD`, a probe: neither creates a task.
pub fn app(state: MockState) -> Router {
    Router::new()
        .route("/in.php", api(in_php::handle))
        .route("/res.php", api(res_php::handle))
        .route("/solve.php", api(in_php::handle_solve))
        .nest("/__admin", admin::router(state.clone()))
        .with_state(state)
}

/// An API endpoint: `handler` for every method but `OPTIONS` and `HEAD`.
fn api<H, T>(handler: H) -> axum::routing::MethodRouter<MockState>
where
    H: axum::handler::Handler<T, MockState>,
    T: 'static,
{
    any(handler).options(wire::preflight).head(wire::probe)
}

/// Serves the mock on a bound listener until `shutdown` fires, then drains
/// in-flight requests (graceful shutdown).
pub async fn serve(
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
pub async fn serve_tls(
    listener: std::net::TcpListener,
    state: MockState,
    tls: &tls::Generated,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    // The process-wide provider (see dependencies.md); a second install is a no-op.
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

/// A mock running in the background of the current tokio runtime, on a random
/// loopback port. It shuts down when dropped.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    scheme: &'static str,
    ca_path: Option<std::path::PathBuf>,
    state: MockState,
    cancel: CancellationToken,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl MockServer {
    /// Starts a mock with the default configuration.
    pub async fn start() -> std::io::Result<MockServer> {
        MockServer::start_with(Config::default()).await
    }

    /// Starts a mock with a configuration (validated first).
    pub async fn start_with(config: Config) -> std::io::Result<MockServer> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let state = MockState::new(config, cancel.child_token());
        let server = tokio::spawn(serve(listener, state.clone(), cancel.clone()));
        Ok(MockServer {
            addr,
            scheme: "http",
            ca_path: None,
            state,
            cancel,
            server: Some(server),
        })
    }

    /// Starts a mock serving HTTPS with a CA and leaf generated now; the CA
    /// certificate is written into `ca_dir` ([`MockServer::ca_path`]) for
    /// clients that must trust it.
    pub async fn start_tls(
        config: Config,
        ca_dir: &std::path::Path,
    ) -> std::io::Result<MockServer> {
        let io_err = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let generated = tls::generate().map_err(|e| io_err(&e))?;
        let ca_path = tls::write_ca(&generated, ca_dir).map_err(|e| io_err(&e))?;
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let state = MockState::new(config, cancel.child_token());
        let server = tokio::spawn({
            let (state, cancel) = (state.clone(), cancel.clone());
            async move { serve_tls(listener, state, &generated, cancel, Duration::from_secs(2)).await }
        });
        Ok(MockServer {
            addr,
            scheme: "https",
            ca_path: Some(ca_path),
            state,
            cancel,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` for [`MockServer::start_tls`]).
    pub fn uri(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The CA certificate to trust, for a TLS mock.
    pub fn ca_path(&self) -> Option<&std::path::Path> {
        self.ca_path.as_deref()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first API key (the default test key unless configured otherwise).
    pub fn key(&self) -> String {
        self.state.keys().into_iter().next().unwrap_or_default()
    }

    /// The mock's state, for inspection and control from the test.
    pub fn state(&self) -> &MockState {
        &self.state
    }

    /// Stops the server and waits (at most 5 s) for it to finish.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(h) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
