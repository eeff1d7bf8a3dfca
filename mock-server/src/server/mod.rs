//! [`MockServer`]: a mock running in the background of the current tokio runtime, on a
//! loopback port of its own, stopped when dropped; its expectations are checked then.
//!
//! # Files
//!
//! - this file: starting, addressing, expectations, shutdown;
//! - [`builder`]: [`MockServerBuilder`], the settings a test usually changes;
//! - [`serve`]: the HTTP app and the serving loops (HTTP and HTTPS), shared with the binary;
//! - the plain-HTTP loop (connections, header read timeout, bounded shutdown) is the
//!   `captchaai-http-serve` crate, shared with the reference receiver.

mod builder;
pub(crate) mod serve;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use self::builder::MockServerBuilder;
use crate::{
    config::{Config, ConfigError},
    expect::{Expectation, ExpectationGuard, Unsatisfied, verify_all},
    inspect::MockHandle,
    state::MockState,
    tls,
};

/// How a mock embedded in a test serves: no header read timeout (under tokio's paused clock it
/// would close the client's pooled connections whenever simulated time jumps), and a grace of
/// 2 s for requests in flight at shutdown.
const LIBRARY_LIMITS: serve::Limits = serve::Limits {
    header_read_timeout: None,
    shutdown_grace: Duration::from_secs(2),
};

/// Why a mock could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration has a value out of range (checked as a TOML file is).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// Binding the port failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Generating or writing the TLS certificates failed.
    #[error("{0}")]
    Tls(String),
}

/// A mock running in the background of the current tokio runtime, on `127.0.0.1` and a port
/// of its own. It stops when dropped, and then checks the [`Expectation`]s given to
/// [`MockServer::expect`] (panicking, unless the thread already panics, with what did
/// happen).
///
/// Inspection and control ([`MockHandle`]: tasks, pingbacks, the journal, forcing results)
/// are available on the server itself (it dereferences to its handle) and through
/// [`MockServer::handle`], a cheap clone to hand to other tasks.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = captchaai_mock::MockServer::start().await?;
/// let url = format!("{}/res.php?key={}&action=getbalance", mock.uri(), mock.key());
/// let http = reqwest::Client::builder().no_proxy().build()?;
/// assert_eq!(http.get(url).send().await?.text().await?, "10");
/// assert_eq!(mock.journal().count(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    scheme: &'static str,
    ca_path: Option<PathBuf>,
    handle: MockHandle,
    cancel: CancellationToken,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    expectations: Arc<Mutex<Vec<Expectation>>>,
}

impl MockServer {
    /// Starts a mock with the default configuration: seed 1, the default test key
    /// ([`crate::DEFAULT_KEY`]), realistic solve times, no faults.
    pub async fn start() -> Result<MockServer, StartError> {
        MockServer::builder().start().await
    }

    /// Starts a mock with a configuration (validated first, as a TOML file is).
    pub async fn start_with(config: Config) -> Result<MockServer, StartError> {
        MockServer::builder().config(config).start().await
    }

    /// A builder for the settings a test usually changes; see [`MockServerBuilder`].
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::new()
    }

    /// Starts the server a builder describes.
    async fn launch(
        config: Config,
        bind: SocketAddr,
        tls_dir: Option<&Path>,
    ) -> Result<MockServer, StartError> {
        config.validate()?;
        let bind_error = |source| StartError::Bind { addr: bind, source };
        let cancel = CancellationToken::new();
        let state = MockState::new(config, cancel.child_token());
        let (addr, scheme, ca_path, server) = match tls_dir {
            None => {
                let listener = TcpListener::bind(bind).await.map_err(bind_error)?;
                let addr = listener.local_addr().map_err(bind_error)?;
                let server = tokio::spawn(serve::serve(
                    listener,
                    state.clone(),
                    cancel.clone(),
                    LIBRARY_LIMITS,
                ));
                (addr, "http", None, server)
            }
            Some(dir) => {
                let tls_error = |e: tls::TlsError| StartError::Tls(e.to_string());
                let generated = tls::generate().map_err(tls_error)?;
                let ca_path = tls::write_ca(&generated, dir).map_err(tls_error)?;
                let listener = std::net::TcpListener::bind(bind).map_err(bind_error)?;
                let addr = listener.local_addr().map_err(bind_error)?;
                let server = tokio::spawn({
                    let (state, cancel) = (state.clone(), cancel.clone());
                    async move {
                        serve::serve_tls(listener, state, &generated, cancel, LIBRARY_LIMITS).await
                    }
                });
                (addr, "https", Some(ca_path), server)
            }
        };
        Ok(MockServer {
            addr,
            scheme,
            ca_path,
            handle: MockHandle::new(state),
            cancel,
            server: Some(server),
            expectations: Arc::default(),
        })
    }

    /// `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub fn uri(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The CA certificate to trust, for a TLS mock.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle on the mock for inspection and control, cheap to clone and to move into
    /// other tasks; it outlives the server (reading what happened after a shutdown).
    pub fn handle(&self) -> MockHandle {
        self.handle.clone()
    }

    /// Adds an expectation, checked when the server drops (or by [`MockServer::verify`]).
    ///
    /// ```should_panic
    /// use captchaai_mock::{Expectation, MockServer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mock = MockServer::start().await.unwrap();
    /// mock.expect(Expectation::submits().times(1).named("one submit"));
    /// // No submit arrives: the drop at the end panics with
    /// // "`one submit`: expected 1 request to in.php, saw none".
    /// # }
    /// ```
    pub fn expect(&self, expectation: Expectation) {
        self.expectations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(expectation);
    }

    /// An expectation checked when the returned guard drops (or by
    /// [`ExpectationGuard::verify`] and [`ExpectationGuard::wait_until_satisfied`]), for a
    /// part of a test.
    pub fn expect_scoped(&self, expectation: Expectation) -> ExpectationGuard {
        ExpectationGuard::new(self.handle.clone(), expectation)
    }

    /// Checks every expectation given to [`MockServer::expect`] now; the unmet ones are the
    /// error, with what did happen.
    pub fn check(&self) -> Result<(), Unsatisfied> {
        let expectations = self.expectations.lock().unwrap_or_else(|p| p.into_inner());
        verify_all(&self.handle, &expectations)
    }

    /// As [`MockServer::check`], panicking with the message when an expectation is unmet.
    pub fn verify(&self) {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
    }

    /// Stops the server and waits (at most 5 s) for it to finish; the expectations are
    /// checked as on drop.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(h) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
        }
    }
}

/// Inspection and control ([`MockHandle`]'s methods) on the server itself.
impl std::ops::Deref for MockServer {
    type Target = MockHandle;

    fn deref(&self) -> &MockHandle {
        &self.handle
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Err(e) = self.check() {
            if std::thread::panicking() {
                tracing::warn!("{e}");
            } else {
                panic!("{e}");
            }
        }
    }
}
