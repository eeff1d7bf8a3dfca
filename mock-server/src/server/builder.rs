//! [`MockServerBuilder`]: a [`Config`] set up by method calls, for tests. Everything it
//! sets is a key of the configuration file; [`MockServerBuilder::start`] checks the result
//! as a TOML file is checked, fault rules included.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{MockServer, StartError};
use crate::{
    config::{AccountConfig, BusyMode, Config},
    dist::Distribution,
    model::{Dialect, TaskIdEncoding, TaskKind},
    pingback::{faults::FaultRule, retry::RetryPolicy},
};

/// Builds a [`MockServer`]: start from the defaults (or a [`Config`]), change what the test
/// is about, then [`start`](MockServerBuilder::start). Each method names the configuration
/// key it sets.
///
/// ```
/// use std::time::Duration;
/// use captchaai_mock::{
///     BusyMode, Dialect, Distribution, DuplicateFault, Fault, FaultRule, MockServer, RetryPolicy,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = MockServer::builder()
///     .seed(42)
///     .dialect(Dialect::TwoCaptcha)
///     .key("0123456789abcdef0123456789abcdef")
///     .threads(2)
///     .busy_threads(BusyMode::Queue)
///     .solve_time(Distribution::Fixed(Duration::from_secs(3)))
///     .rule(
///         FaultRule::always(Fault::Duplicate(DuplicateFault {
///             copies: 1,
///             spacing: Duration::from_millis(500),
///             conflicting: true,
///         }))
///         .with_probability(0.3),
///     )
///     .retry(RetryPolicy::Fixed { interval: Duration::from_secs(5), attempts: 3 })
///     .start()
///     .await?;
/// assert_eq!(mock.keys().len(), 2); // the default test key and the new one
///
/// // Rules are checked as in a TOML file: two copies at most a hundred.
/// let too_many = FaultRule::always(Fault::Duplicate(DuplicateFault {
///     copies: 500,
///     spacing: Duration::from_secs(1),
///     conflicting: false,
/// }));
/// let err = MockServer::builder().rule(too_many).start().await.unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid configuration: pingback.rules[0]: duplicate.copies must be between 1 and 100, got 500"
/// );
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct MockServerBuilder {
    config: Config,
    keys: Vec<String>,
    threads: Option<u32>,
    bind: SocketAddr,
    tls_dir: Option<PathBuf>,
}

impl MockServerBuilder {
    pub(super) fn new() -> Self {
        MockServerBuilder {
            config: Config::default(),
            keys: Vec::new(),
            threads: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_dir: None,
        }
    }

    /// Starts from this configuration (from a TOML file, say: [`Config::from_toml`]);
    /// later calls change it.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// `seed`: every random decision (solve times, fates, answers, faults).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// `time-scale`: simulated seconds per real second (100 = everything 100 times
    /// shorter). Leave it at 1 under tokio's paused clock.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.config.time_scale = scale;
        self
    }

    /// `dialect`: CaptchaAI (default) or 2captcha behaviour.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.config.dialect = dialect;
        self
    }

    /// Accepts this API key too (exactly 32 characters), as the binary's `--key`: the keys
    /// configured so far (the default test key when none is) stay, first.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// `[[accounts]]`: an account exactly as configured (key, threads, balance). Configured
    /// accounts replace the default test key.
    pub fn account(mut self, account: AccountConfig) -> Self {
        self.config.accounts.push(account);
        self
    }

    /// `accounts.threads` of every account, the default test key's too, as the binary's
    /// `--threads`.
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = Some(threads);
        self
    }

    /// `busy-threads`: what `in.php` does when every thread is busy.
    pub fn busy_threads(mut self, mode: BusyMode) -> Self {
        self.config.busy_threads = mode;
        self
    }

    /// `task-id`: task ids in JSON answers as strings (default) or integers.
    pub fn task_id_encoding(mut self, encoding: TaskIdEncoding) -> Self {
        self.config.task_id = encoding;
        self
    }

    /// `first-task-id`: the first task id handed out (later ones count up).
    pub fn first_task_id(mut self, id: u64) -> Self {
        self.config.first_task_id = id;
        self
    }

    /// `solving.default-time`: the solve time of every kind not given its own.
    pub fn solve_time(mut self, time: Distribution) -> Self {
        self.config.solving.default_time = Some(time);
        self
    }

    /// `solving.times.<kind>`: one kind's solve time.
    pub fn solve_time_of(mut self, kind: TaskKind, time: Distribution) -> Self {
        self.config.solving.times.insert(kind, time);
        self
    }

    /// `solving.unsolvable-rate`: the share of tasks that end `ERROR_CAPTCHA_UNSOLVABLE`.
    pub fn unsolvable_rate(mut self, rate: f64) -> Self {
        self.config.solving.unsolvable_rate = rate;
        self
    }

    /// `[[pingback.rules]]`: one more fault rule, after those given so far (the first that
    /// applies to a task wins).
    pub fn rule(mut self, rule: FaultRule) -> Self {
        self.config.pingback.rules.push(rule);
        self
    }

    /// `pingback.retry`: the default retry policy of failed pingback attempts.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.pingback.retry = policy;
        self
    }

    /// `pingback.attempt-timeout`: how long one pingback attempt may take (simulated).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.config.pingback.attempt_timeout = timeout;
        self
    }

    /// `pingback.source-address`: the local address every pingback leaves from (the
    /// outgoing socket is bound to it), for receivers that trust callbacks from known
    /// addresses only. It must be an address of this machine (on Linux, any of 127.0.0.0/8).
    pub fn pingback_source(mut self, addr: std::net::IpAddr) -> Self {
        self.config.pingback.source_address = Some(addr);
        self
    }

    /// Serves HTTPS with a CA and leaf certificate generated at start, writing the CA
    /// certificate into `ca_dir` ([`MockServer::ca_path`]) for clients that must trust it.
    pub fn tls(mut self, ca_dir: impl AsRef<Path>) -> Self {
        self.tls_dir = Some(ca_dir.as_ref().to_owned());
        self
    }

    /// Listens here instead of `127.0.0.1:0` (a free loopback port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The configuration this builder describes (as [`MockServerBuilder::start`] will
    /// check and use it).
    pub fn to_config(&self) -> Config {
        let mut config = self.config.clone();
        for key in &self.keys {
            config.add_key(key);
        }
        if let Some(threads) = self.threads {
            config.set_threads(threads);
        }
        config
    }

    /// Checks the configuration (as a TOML file is checked, fault rules included) and
    /// starts the mock in the background of the current tokio runtime.
    pub async fn start(self) -> Result<MockServer, StartError> {
        let config = self.to_config();
        MockServer::launch(config, self.bind, self.tls_dir.as_deref()).await
    }
}
