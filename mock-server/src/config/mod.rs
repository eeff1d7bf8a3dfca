//! The mock's configuration: TOML file, flags and embedded use share one type.
//!
//! The file's syntax, with an example, is documented on [`Config`]; the fault-rule syntax,
//! once, on [`FaultRule`].
//!
//! # Files
//!
//! - this file: the types, mirroring the TOML file (kebab-case keys, humantime durations),
//!   and their defaults;
//! - [`dialect_choices`]: what follows the dialect unless configured, where the services'
//!   sources disagree (`[answers]`, `[images]`);
//! - [`validate`]: value ranges, checked before anything starts, and parsing with errors
//!   that point at the line and column of the offending value;
//! - [`toml_span`]: finding a value's position in a TOML document (also for tools that embed
//!   this syntax in their own files: the conformance harness's scenarios).

mod dialect_choices;
mod toml_span;
mod validate;

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::{
    dialect_choices::{
        AnswersConfig, DimensionCode, ImageConfig, SiteKeyCodes, StructuredJson, StructuredText,
    },
    toml_span::TomlLocator,
    validate::ConfigError,
};
use crate::{
    api_faults::{ApiFault, ApiFaultRule, ApiRuleMatch, PageBody},
    dist::Distribution,
    limits::RateLimitConfig,
    model::{Dialect, TaskIdEncoding, TaskKind},
    pingback::{dispatcher::Settings, faults::FaultRule, retry::RetryPolicy},
};

/// The first task id a default mock hands out.
pub const DEFAULT_FIRST_TASK_ID: u64 = 74_000_000_001;

/// The default test key printed at start-up (exactly 32 characters).
pub const DEFAULT_KEY: &str = "captchaai-mock-test-key-00000001";

/// What `in.php` does when every thread of the account is busy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BusyMode {
    /// Answer `ERROR_ZERO_BALANCE` (CaptchaAI docs and SDK).
    #[default]
    ZeroBalance,
    /// Answer `ERROR_NO_SLOT_AVAILABLE` (CaptchaAI blog, 2captcha).
    NoSlot,
    /// Accept the task and start it when a thread frees (a comment in the SDK).
    Queue,
}

/// One API key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AccountConfig {
    /// The key, exactly 32 characters.
    pub key: String,
    /// Concurrent threads of the plan; 0 = no active plan.
    #[serde(default = "default_threads")]
    pub threads: u32,
    /// Balance in USD (charged in the 2captcha dialect).
    #[serde(default = "default_balance")]
    pub balance: f64,
}

fn default_threads() -> u32 {
    10
}
fn default_balance() -> f64 {
    10.0
}

impl AccountConfig {
    /// An account with the default thread cap and balance.
    pub fn new(key: impl Into<String>) -> Self {
        AccountConfig {
            key: key.into(),
            threads: default_threads(),
            balance: default_balance(),
        }
    }
}

/// Solve times, failure rates and task lifetime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SolvingConfig {
    /// Share of tasks that end in `ERROR_CAPTCHA_UNSOLVABLE`, 0 to 1.
    pub unsolvable_rate: f64,
    /// Per-kind overrides of the unsolvable rate.
    pub unsolvable: BTreeMap<TaskKind, f64>,
    /// Solve time for every kind not listed in `times`; unset = per-kind defaults.
    pub default_time: Option<Distribution>,
    /// Per-kind solve times.
    pub times: BTreeMap<TaskKind, Distribution>,
    /// How long a finished task stays readable before it expires, in real time: the time
    /// scale does not shorten it, as it does not shorten a client's waits between polls.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub result_ttl: Duration,
    /// Hard cap on stored tasks; submits beyond it get `ERROR_NO_SLOT_AVAILABLE`.
    pub max_tasks: usize,
    /// How long after its submission a task may be reported (`reportgood`/`reportbad`);
    /// later reports are `ERROR_REPORT_NOT_RECORDED` (2captcha: 15 minutes).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub report_window: Duration,
    /// Refuse `reportbad` (`ERROR_REPORT_NOT_RECORDED`) from a key whose complaints already
    /// exceed a share of its solved tasks, as 2captcha documents it ("more than 40%"); unset =
    /// never (opt-in: 2captcha names no sample size, and without one a fresh key's first
    /// complaint would be refused).
    pub complaint_limit: Option<ComplaintLimit>,
}

/// 2captcha's refusal of complaints from a key that complains too much: a `reportbad` is
/// `ERROR_REPORT_NOT_RECORDED` once the key's recorded complaints exceed `share` of its
/// solved tasks, counted over the tasks the mock still holds (`result-ttl`), and only from
/// `minimum` solved tasks on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComplaintLimit {
    /// Largest share of complaints, 0 to 1 (2captcha: 0.4).
    #[serde(default = "default_complaint_share")]
    pub share: f64,
    /// Solved tasks a key needs before the limit applies.
    #[serde(default = "default_complaint_minimum")]
    pub minimum: u32,
}

fn default_complaint_share() -> f64 {
    0.4
}

fn default_complaint_minimum() -> u32 {
    10
}

impl Default for SolvingConfig {
    fn default() -> Self {
        SolvingConfig {
            unsolvable_rate: 0.0,
            unsolvable: BTreeMap::new(),
            default_time: None,
            times: BTreeMap::new(),
            result_ttl: Duration::from_secs(15 * 60),
            max_tasks: 5_000_000,
            report_window: Duration::from_secs(15 * 60),
            complaint_limit: None,
        }
    }
}

impl SolvingConfig {
    /// The solve-time distribution of a kind.
    pub fn time_for(&self, kind: TaskKind) -> Distribution {
        if let Some(d) = self.times.get(&kind) {
            return d.clone();
        }
        if let Some(d) = &self.default_time {
            return d.clone();
        }
        Distribution::LogNormal {
            median: kind.default_median(),
            sigma: 0.3,
        }
    }

    /// The unsolvable rate of a kind.
    pub fn unsolvable_for(&self, kind: TaskKind) -> f64 {
        self.unsolvable
            .get(&kind)
            .copied()
            .unwrap_or(self.unsolvable_rate)
    }
}

/// The admin API under `/__admin/`.
///
/// With a token, every admin request needs `Authorization: Bearer <token>`, from any address.
/// Without one, the admin API answers loopback clients only, and only while the mock listens
/// on loopback: listening on `0.0.0.0`, `[::]` or another address without a token, it answers
/// 403 to everyone (the API itself serves everyone). An empty or blank token is refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AdminConfig {
    /// A bearer token (not empty); required, and then accepted from any address. Without
    /// one the admin API answers only loopback clients of a mock listening on loopback.
    pub token: Option<String>,
}

/// The inbound request journal (`GET /__admin/journal`): every API request with its answer,
/// the oldest dropped first once either bound is reached.
///
/// Each request is shortened as it is journalled, whatever was sent: at most 50 parameters
/// (a last one counts the rest), keys cut at 64 bytes, values longer than 200 bytes kept as
/// `<N bytes>`, uploaded files as `<file N bytes>`, answers cut at 4 KiB. An entry therefore
/// holds at most about 17 KiB, and a typical one a few hundred bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct JournalConfig {
    /// Entries kept (default 10 000).
    pub capacity: usize,
    /// Bytes the entries may hold in all (default 16 MiB, at least 1024), counted as their
    /// size in memory.
    pub max_bytes: usize,
}

/// The default of `journal.max-bytes`: 16 MiB.
pub(crate) const DEFAULT_JOURNAL_MAX_BYTES: usize = 16 * 1024 * 1024;

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            capacity: 10_000,
            max_bytes: DEFAULT_JOURNAL_MAX_BYTES,
        }
    }
}

/// Pingback delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PingbackConfig {
    /// Ordered fault rules; the first that applies to a task wins.
    pub rules: Vec<FaultRule>,
    /// Retry policy when the receiver fails (non-2xx, timeout, refused).
    pub retry: RetryPolicy,
    /// Per-attempt timeout (simulated time).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub attempt_timeout: Duration,
    /// Concurrent deliveries per receiver host.
    pub max_in_flight_per_host: usize,
    /// Deliveries pending at once (waiting, held in a reorder window, or in
    /// flight, each until its last attempt); beyond this they are shed (and logged).
    pub queue_capacity: usize,
    /// Deliveries pending at once for one receiver host (`host:port`), at most
    /// `queue-capacity` (default 10 000); beyond this that host's are shed (and logged),
    /// so that a receiver that accepts and never answers cannot take the queue from the
    /// others.
    pub queue_capacity_per_host: usize,
    /// Outbound journal entries kept. Each holds at most about 1 KiB of its own (an error
    /// message, the start of the receiver's answer) besides what it shares with its task,
    /// so the outbound journal needs no byte bound.
    pub journal_capacity: usize,
    /// The local address every pingback is sent from (the outgoing socket is bound to it;
    /// unset: the system chooses, 127.0.0.1 for a receiver on loopback). A receiver that
    /// accepts callbacks from known addresses only (as CaptchaAI's published callback IPs
    /// are meant to be used) can then be tested: on Linux all of 127.0.0.0/8 is local, so
    /// genuine callbacks can leave from 127.0.0.1 and forged ones from 127.0.0.2. On macOS
    /// only 127.0.0.1 exists until an alias is added (`sudo ifconfig lo0 alias 127.0.0.2`).
    /// The mock refuses to start when the address is not one of this machine's.
    #[schemars(with = "Option<String>")]
    pub source_address: Option<IpAddr>,
}

impl Default for PingbackConfig {
    fn default() -> Self {
        PingbackConfig {
            rules: Vec::new(),
            retry: RetryPolicy::None,
            attempt_timeout: Duration::from_secs(10),
            max_in_flight_per_host: 128,
            queue_capacity: 100_000,
            queue_capacity_per_host: 10_000,
            journal_capacity: 10_000,
            source_address: None,
        }
    }
}

/// Faults of the API itself, drawn per request from the seed, and its rate limits (opt-in).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ApiFaultConfig {
    /// Share of `in.php` requests answered `ERROR_SERVER_ERROR` (HTTP 200), 0 to 1: the
    /// rule `{ answer = "ERROR_SERVER_ERROR" }` on `in.php`, second of all rules.
    pub server_error_rate: f64,
    /// Share of `in.php` and `res.php` requests answered HTTP 503 with an empty body, 0 to 1:
    /// the rule `{ status = 503, body = "empty" }`, first of all rules.
    pub http_error_rate: f64,
    /// Ordered fault rules; the first that applies to a request wins. The syntax is
    /// documented on [`ApiFaultRule`].
    pub rules: Vec<ApiFaultRule>,
    /// Rate-limit penalties (`MAX_USER_TURN`, `IP_BANNED`, `ERROR: 1001` to `1005`); see
    /// [`RateLimitConfig`].
    pub rate_limits: RateLimitConfig,
}

impl ApiFaultConfig {
    /// The rules in effect: the two legacy rates as the rules they stand for, first, then
    /// `rules`.
    ///
    /// The legacy rates drew, per `in.php` request, first the HTTP 503 chance, then the
    /// `ERROR_SERVER_ERROR` one, from the request's stream; the two rules keep that order
    /// (the first one is kept with probability 0 when only `server-error-rate` is set, so
    /// that the second draw stays the second), and so the faults of a run configured with
    /// them.
    pub fn effective_rules(&self) -> Vec<ApiFaultRule> {
        let mut out = Vec::with_capacity(self.rules.len() + 2);
        if self.http_error_rate > 0.0 || self.server_error_rate > 0.0 {
            let endpoints: &[&str] = if self.http_error_rate > 0.0 {
                &["in.php", "res.php"]
            } else {
                &["in.php"]
            };
            out.push(
                ApiFaultRule::always(ApiFault::Page {
                    status: 503,
                    body: PageBody::Empty,
                })
                .with_probability(self.http_error_rate)
                .matching(ApiRuleMatch {
                    endpoints: endpoints.iter().map(|e| (*e).to_owned()).collect(),
                    ..ApiRuleMatch::default()
                })
                .named("http-error-rate"),
            );
        }
        if self.server_error_rate > 0.0 {
            out.push(
                ApiFaultRule::always(ApiFault::Answer("ERROR_SERVER_ERROR".into()))
                    .with_probability(self.server_error_rate)
                    .matching(ApiRuleMatch {
                        endpoints: vec!["in.php".into()],
                        ..ApiRuleMatch::default()
                    })
                    .named("server-error-rate"),
            );
        }
        out.extend(self.rules.iter().cloned());
        out
    }
}

/// Settings only the standalone binary uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ServerConfig {
    /// Address to listen on.
    #[schemars(with = "String")]
    pub bind: SocketAddr,
    /// Serve HTTPS with a CA and leaf certificate generated at start-up.
    pub tls: bool,
    /// Where to write the generated CA certificate (default: a private folder with a random
    /// name in the temp dir, removed when the mock exits).
    pub tls_dir: Option<PathBuf>,
    /// Runtime worker threads (default: half the CPUs, at least one). A mock shares its
    /// machine with the client under test: on two cores, one worker answers faster, at
    /// the tail and in throughput, than two that fight the client for the CPU (see
    /// BENCHMARKS.md).
    pub workers: Option<usize>,
    /// How long a connection may take to send a complete request head (default 10 s); an
    /// idle keep-alive connection is closed after it too. Closes connections that dribble
    /// their headers (slowloris) before they exhaust the file descriptors.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub header_read_timeout: Duration,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish (default 5 s);
    /// whatever is still open then is closed. A second signal exits at once.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// The worker threads to run: `workers`, or half the CPUs (at least one).
    pub fn effective_workers(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: false,
            tls_dir: None,
            workers: None,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The whole configuration: a TOML file (`captchaai-mock --config`), flags, or code.
///
/// Every flag of the binary has a config equivalent. Example:
///
/// ```toml
/// seed = 42
/// time-scale = 100.0
/// dialect = "captchaai"        # or "2captcha"
/// busy-threads = "zero-balance" # or "no-slot", "queue"
/// task-id = "string"           # or "integer"
///
/// [[accounts]]
/// key = "0123456789abcdef0123456789abcdef"
/// threads = 5
/// balance = 10.0
///
/// [solving]
/// unsolvable-rate = 0.05
/// result-ttl = "15m"
/// [solving.times]
/// recaptcha-v2 = { log-normal = { median = "37s", sigma = 0.35 } }
/// turnstile = { fixed = "3s" }
/// [solving.unsolvable]
/// geetest = 0.2
///
/// [api]                         # opt-in faults of the API itself
/// server-error-rate = 0.05
/// [[api.rules]]                 # see ApiFaultRule
/// match = { endpoints = ["res.php"] }
/// probability = 0.1
/// fault = { status = 502, body = "html" }
/// [api.rate-limits]             # see crate::limits
/// max-user-turn = { submits = 60, window = "3s", ban = "10s" }
///
/// [pingback]
/// retry = { exponential = { initial = "1s", factor = 2.0, max = "1m", attempts = 6 } }
/// attempt-timeout = "10s"
/// source-address = "127.0.0.1"  # callbacks leave from this local address
/// [[pingback.rules]]
/// probability = 0.2
/// fault = { duplicate = { copies = 2, spacing = "500ms" } }
/// ```
///
///
/// The fault-rule syntax is documented once, on [`FaultRule`] (pingbacks) and on
/// [`ApiFaultRule`] (the API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    /// Seed for every random decision; one seed reproduces a whole run.
    pub seed: u64,
    /// Simulated seconds per real second (100 = everything 100 times faster).
    pub time_scale: f64,
    /// CaptchaAI or 2captcha behaviour.
    pub dialect: Dialect,
    /// What happens when all threads are busy.
    pub busy_threads: BusyMode,
    /// Task id encoding in JSON answers.
    pub task_id: TaskIdEncoding,
    /// The first task id handed out (later ones count up).
    pub first_task_id: u64,
    /// API keys; empty = the default test key.
    pub accounts: Vec<AccountConfig>,
    /// Solving behaviour.
    pub solving: SolvingConfig,
    /// Image limits.
    pub images: ImageConfig,
    /// Answer shapes where the sources disagree.
    pub answers: AnswersConfig,
    /// Admin API.
    pub admin: AdminConfig,
    /// Inbound journal.
    pub journal: JournalConfig,
    /// Pingback delivery and faults.
    pub pingback: PingbackConfig,
    /// Transient API faults.
    pub api: ApiFaultConfig,
    /// Binary-only settings.
    pub server: ServerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            time_scale: 1.0,
            dialect: Dialect::Captchaai,
            busy_threads: BusyMode::ZeroBalance,
            task_id: TaskIdEncoding::String,
            first_task_id: DEFAULT_FIRST_TASK_ID,
            accounts: Vec::new(),
            solving: SolvingConfig::default(),
            images: ImageConfig::default(),
            answers: AnswersConfig::default(),
            admin: AdminConfig::default(),
            journal: JournalConfig::default(),
            pingback: PingbackConfig::default(),
            api: ApiFaultConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

impl Config {
    /// `solving.result-ttl` on the simulated clock: the real-time TTL times the time scale,
    /// so that at `--time-scale 100` a client polling every 10 real seconds (1,000 simulated)
    /// still finds its result.
    pub(crate) fn result_ttl(&self) -> Duration {
        Duration::try_from_secs_f64(self.solving.result_ttl.as_secs_f64() * self.time_scale)
            .unwrap_or(Duration::MAX)
    }

    /// The accounts in effect: the configured ones, or the default test key.
    pub fn effective_accounts(&self) -> Vec<AccountConfig> {
        if self.accounts.is_empty() {
            vec![AccountConfig::new(DEFAULT_KEY)]
        } else {
            self.accounts.clone()
        }
    }

    /// What the pingback dispatcher takes from it.
    pub(crate) fn dispatcher_settings(&self) -> Settings {
        Settings {
            seed: self.seed,
            method: self.dialect.callback_method(),
            default_retry: self.pingback.retry.clone(),
            attempt_timeout: self.pingback.attempt_timeout,
            max_in_flight_per_host: self.pingback.max_in_flight_per_host,
            queue_capacity: self.pingback.queue_capacity,
            queue_capacity_per_host: self.pingback.queue_capacity_per_host,
            journal_capacity: self.pingback.journal_capacity,
            source_address: self.pingback.source_address,
        }
    }

    /// Accepts `key` too, as the binary's `--key` does: the keys in effect so far (the
    /// default test key when none is configured) stay, first.
    pub(crate) fn add_key(&mut self, key: &str) {
        if self.accounts.is_empty() {
            self.accounts.push(AccountConfig::new(DEFAULT_KEY));
        }
        if !self.accounts.iter().any(|a| a.key == key) {
            self.accounts.push(AccountConfig::new(key));
        }
    }

    /// Gives every account in effect (the default test key when none is configured) this
    /// thread cap, as the binary's `--threads` does.
    pub(crate) fn set_threads(&mut self, threads: u32) {
        if self.accounts.is_empty() {
            self.accounts.push(AccountConfig::new(DEFAULT_KEY));
        }
        for a in &mut self.accounts {
            a.threads = threads;
        }
    }
}
