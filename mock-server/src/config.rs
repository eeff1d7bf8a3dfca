//! The mock's configuration: TOML file, flags and embedded use share one type.
//!
//! Every flag of the binary has a config equivalent. Example:
//!
//! ```toml
//! seed = 42
//! time-scale = 100.0
//! dialect = "captchaai"        # or "2captcha"
//! busy-threads = "zero-balance" # or "no-slot", "queue"
//! task-id = "string"           # or "integer"
//!
//! [[accounts]]
//! key = "0123456789abcdef0123456789abcdef"
//! threads = 5
//! balance = 10.0
//!
//! [solving]
//! unsolvable-rate = 0.05
//! result-ttl = "15m"
//! [solving.times]
//! recaptcha-v2 = { log-normal = { median = "37s", sigma = 0.35 } }
//! turnstile = { fixed = "3s" }
//! [solving.unsolvable]
//! geetest = 0.2
//!
//! [api]                         # opt-in faults of the API itself
//! server-error-rate = 0.05
//! [api.rate-limits]             # see crate::limits
//! max-user-turn = { submits = 60, window = "3s", ban = "10s" }
//!
//! [pingback]
//! retry = { exponential = { initial = "1s", factor = 2.0, max = "1m", attempts = 6 } }
//! attempt-timeout = "10s"
//! [[pingback.rules]]
//! probability = 0.2
//! fault = { duplicate = { copies = 2, spacing = "500ms" } }
//! ```
//!
//! The fault-rule syntax is documented once, in [`crate::pingback::faults`].

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    dist::Distribution,
    methods::{ImageLimits, TaskKind},
    pingback::faults::{FaultRule, RetryPolicy},
    wire::IdEncoding,
};

/// The first task id a default mock hands out.
pub const DEFAULT_FIRST_TASK_ID: u64 = 74_000_000_001;

/// The default test key printed at start-up (exactly 32 characters).
pub const DEFAULT_KEY: &str = "captchaai-mock-test-key-00000001";

/// Which service the mock imitates where CaptchaAI and 2captcha differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Dialect {
    /// CaptchaAI: GET pingbacks, no registration, `threadsinfo`, threads are the plan.
    #[default]
    #[serde(rename = "captchaai")]
    Captchaai,
    /// 2captcha: POST-form pingbacks from registered hosts only, balance is charged.
    #[serde(rename = "2captcha")]
    TwoCaptcha,
}

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

/// How task ids appear in JSON answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TaskIdEncoding {
    /// `"request": "74000000001"` (documented).
    #[default]
    String,
    /// `"request": 74000000001` (seen from CaptchaAI production).
    Integer,
}

impl From<TaskIdEncoding> for IdEncoding {
    fn from(e: TaskIdEncoding) -> Self {
        match e {
            TaskIdEncoding::String => IdEncoding::String,
            TaskIdEncoding::Integer => IdEncoding::Integer,
        }
    }
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
    /// How long a finished task stays readable before it expires.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub result_ttl: Duration,
    /// Hard cap on stored tasks; submits beyond it get `ERROR_NO_SLOT_AVAILABLE`.
    pub max_tasks: usize,
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

/// Image limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ImageConfig {
    /// Largest image in bytes (sources say 100 KB to 1 MB).
    pub max_bytes: usize,
    /// Largest width or height in pixels.
    pub max_dimension: u32,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            max_bytes: 1024 * 1024,
            max_dimension: 1000,
        }
    }
}

impl ImageConfig {
    /// The limits the validator uses.
    pub fn limits(&self) -> ImageLimits {
        ImageLimits {
            min_bytes: 100,
            max_bytes: self.max_bytes,
            max_dimension: self.max_dimension,
        }
    }
}

/// The admin API under `/__admin/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AdminConfig {
    /// A bearer token; required, and then accepted from any address. Without
    /// one the admin API answers only loopback clients.
    pub token: Option<String>,
}

/// The inbound request journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct JournalConfig {
    /// Entries kept (oldest dropped first).
    pub capacity: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig { capacity: 10_000 }
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
    /// Outbound journal entries kept.
    pub journal_capacity: usize,
}

impl Default for PingbackConfig {
    fn default() -> Self {
        PingbackConfig {
            rules: Vec::new(),
            retry: RetryPolicy::None,
            attempt_timeout: Duration::from_secs(10),
            max_in_flight_per_host: 128,
            queue_capacity: 100_000,
            journal_capacity: 10_000,
        }
    }
}

/// Transient API faults, drawn per request from the seed (opt-in).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ApiFaultConfig {
    /// Share of `in.php` requests answered `ERROR_SERVER_ERROR` (HTTP 200), 0 to 1.
    pub server_error_rate: f64,
    /// Share of `in.php` and `res.php` requests answered HTTP 503 with an empty body, 0 to 1.
    pub http_error_rate: f64,
    /// Rate-limit penalties (`MAX_USER_TURN`, `ERROR: 1005`, `IP_BANNED`); see
    /// [`crate::limits`].
    pub rate_limits: crate::limits::RateLimitConfig,
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
    /// Where to write the generated CA certificate (default: a temp dir).
    pub tls_dir: Option<PathBuf>,
    /// Runtime worker threads (default: half the CPUs, at least one). A mock shares its
    /// machine with the client under test: on two cores, one worker answers faster, at
    /// the tail and in throughput, than two that fight the client for the CPU (see
    /// BENCHMARKS.md).
    pub workers: Option<usize>,
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
        }
    }
}

/// The whole configuration.
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
            admin: AdminConfig::default(),
            journal: JournalConfig::default(),
            pingback: PingbackConfig::default(),
            api: ApiFaultConfig::default(),
            server: ServerConfig::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML does not parse or does not fit the schema (with line and column).
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("{}{field}: {message}", at.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
    Invalid {
        /// Dotted path of the offending field, e.g. `accounts[0].key`.
        field: String,
        /// What is wrong.
        message: String,
        /// 1-based line and column of the value in the TOML text, when it came from one.
        at: Option<(usize, usize)>,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
        at: None,
    }
}

impl Config {
    /// Parses and validates a TOML document. A value out of range is reported
    /// with its line and column, like a value of the wrong type.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            match array_element_error::<FaultRule>(text, "pingback.rules", &e) {
                Some((i, span)) => ConfigError::Invalid {
                    field: format!("pingback.rules[{i}]"),
                    message: e.message().to_owned(),
                    at: Some(line_col(text, span.start)),
                },
                None => ConfigError::Toml(e),
            }
        })?;
        cfg.validate().map_err(|e| match e {
            ConfigError::Invalid { field, message, .. } => ConfigError::Invalid {
                at: locate(text, &field).map(|r| line_col(text, r.start)),
                field,
                message,
            },
            e => e,
        })?;
        Ok(cfg)
    }

    /// The accounts in effect: the configured ones, or the default test key.
    pub fn effective_accounts(&self) -> Vec<AccountConfig> {
        if self.accounts.is_empty() {
            vec![AccountConfig::new(DEFAULT_KEY)]
        } else {
            self.accounts.clone()
        }
    }

    /// Checks every value range; the first problem wins.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= 1_000_000.0)
        {
            return Err(invalid(
                "time-scale",
                format!(
                    "must be a number above 0 and at most 1000000, got {}",
                    self.time_scale
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if a.key.chars().count() != 32 {
                return Err(invalid(
                    format!("accounts[{i}].key"),
                    format!(
                        "must be exactly 32 characters, got {}",
                        a.key.chars().count()
                    ),
                ));
            }
            if !seen.insert(a.key.as_str()) {
                return Err(invalid(format!("accounts[{i}].key"), "duplicate key"));
            }
            if !(a.balance.is_finite() && a.balance >= 0.0) {
                return Err(invalid(
                    format!("accounts[{i}].balance"),
                    "must be 0 or more",
                ));
            }
        }
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        if !rate_ok(self.solving.unsolvable_rate) {
            return Err(invalid(
                "solving.unsolvable-rate",
                "must be between 0 and 1",
            ));
        }
        for (k, r) in &self.solving.unsolvable {
            if !rate_ok(*r) {
                return Err(invalid(
                    format!("solving.unsolvable.{}", k.name()),
                    "must be between 0 and 1",
                ));
            }
        }
        if !rate_ok(self.api.server_error_rate) {
            return Err(invalid("api.server-error-rate", "must be between 0 and 1"));
        }
        if !rate_ok(self.api.http_error_rate) {
            return Err(invalid("api.http-error-rate", "must be between 0 and 1"));
        }
        if let Some((key, why)) = self.api.rate_limits.invalid() {
            return Err(invalid(key, why));
        }
        if self.images.max_bytes < 100 {
            return Err(invalid("images.max-bytes", "must be at least 100"));
        }
        let at_least_one = [
            ("journal.capacity", self.journal.capacity),
            ("pingback.journal-capacity", self.pingback.journal_capacity),
            (
                "pingback.max-in-flight-per-host",
                self.pingback.max_in_flight_per_host,
            ),
            ("pingback.queue-capacity", self.pingback.queue_capacity),
            ("server.workers", self.server.workers.unwrap_or(1)),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, n)| *n == 0) {
            return Err(invalid(*key, "must be at least 1"));
        }
        if let Err(why) = self.pingback.retry.validate() {
            return Err(invalid("pingback.retry", why));
        }
        if self.pingback.attempt_timeout.is_zero() {
            return Err(invalid("pingback.attempt-timeout", "must be above zero"));
        }
        Ok(())
    }
}

/// The byte range of the value at a dotted field path (`accounts[0].key`,
/// `solving.unsolvable.geetest`) in a TOML document, for pointing at the
/// offending value once the document has parsed. A missing key gives the range
/// of the nearest table that is present (its default was kept); `None` when the
/// text does not parse or not even the first key is present.
pub fn locate(text: &str, field: &str) -> Option<std::ops::Range<usize>> {
    let root = toml::de::DeTable::parse(text).ok()?;
    locate_path(root.get_ref(), field).map(|(range, _)| range)
}

/// Like [`locate`], but only when the whole path is present.
pub fn locate_exact(text: &str, field: &str) -> Option<std::ops::Range<usize>> {
    let root = toml::de::DeTable::parse(text).ok()?;
    exact(root.get_ref(), field)
}

fn exact(root: &toml::de::DeTable<'_>, field: &str) -> Option<std::ops::Range<usize>> {
    locate_path(root, field).and_then(|(range, whole)| whole.then_some(range))
}

/// toml reports an error inside an array of tables (`[[faults]]`) at the
/// array's first header, whichever element is wrong. This finds the element
/// of `array` (a dotted path) that does not deserialize as `T`, and in it the
/// value the message starts with (`duplicate.copies must be ...`), directly or
/// one table down; else the element itself. Gives the element's index and the span.
pub fn array_element_error<T: serde::de::DeserializeOwned>(
    text: &str,
    array: &str,
    error: &toml::de::Error,
) -> Option<(usize, std::ops::Range<usize>)> {
    let message = error.message();
    let doc: toml::Table = toml::from_str(text).ok()?;
    let mut value = None;
    let mut table = &doc;
    for key in array.split('.') {
        let v = table.get(key)?;
        value = Some(v);
        if let Some(t) = v.as_table() {
            table = t;
        }
    }
    let items = value?.as_array()?;
    let i = items
        .iter()
        .position(|v| v.clone().try_into::<T>().is_err())?;
    let root = toml::de::DeTable::parse(text).ok()?;
    let root = root.get_ref();
    let element = format!("{array}[{i}]");
    let whole = exact(root, &element)?;
    // toml falls back to the array's own span (the first `[[...]]` header);
    // anywhere else, it pointed at the value itself.
    let fell_back = match error.span() {
        None => true,
        Some(r) => [exact(root, array), exact(root, &format!("{array}[0]"))].contains(&Some(r)),
    };
    if !fell_back {
        return None;
    }
    // `duplicate.copies must be ...` or `match.tasks: need ...`.
    let named = message
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches(':');
    let mut candidates = vec![format!("{element}.{named}")];
    if let Some(t) = items[i].as_table() {
        candidates.extend(t.keys().map(|k| format!("{element}.{k}.{named}")));
    }
    let span = candidates
        .iter()
        .find_map(|f| exact(root, f))
        .unwrap_or(whole);
    Some((i, span))
}

/// The span of `field`'s value, or of the nearest ancestor present, and
/// whether the whole path was found.
fn locate_path(
    root: &toml::de::DeTable<'_>,
    field: &str,
) -> Option<(std::ops::Range<usize>, bool)> {
    use toml::de::DeValue;
    let mut table = root;
    let mut found = None;
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let Some(mut value) = table.get(key) else {
            return found.map(|r| (r, false));
        };
        found = Some(value.span());
        for index in indices
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .map(str::parse::<usize>)
        {
            let item = match (value.get_ref(), index) {
                (DeValue::Array(items), Ok(i)) => items.get(i),
                _ => None,
            };
            let Some(item) = item else {
                return found.map(|r| (r, false));
            };
            value = item;
            found = Some(value.span());
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ if parts.peek().is_some() => return found.map(|r| (r, false)),
            _ => {}
        }
    }
    found.map(|r| (r, true))
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readmes_config_example_is_valid() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\nseed = 42")
            .expect("the README's config example")
            + 8;
        let text = &readme[start..][..readme[start..].find("```").expect("closed")];
        let cfg = Config::from_toml(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(cfg.api.rate_limits.max_user_turn.is_some());
        assert_eq!(cfg.pingback.rules.len(), 2);
    }

    #[test]
    fn the_doc_example_parses() {
        let text = r#"
seed = 42
time-scale = 100.0
dialect = "captchaai"
busy-threads = "zero-balance"
task-id = "string"

[[accounts]]
key = "0123456789abcdef0123456789abcdef"
threads = 5
balance = 10.0

[solving]
unsolvable-rate = 0.05
result-ttl = "15m"
[solving.times]
recaptcha-v2 = { log-normal = { median = "37s", sigma = 0.35 } }
turnstile = { fixed = "3s" }
[solving.unsolvable]
geetest = 0.2

[api]                         # opt-in faults of the API itself
server-error-rate = 0.05
[api.rate-limits]             # see crate::limits
max-user-turn = { submits = 60, window = "3s", ban = "10s" }

[pingback]
retry = { exponential = { initial = "1s", factor = 2.0, max = "1m", attempts = 6 } }
attempt-timeout = "10s"
[[pingback.rules]]
probability = 0.2
fault = { duplicate = { copies = 2, spacing = "500ms" } }
"#;
        let cfg = Config::from_toml(text).unwrap();
        assert_eq!(cfg.seed, 42);
        assert_eq!(cfg.accounts[0].threads, 5);
        assert_eq!(
            cfg.solving.time_for(TaskKind::Turnstile),
            Distribution::Fixed(Duration::from_secs(3))
        );
        assert_eq!(cfg.solving.unsolvable_for(TaskKind::Geetest), 0.2);
        assert_eq!(cfg.solving.unsolvable_for(TaskKind::Turnstile), 0.05);
        assert_eq!(cfg.pingback.rules.len(), 1);
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::from_toml("[[accounts]]\nkey = \"short\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "line 2, column 7: accounts[0].key: must be exactly 32 characters, got 5"
        );
        let err = Config::from_toml("seed = 1\ntime-scale = 0.0")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 2, column 14: time-scale:"), "{err}");
        let err = Config::from_toml("[solving.unsolvable]\nturnstile = 0.1\ngeetest = 2.0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "line 3, column 11: solving.unsolvable.geetest: must be between 0 and 1"
        );
        let err = Config::from_toml("\n\nsede = 4").unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("sede"), "{err}");
    }

    #[test]
    fn a_bad_rule_is_found_in_its_own_table() {
        let text = "[[pingback.rules]]\nfault = \"drop\"\n\n[[pingback.rules]]\n\
                    probability = 0.5\nfault = { duplicate = { copies = 500 } }\n";
        let err = Config::from_toml(text).unwrap_err().to_string();
        assert_eq!(
            err,
            "line 6, column 34: pingback.rules[1]: duplicate.copies must be between 1 and 100, got 500"
        );
        let text =
            "[[pingback.rules]]\nmatch = { tasks = { from = 0, to = 3 } }\nfault = \"drop\"\n";
        let err = Config::from_toml(text).unwrap_err().to_string();
        assert!(
            err.starts_with("line 2, column 19: pingback.rules[0]: match.tasks:"),
            "{err}"
        );
    }

    #[test]
    fn each_capacity_is_named_with_its_own_key() {
        for key in [
            "journal-capacity",
            "max-in-flight-per-host",
            "queue-capacity",
        ] {
            let err = Config::from_toml(&format!("[pingback]\n{key} = 0\n"))
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "line 2, column {}: pingback.{key}: must be at least 1",
                    key.len() + 4
                )
            );
        }
        let err = Config::from_toml("[server]\nworkers = 0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "line 2, column 11: server.workers: must be at least 1");
        let two = Config::from_toml("[server]\nworkers = 2\n").unwrap();
        assert_eq!(two.server.effective_workers(), 2);
        assert!(Config::default().server.effective_workers() >= 1);
    }

    #[test]
    fn locate_finds_values_in_every_toml_shape() {
        let text = "seed = 4\n[[accounts]]\nkey = \"a\"\n[[accounts]]\nkey = \"b\"\n\
                    [api]\nrate-limits = { ip-ban = { bad-keys = 3 } }\nlist = [1, [2, 30]]\n";
        let at = |field: &str| locate(text, field).map(|r| &text[r]);
        assert_eq!(at("seed"), Some("4"));
        assert_eq!(at("accounts[1].key"), Some("\"b\""));
        assert_eq!(at("api.rate-limits.ip-ban.bad-keys"), Some("3"));
        assert_eq!(at("api.list[1][1]"), Some("30"));
        // Missing keys fall back to the nearest table that is there.
        assert_eq!(
            at("api.rate-limits.max-user-turn"),
            Some("{ ip-ban = { bad-keys = 3 } }")
        );
        assert_eq!(
            at("accounts[7].key").map(|s| s.starts_with('[')),
            Some(true)
        );
        assert_eq!(at("solving.unsolvable-rate"), None);
        assert_eq!(locate("not toml = = =", "seed"), None);
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é = 1", 3), (1, 3));
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
