//! A CaptchaAI client and an idempotent pingback receiver.
//!
//! This is the Rust version of what CaptchaAI's pingback tutorial shows in Python, with its
//! bugs fixed: a result arriving before the task is registered is kept, waiting on an id that
//! was never registered works, the source allow-list is enforced, and duplicates never
//! overwrite the first result. It is also the reference "subject" the `captchaai-mock`
//! conformance harness runs against.
//!
//! - [`Client`]: typed [`Task`]s for every method of the official CaptchaAI SDK, submit to
//!   `in.php` (GET for token types, urlencoded POST for image, enterprise and Cloudflare
//!   types), poll `res.php` with the SDK's per-method initial wait and interval under an
//!   overall deadline, retries with seeded exponential backoff on transient errors and within
//!   a budget on busy threads, both json modes and both task-id encodings, one [`Error`] type
//!   with the SDK's taxonomy ([`ErrorKind`]).
//! - [`receiver`]: an axum router for the pingback endpoint (GET query and POST form, shared
//!   secret compared in constant time, CIDR allow-list, registered-only mode) writing into a
//!   [`receiver::ResultStore`] where the first result wins, with TTL and capacity bounds and an
//!   event stream.
//! - [`strategy`]: a [`strategy::Solver`] that polls, waits for the pingback, or waits for the
//!   pingback and falls back to polling after a quiet period.
//! - [`fanout`]: many tasks at once, rate-limited submits, results streamed as they arrive.
//! - [`router`]: each result dispatched exactly once to the handler of its route.
//!
//! Every timer goes through `tokio::time`, so everything runs under tokio's paused clock on a
//! current-thread runtime, which is how the conformance harness drives it.
//!
//! ```no_run
//! # async fn run() -> Result<(), captchaai_client::Error> {
//! use captchaai_client::{Client, Task};
//! use captchaai_client::task::RecaptchaV2;
//!
//! let client = Client::builder("https://ocr.captchaai.com", "0123456789abcdef0123456789abcdef")
//!     .build()?;
//! let task: Task = RecaptchaV2::new("6Le-wvkS", "https://example.com/login").into();
//! match client.solve(&task).await {
//!     Ok(solution) => println!("token {}", solution.token().unwrap_or_default()),
//!     Err(e) if e.is_unsolvable() => println!("the service gave up"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `error` (private) | [`Error`], [`ErrorKind`], code classification |
//! | `task/` | [`Task`] and one struct per method (`image_tasks.rs`, `recaptcha.rs`, `widgets.rs`), their inputs (`image.rs`, `proxy.rs`), [`task::TaskKind`] (`kind.rs`, the SDK's registry table) |
//! | `task_id` (private) | [`TaskId`] |
//! | `solution` | [`Solution`], [`solution::Answer`] |
//! | `wire` (private) | decoding `status`/`request` JSON and `OK\|...` plain-text bodies |
//! | `retry` (private) | [`RetryPolicy`], seeded ChaCha8 jitter |
//! | `client/` (private) | [`Client`] and [`ClientBuilder`]: `submit.rs` (in.php), `poll.rs` (res.php get), `account.rs` (threadsinfo, getbalance, reports) |
//! | `receiver/` | [`receiver::Receiver`] and its config (`mod.rs`), the callback handler (`handler.rs`) and its refusals (`reject.rs`), serving with timeouts and a bounded shutdown (`serve.rs`), [`receiver::ResultStore`] (`store/`) |
//! | `strategy` | [`strategy::Solver`], [`strategy::Strategy`] |
//! | `fanout` | [`fanout::fan_out`] |
//! | `router` | [`router::ResultRouter`] |

mod client;
mod error;
pub mod fanout;
pub mod receiver;
mod retry;
pub mod router;
pub mod solution;
pub mod strategy;
pub mod task;
mod task_id;
mod wire;

pub use client::{Client, ClientBuilder, DEFAULT_DEADLINE, DEFAULT_REQUEST_TIMEOUT, ThreadsInfo};
pub use error::{Error, ErrorKind, Result};
pub use retry::RetryPolicy;
pub use solution::Solution;
pub use task::Task;
pub use task_id::TaskId;

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Error>();
        assert_send_sync::<crate::Client>();
        assert_send_sync::<crate::Solution>();
        assert_send_sync::<crate::receiver::ResultStore>();
        assert_send_sync::<crate::receiver::Receiver>();
        assert_send_sync::<crate::strategy::Solver>();
        assert_send_sync::<crate::router::ResultRouter>();
    }
}
