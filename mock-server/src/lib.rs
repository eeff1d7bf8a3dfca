//! A faithful, stateful, seeded mock of the CaptchaAI API (`in.php` /
//! `res.php`, 2captcha-compatible) that solves tasks with realistic delays,
//! answers and errors, and sends pingbacks with faults you control.
//!
//! Use it from your Rust tests: start a [`MockServer`] on a random loopback port, point
//! your client at [`MockServer::uri`], and state what you expect to happen. An unmet
//! [`Expectation`] fails the test when the server drops, with what did happen:
//!
//! ```
//! use std::time::Duration;
//! use captchaai_mock::{Distribution, Expectation, Fault, FaultRule, MockServer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockServer::builder()
//!     .seed(7)
//!     .solve_time(Distribution::Fixed(Duration::from_secs(5)))
//!     .rule(FaultRule::always(Fault::Drop)) // every pingback is lost
//!     .start()
//!     .await?;
//! // A client that relies on the pingback alone never sees its result; one that falls
//! // back to polling does. This one polls:
//! mock.expect(Expectation::polls().times(1..));
//! # let http = reqwest::Client::builder().no_proxy().build()?;
//! # let submit = format!("{}/in.php?key={}&method=turnstile&sitekey=0x4AAAAAAA&pageurl=https://example.com&pingback=http://127.0.0.1:9/hook", mock.uri(), mock.key());
//! # let id = http.get(submit).send().await?.text().await?.trim_start_matches("OK|").to_owned();
//! # tokio::time::sleep(Duration::from_secs(6)).await;
//! # let poll = format!("{}/res.php?key={}&action=get&id={id}", mock.uri(), mock.key());
//! # assert!(http.get(poll).send().await?.text().await?.starts_with("OK|"));
//! // ... run your client against mock.uri() with mock.key() ...
//! # Ok(()) }
//! ```
//!
//! or standalone, as the `captchaai-mock` binary (the `cli` feature, on by default).
//!
//! # Features
//!
//! - `cli` (default): the `captchaai-mock` binary and what only it needs (flags, logging,
//!   the allocator). Depend on the library with `default-features = false` to leave them out.
//! - `testing`: [`testing::PingbackRecorder`], a recording pingback receiver for tests.
//!
//! # Layout
//!
//! Top-down, each module uses only those below it (all private; what a user needs is
//! re-exported here):
//!
//! - `server`: [`MockServer`] and its [builder](MockServerBuilder): the HTTP app, serving,
//!   TLS, shutdown. `cli`: the binary's wiring.
//! - `inspect`, `expect`, `testing`: the test API: [`MockHandle`] (typed inspection and
//!   control), [`Expectation`]s, the recording receiver.
//! - `api`, `admin`: the endpoints (`in.php`, `res.php`, `solve.php`: reading a request,
//!   submission and image checks, the wire format) and the `/__admin/` API.
//! - `state`: accounts, threads, tasks and their lifecycle; the inbound journal.
//! - `config`: the configuration ([`Config`], from TOML, flags or code), validated.
//! - `pingback`: fault rules ([`FaultRule`]), retry policies, per-task schedules, and the
//!   dispatcher that sends them and journals every attempt; `rules`: the rule engine.
//! - `answers`, `dist`, `limits`: deterministic answers, [`Distribution`]s, rate-limit
//!   penalties.
//! - `model`, `codes`, `params`, `url`, `journal`, `seed`, `clock`, `tls`: the vocabulary
//!   ([`Dialect`], [`TaskKind`], [`CallbackMethod`], answer codes), request parameters, URL
//!   helpers, bounded journals, seeded streams, the clock seam, the generated certificates.

mod admin;
mod answers;
mod api;
mod api_faults;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
mod cli_tools;
mod clock;
mod codes;
mod config;
mod dist;
mod expect;
mod inspect;
mod journal;
mod limits;
mod model;
mod params;
mod pingback;
mod rules;
mod seed;
mod server;
mod state;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod url;

pub use self::{
    api_faults::{ApiFault, ApiFaultRule, ApiRuleMatch, PageBody},
    config::{
        AccountConfig, AdminConfig, AnswersConfig, ApiFaultConfig, BusyMode, ComplaintLimit,
        Config, ConfigError, DEFAULT_FIRST_TASK_ID, DEFAULT_KEY, DimensionCode, ImageConfig,
        JournalConfig, PingbackConfig, ServerConfig, SiteKeyCodes, SolvingConfig, StructuredJson,
        StructuredText, TomlLocator,
    },
    dist::Distribution,
    expect::{Expectation, ExpectationGuard, Times, Unsatisfied},
    inspect::{MockHandle, Pingbacks, Requests},
    limits::{
        BadKeyBlock, IpBan, NoSlotBlock, PollRatio, QueueBlock, RateLimitConfig, SubmitBurst,
        ZeroBalanceBlock,
    },
    model::{CallbackMethod, Dialect, TaskIdEncoding, TaskKind},
    params::RequestParams,
    pingback::{
        dispatcher::{AttemptOutcome, PingbackAttempt, PingbackStats},
        faults::{DuplicateFault, Fault, FaultRule, MalformedKind, ReorderFault, RuleMatch},
        retry::{RetryPolicy, RetryPreset},
        schedule::{DeliveryKind, PlannedDelivery, Schedule},
    },
    rules::OrdinalRange,
    server::{MockServer, MockServerBuilder, StartError},
    state::{Counters, FireError, ForceError, InboundRequest, Outcome, TaskState, TaskView},
};
