//! The serde form of a scenario file: mirrors the TOML, nothing more.
//!
//! Every table denies unknown fields (a misspelt key is an error with its
//! position), enums are externally tagged, durations are humantime strings
//! (`"150ms"`, `"2s"`, `"1m 30s"`). Fault rules use the mock's own syntax,
//! documented in `captchaai_mock::FaultRule`. [`super::Scenario`] is
//! built from this by `validate`.

use std::{collections::BTreeMap, time::Duration};

use captchaai_mock::{
    ApiFaultRule, BusyMode, Dialect, Distribution, FaultRule, RateLimitConfig, RetryPolicy,
    TaskIdEncoding, TaskKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

/// A scenario file.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "captchaai-conformance scenario")]
pub(crate) struct RawScenario {
    /// Short name, unique in the suite (kebab-case).
    #[schemars(with = "String")]
    pub(crate) name: Spanned<String>,
    /// What the scenario shows, in a sentence or two.
    pub(crate) description: String,
    /// Tags for `--filter`.
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// Seed for every random decision (mock, faults, jitter); `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub(crate) seed: u64,
    /// Which side of the integration the scenario grades.
    #[serde(default)]
    pub(crate) kind: ScenarioKind,
    /// The mock service's settings.
    #[serde(default)]
    pub(crate) mock: RawMock,
    /// Pingback fault rules, in order; the first that applies to a task wins.
    #[serde(default)]
    pub(crate) faults: Vec<FaultRule>,
    /// API fault rules (`in.php`, `res.php`), in order; the first that applies to a request
    /// wins. The mock's `[[api.rules]]` syntax.
    #[serde(default)]
    pub(crate) api_faults: Vec<ApiFaultRule>,
    /// Pingback delivery policy.
    #[serde(default)]
    pub(crate) pingback: RawPingback,
    /// What the application asks the subject to solve.
    pub(crate) workload: RawWorkload,
    /// How the subject (client and receiver) is set up.
    #[serde(default)]
    pub(crate) subject: RawSubject,
    /// Faults on the receiver's side (it fails or is slow), injected in front of it.
    #[serde(default)]
    pub(crate) receiver: RawReceiverEnv,
    /// Callbacks the harness sends to the receiver itself (spoofed, unknown ids).
    #[serde(default)]
    pub(crate) inject: Vec<RawInjection>,
    /// Named expectations beyond the checks every run gets.
    #[serde(default)]
    pub(crate) expect: RawExpect,
}

fn default_seed() -> u64 {
    1
}

/// Which side of the integration a scenario grades.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// Client and receiver together (the default).
    #[default]
    EndToEnd,
    /// The client's API etiquette only (polling, retries, timeouts, falling back from a
    /// pingback that does not come); runs with `--client-cmd`.
    Client,
    /// The pingback endpoint only, graded from the HTTP side; runs with `--receiver`.
    Receiver,
}

impl ScenarioKind {
    /// The name as scenario files spell it.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::EndToEnd => "end-to-end",
            ScenarioKind::Client => "client",
            ScenarioKind::Receiver => "receiver",
        }
    }
}

/// Mock settings.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct RawMock {
    /// `captchaai` (GET callbacks, threadsinfo) or `2captcha` (POST callbacks, registration, plain text).
    pub(crate) dialect: Dialect,
    /// What happens when every thread is busy: `zero-balance`, `no-slot`, `queue`.
    pub(crate) busy_threads: BusyMode,
    /// Threads of the account.
    pub(crate) threads: u32,
    /// Share of unsolvable tasks, 0 to 1.
    pub(crate) unsolvable_rate: f64,
    /// Per-kind unsolvable rates.
    pub(crate) unsolvable: BTreeMap<TaskKind, f64>,
    /// Solve time of every kind not in `solve-times` (default: the mock's per-kind defaults).
    pub(crate) solve_time: Option<Distribution>,
    /// Per-kind solve times.
    pub(crate) solve_times: BTreeMap<TaskKind, Distribution>,
    /// Task ids in JSON answers: `string` or `integer`.
    pub(crate) task_id: TaskIdEncoding,
    /// Time scale when the subject is another process (`--client-cmd`, `--receiver`).
    pub(crate) time_scale: f64,
    /// Account balance (charged in the 2captcha dialect).
    pub(crate) balance: f64,
    /// Share of submits answered `ERROR_SERVER_ERROR` (a transient error clients must retry), 0 to 1.
    pub(crate) server_error_rate: f64,
    /// Share of requests answered HTTP 503 with an empty body, 0 to 1.
    pub(crate) http_error_rate: f64,
    /// Rate-limit penalties, the mock's `[api.rate-limits]` syntax: `max-user-turn`,
    /// `poll-ratio` (`ERROR: 1005`), `ip-ban`, and 2captcha's blocks `no-slot-block`,
    /// `zero-balance-block`, `queue-block`, `bad-key-block` (`ERROR: 1001` to `1004`).
    pub(crate) rate_limits: RateLimitConfig,
}

impl Default for RawMock {
    fn default() -> Self {
        RawMock {
            dialect: Dialect::Captchaai,
            busy_threads: BusyMode::ZeroBalance,
            threads: 50,
            unsolvable_rate: 0.0,
            unsolvable: BTreeMap::new(),
            solve_time: None,
            solve_times: BTreeMap::new(),
            task_id: TaskIdEncoding::String,
            time_scale: 50.0,
            balance: 10.0,
            server_error_rate: 0.0,
            http_error_rate: 0.0,
            rate_limits: RateLimitConfig::default(),
        }
    }
}

/// Pingback delivery policy.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct RawPingback {
    /// Retry policy for failed deliveries (`"none"`, `{ fixed = ... }`, `{ exponential = ... }`, `{ preset = "svix" }`).
    pub(crate) retry: RetryPolicy,
    /// Per-attempt timeout.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub(crate) attempt_timeout: Duration,
}

impl Default for RawPingback {
    fn default() -> Self {
        RawPingback {
            retry: RetryPolicy::None,
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

/// The workload.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawWorkload {
    /// Groups of tasks, submitted in order.
    #[schemars(with = "Vec<RawTaskGroup>")]
    pub(crate) tasks: Spanned<Vec<RawTaskGroup>>,
    /// How submissions are spaced.
    #[serde(default)]
    pub(crate) submit: SubmitPattern,
    /// Deadline for the whole batch (default: none beyond each task's deadline).
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub(crate) batch_deadline: Option<Duration>,
}

/// A group of identical tasks.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawTaskGroup {
    /// Task kind (`turnstile`, `recaptcha-v2`, `normal`, ...).
    pub(crate) method: TaskKind,
    /// How many.
    #[serde(default = "one")]
    pub(crate) count: u32,
    /// Parameter overrides sent to in.php (e.g. `pageurl = "not-a-url"` for bad input).
    #[serde(default)]
    pub(crate) params: BTreeMap<String, String>,
    /// Router route the results belong to (with `subject.router = true`).
    #[serde(default)]
    pub(crate) route: Option<String>,
}

fn one() -> u32 {
    1
}

/// How submissions are spaced.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum SubmitPattern {
    /// Every task at once.
    #[default]
    AllAtOnce,
    /// One task per interval, e.g. `{ every = "500ms" }`.
    Every(
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        Duration,
    ),
    /// At most this many submits per second, e.g. `{ per-second = 20 }`.
    PerSecond(u32),
}

/// How results reach the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyName {
    /// Poll `res.php` only.
    PollOnly,
    /// Wait for the pingback only.
    PingbackOnly,
    /// Wait for the pingback, poll after a quiet period.
    #[default]
    PingbackWithFallback,
}

/// Which key the client uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum KeyChoice {
    /// The mock's key.
    #[default]
    Valid,
    /// A well-formed 32-character key the mock does not know.
    Unknown,
    /// A key of the wrong length.
    Malformed,
}

/// The subject's settings.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct RawSubject {
    /// `poll-only`, `pingback-only` or `pingback-with-fallback`.
    #[schemars(with = "StrategyName")]
    pub(crate) strategy: Spanned<StrategyName>,
    /// Quiet period before fallback polling starts.
    #[serde(with = "spanned_duration")]
    #[schemars(with = "String")]
    pub(crate) fallback_after: Spanned<Duration>,
    /// Overall deadline per task.
    #[serde(with = "spanned_duration")]
    #[schemars(with = "String")]
    pub(crate) deadline: Spanned<Duration>,
    /// Which key the client uses.
    pub(crate) key: KeyChoice,
    /// Carry a shared secret in the callback URL and require it.
    pub(crate) secret: bool,
    /// Accept callbacks only for task ids the application registered.
    pub(crate) registered_only: bool,
    /// Accept callbacks only from the address genuine pingbacks leave from (the harness's
    /// trusted source, 127.0.0.1 by default).
    pub(crate) allow_list: bool,
    /// The scenario is about state shared by the replicas of one endpoint: graded only
    /// against two or more `--receiver` replicas, which the harness spreads callbacks,
    /// registrations and reads over.
    pub(crate) cross_replica: bool,
    /// The application long-polls each task's result (`--wait-url`) from the moment it has
    /// the id, on another replica than the one its callback reaches: graded by `wait-woken`.
    /// Needs `kind = "receiver"` and `cross-replica = true`.
    #[schemars(with = "bool")]
    pub(crate) wait: Spanned<bool>,
    /// Dispatch results through the router (handlers per route).
    #[schemars(with = "bool")]
    pub(crate) router: Spanned<bool>,
    /// Ask for JSON answers (`json=1`); false = plain text.
    pub(crate) json: bool,
}

impl Default for RawSubject {
    fn default() -> Self {
        RawSubject {
            strategy: Spanned::new(0..0, StrategyName::PingbackWithFallback),
            fallback_after: Spanned::new(0..0, Duration::from_secs(30)),
            deadline: Spanned::new(0..0, Duration::from_secs(180)),
            key: KeyChoice::Valid,
            secret: true,
            registered_only: true,
            allow_list: true,
            cross_replica: false,
            wait: Spanned::new(0..0, false),
            router: Spanned::new(0..0, false),
            json: true,
        }
    }
}

mod spanned_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};
    use serde_spanned::Spanned;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Spanned<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "humantime_serde")] Duration);
        let s: Spanned<W> = Spanned::deserialize(d)?;
        let span = s.span();
        Ok(Spanned::new(span, s.into_inner().0))
    }

    pub(super) fn serialize<S: Serializer>(v: &Spanned<Duration>, s: S) -> Result<S::Ok, S::Error> {
        humantime_serde::serialize(v.get_ref(), s)
    }
}

/// Faults on the receiver's side, injected in front of the subject's endpoint.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct RawReceiverEnv {
    /// Answer the first N callbacks with `fail-status` without passing them on.
    pub(crate) fail_first: u32,
    /// Status for those failures (default 500).
    pub(crate) fail_status: Option<u16>,
    /// Hold every callback this long before passing it on (a slow endpoint).
    #[serde(with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub(crate) latency: Option<Duration>,
}

/// A callback the harness sends to the receiver itself.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawInjection {
    /// When, after the run starts.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub(crate) at: Duration,
    /// What to send.
    pub(crate) callback: InjectedCallback,
    /// Which task (submission ordinal, 1 = first); ignored for `unknown-id`.
    #[serde(default = "one_u64")]
    pub(crate) task: u64,
}

fn one_u64() -> u64 {
    1
}

/// Callbacks the harness can forge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InjectedCallback {
    /// The task's id with a forged code and no shared secret.
    Spoofed,
    /// The task's id with a forged code and a wrong shared secret.
    WrongSecret,
    /// A forged code for an id the application never submitted (with the right secret).
    UnknownId,
    /// The task's id with a forged code and the right secret, sent from an address the
    /// receiver does not trust (`--spoof-from`, 127.0.0.2 by default) rather than the one
    /// genuine pingbacks leave from.
    UntrustedSource,
}

impl InjectedCallback {
    /// The name as scenario files spell it.
    pub fn name(self) -> &'static str {
        match self {
            InjectedCallback::Spoofed => "spoofed",
            InjectedCallback::WrongSecret => "wrong-secret",
            InjectedCallback::UnknownId => "unknown-id",
            InjectedCallback::UntrustedSource => "untrusted-source",
        }
    }
}

/// What the result of every task should be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedOutcome {
    /// Exactly what the mock decided: the answer, or the unsolvable error.
    #[default]
    GroundTruth,
    /// A timeout error within the deadline plus tolerance.
    Timeout,
    /// An invalid-key error, without retries.
    InvalidKey,
    /// A bad-input error, without retries.
    BadInput,
    /// A no-threads error (no funds, no plan), without resubmitting.
    NoFunds,
}

/// How results should reach the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// Either path.
    #[default]
    Any,
    /// Only by pingback.
    Pingback,
    /// Only by polling.
    Poll,
}

/// Named expectations.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct RawExpect {
    /// Every task's outcome.
    pub(crate) outcome: ExpectedOutcome,
    /// How results arrive.
    pub(crate) via: Via,
    /// At most this many polls per task.
    pub(crate) max_polls: Option<u32>,
    /// The mock rejects at least one submit as busy (the scenario really exercised busy threads).
    pub(crate) busy_rejections: bool,
}
