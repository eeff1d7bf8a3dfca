//! The pingback receiver: an axum [`Router`] for the callback endpoint, in front of a
//! [`ResultStore`].
//!
//! The service calls the pingback URL given at submit with `id=<task id>&code=<answer>`:
//! CaptchaAI by GET query, 2captcha by urlencoded POST. The receiver accepts both, and:
//!
//! - answers `200 OK` to a valid callback, including an identical or conflicting duplicate
//!   (acknowledged so the sender stops retrying; the first result is kept);
//! - answers 4xx, **without touching the store**, to a malformed callback: no or non-numeric
//!   `id` (400), no or empty `code` (400), `code` over the configured maximum (400), a body
//!   that is too large (413) or not urlencoded (415), another HTTP method (405);
//! - optionally checks a shared secret carried in the callback URL's query (default parameter
//!   name `token`), compared in constant time (403 when missing or wrong);
//! - optionally enforces an allow-list of source networks using axum's
//!   [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo): the application **must** serve
//!   the router with `into_make_service_with_connect_info::<SocketAddr>()`, otherwise every
//!   callback is refused with 403 (fail closed). The source is the TCP peer: behind a reverse
//!   proxy, allow the proxy's address (forwarding headers are not trusted);
//! - optionally accepts callbacks for registered tasks only (404 for others).
//!
//! Every refusal is published as [`StoreEvent::Rejected`].
//!
//! [`Receiver::serve`] runs the router on a listener with the limits a public endpoint needs
//! (a header read timeout against slow senders, a bounded shutdown grace period: the
//! `captchaai-http-serve` crate, the serving loop the mock uses too); an application that mounts [`Receiver::router`] in its own server sets those itself.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Receiver`], [`ReceiverConfig`] |
//! | `handler.rs` | the callback handler: source, secret, body, parameters, registration |
//! | `reject.rs` | [`RejectReason`] and its HTTP status |
//! //! | `store/` | [`ResultStore`] |

mod handler;
mod reject;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use reject::RejectReason;
#[cfg(feature = "redis")]
pub use store::{DEFAULT_REDIS_KEY_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisConfig};
pub use store::{
    Recorded, ResultSource, ResultStore, StoreConfig, StoreEvent, StoreStats, TaskResult,
};

use crate::error::Error;

/// Default path of the endpoint.
pub const DEFAULT_PATH: &str = "/pingback";
/// Default name of the query parameter carrying the shared secret.
pub const DEFAULT_SECRET_PARAM: &str = "token";
/// Default maximum length of `code`, in bytes.
pub const DEFAULT_MAX_CODE_LEN: usize = 8 * 1024;
/// Default time a client has to send a request's headers to [`Receiver::serve`] (which is
/// also how long an idle keep-alive connection stays open).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time [`Receiver::serve`] gives open connections to finish after shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings of a [`Receiver`].
///
/// ```
/// use captchaai_client::receiver::ReceiverConfig;
///
/// let config = ReceiverConfig::default()
///     .with_path("/hooks/captcha")?
///     .with_secret("s3cret")?
///     .allow_network("10.0.0.0/8".parse().unwrap())
///     .registered_only(true);
/// assert_eq!(
///     config.callback_url("https://my.app")?,
///     "https://my.app/hooks/captcha?token=s3cret"
/// );
/// # Ok::<(), captchaai_client::Error>(())
/// ```
#[derive(Clone)]
pub struct ReceiverConfig {
    path: String,
    secret: Option<String>,
    secret_param: String,
    allow: Vec<IpNet>,
    registered_only: bool,
    max_code_len: usize,
    header_read_timeout: Duration,
    shutdown_grace: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            path: DEFAULT_PATH.to_owned(),
            secret: None,
            secret_param: DEFAULT_SECRET_PARAM.to_owned(),
            allow: Vec::new(),
            registered_only: false,
            max_code_len: DEFAULT_MAX_CODE_LEN,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl fmt::Debug for ReceiverConfig {
    /// The secret is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("path", &self.path)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("secret_param", &self.secret_param)
            .field("allow", &self.allow)
            .field("registered_only", &self.registered_only)
            .field("max_code_len", &self.max_code_len)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

impl ReceiverConfig {
    /// The path the router serves (default `/pingback`): it must start with `/` and use only
    /// letters, digits and `/ - _ . ~`.
    pub fn with_path(mut self, path: impl Into<String>) -> Result<Self, Error> {
        let path = path.into();
        let valid = path.starts_with('/')
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~'))
            && !path.contains("//");
        if !valid {
            return Err(Error::bad_input(format!(
                "invalid receiver path {path:?}: start with '/', use letters, digits, / - _ . ~"
            )));
        }
        self.path = path;
        Ok(self)
    }

    /// Requires this shared secret in the callback URL's query (non-empty).
    pub fn with_secret(mut self, secret: impl Into<String>) -> Result<Self, Error> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(Error::bad_input("receiver secret must not be empty"));
        }
        self.secret = Some(secret);
        Ok(self)
    }

    /// The query parameter carrying the secret (default `token`); must not be `id` or `code`.
    pub fn with_secret_param(mut self, name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        if name.is_empty() || name == "id" || name == "code" {
            return Err(Error::bad_input(format!(
                "invalid secret parameter name {name:?}"
            )));
        }
        self.secret_param = name;
        Ok(self)
    }

    /// Adds a network to the allow-list (an empty list allows every source).
    pub fn allow_network(mut self, network: IpNet) -> Self {
        self.allow.push(network);
        self
    }

    /// Adds networks to the allow-list.
    pub fn allow_networks(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.allow.extend(networks);
        self
    }

    /// Accepts callbacks only for registered task ids (404 otherwise). Off by default: an
    /// early callback (before the submitter registered the id) is then kept instead.
    pub fn registered_only(mut self, on: bool) -> Self {
        self.registered_only = on;
        self
    }

    /// Maximum length of `code` in bytes (default 8 KiB, at least 1).
    pub fn with_max_code_len(mut self, max: usize) -> Result<Self, Error> {
        if max == 0 {
            return Err(Error::bad_input("max code length must be at least 1"));
        }
        self.max_code_len = max;
        Ok(self)
    }

    /// How long [`Receiver::serve`] waits for a request's headers (default 10 s, more than
    /// zero). A connection that has not sent complete headers by then is closed: a slow or
    /// stalled sender (slowloris) cannot hold it, and neither can an idle keep-alive
    /// connection.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Result<Self, Error> {
        if timeout.is_zero() {
            return Err(Error::bad_input(
                "header read timeout must be more than zero",
            ));
        }
        self.header_read_timeout = timeout;
        Ok(self)
    }

    /// How long [`Receiver::serve`] lets open connections finish after shutdown (default
    /// 5 s); then it closes them, whatever they are doing, and returns.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The header read timeout of [`Receiver::serve`].
    pub fn header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }

    /// The shutdown grace period of [`Receiver::serve`].
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// The path served.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The allow-list.
    pub fn allowed_networks(&self) -> &[IpNet] {
        &self.allow
    }

    /// The maximum length of `code`.
    pub fn max_code_len(&self) -> usize {
        self.max_code_len
    }

    /// Whether only registered tasks are accepted.
    pub fn is_registered_only(&self) -> bool {
        self.registered_only
    }

    /// The pingback URL to give the service: `base` (scheme, host, port, optional prefix)
    /// plus the path, plus the secret in the query when one is set.
    pub fn callback_url(&self, base: &str) -> Result<String, Error> {
        let mut url = reqwest::Url::parse(base).map_err(|e| {
            Error::bad_input(format!("invalid callback base url {base:?}")).with_source(e)
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::bad_input(
                "callback base url must be http(s) with a host",
            ));
        }
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{}", self.path));
        url.set_query(None);
        url.set_fragment(None);
        if let Some(secret) = &self.secret {
            url.query_pairs_mut()
                .append_pair(&self.secret_param, secret);
        }
        Ok(url.into())
    }
}

/// The pingback receiver.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::net::SocketAddr;
/// use captchaai_client::receiver::{Receiver, ReceiverConfig, ResultStore};
///
/// let store = ResultStore::new();
/// let receiver = Receiver::new(ReceiverConfig::default(), store.clone());
/// // Mount it in your own app; ConnectInfo is needed when an allow-list is set.
/// let app = axum::Router::new().merge(receiver.router());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Receiver {
    shared: Arc<handler::Shared>,
}

impl Receiver {
    /// A receiver writing into `store`.
    pub fn new(config: ReceiverConfig, store: ResultStore) -> Self {
        Receiver {
            shared: Arc::new(handler::Shared { config, store }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ReceiverConfig {
        &self.shared.config
    }

    /// The store results go to.
    pub fn store(&self) -> &ResultStore {
        &self.shared.store
    }

    /// The router serving the endpoint at the configured path (GET and POST; other methods
    /// get 405). Merge or nest it into your app.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                &self.shared.config.path,
                axum::routing::any(handler::handle),
            )
            .with_state(Arc::clone(&self.shared))
    }

    /// Serves the router on `listener` until `shutdown` is cancelled, with each request's
    /// peer address as [`ConnectInfo`](axum::extract::ConnectInfo) (what the allow-list
    /// checks). A connection that does not send complete request headers within the
    /// [header read timeout](ReceiverConfig::with_header_read_timeout) is closed. On
    /// shutdown, in-flight callbacks get the [grace period](ReceiverConfig::with_shutdown_grace)
    /// to finish; connections still open after it (a request whose body never arrives) are
    /// closed, and `serve` returns.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        self.serve_with(Router::new(), listener, shutdown).await
    }

    /// As [`Receiver::serve`], with more routes of the application beside the endpoint
    /// (merged into [`Receiver::router`]; they get the same timeouts and shutdown).
    pub async fn serve_with(
        &self,
        routes: Router,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let config = &self.shared.config;
        let limits = captchaai_http_serve::Limits {
            header_read_timeout: Some(config.header_read_timeout),
            shutdown_grace: config.shutdown_grace,
        };
        captchaai_http_serve::serve(self.router().merge(routes), listener, shutdown, limits).await
    }
}
