//! The flags, and the settings they make once checked: every error is reported before
//! anything starts.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use captchaai_client::receiver::{
    DEFAULT_REDIS_KEY_PREFIX, ReceiverConfig, RedisConfig, StoreConfig,
};
use clap::{Parser, ValueEnum};
use ipnet::IpNet;

/// A CaptchaAI pingback receiver to run in front of your application: it acknowledges each
/// callback once it is stored (first result wins, duplicates and conflicts acknowledged and
/// ignored), and your application reads the results from it over HTTP.
///
/// Routes: the pingback endpoint (GET query or POST form; --path), GET /results/{id}
/// (200 with the code, 404 if none; ?wait=30s long-polls), POST /register/{id}, GET /healthz.
/// Run several replicas on one Redis (--store redis://...) behind a load balancer.
#[derive(Debug, Parser)]
#[command(name = "captchaai-receiver", version, about, long_about)]
pub(crate) struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the line printed at start says
    /// which).
    #[arg(
        long,
        env = "CAPTCHAAI_RECEIVER_BIND",
        default_value = "127.0.0.1:8000"
    )]
    bind: SocketAddr,
    /// Path of the pingback endpoint.
    #[arg(long, default_value = "/pingback")]
    path: String,
    /// Shared secret required in the callback URL's query (and by /results and /register).
    #[arg(long, env = "CAPTCHAAI_RECEIVER_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Query parameter carrying the secret.
    #[arg(long, default_value = "token")]
    secret_param: String,
    /// Network allowed to send callbacks, e.g. 203.0.113.0/24 (repeatable; none: any). The
    /// TCP peer is checked: behind a proxy, allow the proxy.
    #[arg(long = "allow", value_name = "CIDR")]
    allow: Vec<IpNet>,
    /// Accept callbacks only for task ids registered first (POST /register/{id}, or a wait).
    #[arg(long)]
    registered_only: bool,
    /// Where results live: `memory` (this process only) or a Redis URL
    /// (`redis://[:password@]host:port/db`) shared by every replica.
    #[arg(long, env = "CAPTCHAAI_RECEIVER_STORE", default_value = "memory")]
    store: String,
    /// Prefix of every Redis key and channel: receivers with different prefixes share a Redis
    /// without meeting.
    #[arg(long, env = "CAPTCHAAI_RECEIVER_KEY_PREFIX", default_value = DEFAULT_REDIS_KEY_PREFIX)]
    key_prefix: String,
    /// Bound of one call to Redis; a callback that cannot be stored within it is answered 503.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    redis_timeout: Duration,
    /// How long a result (or a registration) is kept after its last change.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// Most entries kept (results and registrations; across replicas with Redis). When full,
    /// results nobody registered go first, then the oldest entry nobody waits on.
    #[arg(long, default_value_t = 100_000)]
    capacity: usize,
    /// Longest `?wait=` of GET /results/{id} (longer ones are shortened to it).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    max_wait: Duration,
    /// Longest `code` accepted, in bytes.
    #[arg(long, default_value_t = 8 * 1024)]
    max_code_len: usize,
    /// Time a client has to send its request headers (slow or idle connections are closed).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// Time requests in flight get to finish at shutdown.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
    /// Runtime worker threads [default: one per CPU].
    #[arg(long)]
    workers: Option<usize>,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Where the store lives.
#[derive(Clone, Debug)]
pub(crate) enum StoreChoice {
    Memory,
    Redis(RedisConfig),
}

/// Everything the receiver needs to start, checked.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) bind: SocketAddr,
    pub(crate) receiver: ReceiverConfig,
    pub(crate) secret: Option<String>,
    pub(crate) secret_param: String,
    pub(crate) store: StoreChoice,
    pub(crate) limits: StoreConfig,
    pub(crate) max_wait: Duration,
    pub(crate) workers: Option<usize>,
}

impl Args {
    /// Checks the flags and builds the settings.
    pub(crate) fn settings(&self) -> anyhow::Result<Settings> {
        let mut receiver = ReceiverConfig::default()
            .with_path(&self.path)?
            .with_secret_param(&self.secret_param)?
            .allow_networks(self.allow.iter().copied())
            .registered_only(self.registered_only)
            .with_max_code_len(self.max_code_len)?
            .with_header_read_timeout(self.header_read_timeout)?
            .with_shutdown_grace(self.shutdown_grace);
        if let Some(secret) = &self.secret {
            receiver = receiver.with_secret(secret)?;
        }
        let store = match self.store.as_str() {
            "memory" => StoreChoice::Memory,
            url if url.starts_with("redis://") || url.starts_with("redis+unix://") => {
                let redis = RedisConfig::new(url)
                    .context("--store")?
                    .with_key_prefix(&self.key_prefix)
                    .context("--key-prefix")?
                    .with_timeout(self.redis_timeout);
                StoreChoice::Redis(redis)
            }
            other => bail!("--store: expected `memory` or a redis:// URL, got {other:?}"),
        };
        if self.ttl.is_zero() {
            bail!("--ttl must be longer than zero");
        }
        if self.capacity == 0 {
            bail!("--capacity must be at least 1");
        }
        if self.workers == Some(0) {
            bail!("--workers must be at least 1");
        }
        Ok(Settings {
            bind: self.bind,
            receiver,
            secret: self.secret.clone(),
            secret_param: self.secret_param.clone(),
            store,
            limits: StoreConfig {
                ttl: self.ttl,
                capacity: self.capacity,
                ..StoreConfig::default()
            },
            max_wait: self.max_wait,
            workers: self.workers,
        })
    }
}
