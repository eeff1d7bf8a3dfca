//! The mock's integration tests, in one test binary (one link instead of a dozen: the
//! debug builds of a workspace's test binaries are most of what it writes to disk).
//!
//! - [`support`]: what the tests share: an HTTP client, the four request encodings, images,
//!   the `res.php` call, the binary as a child process, the pingback tests' mock;
//! - [`wire`]: the exact answers of every endpoint, as request/answer cases read from
//!   `wire/cases.toml` and snapshotted;
//! - [`wire_props`], [`pingback`], [`rate_limits`], [`admin_api`], [`stream_subjects`]:
//!   behaviour, by property and by example, through real sockets;
//! - [`dashboard`]: the live dashboard's page, event stream and guard;
//! - [`contracts`]: the OpenAPI document and the configuration's schema and reference in
//!   `docs/`, against recorded answers and the types;
//! - [`public_api`]: the library's test API as a user's test meets it;
//! - [`binary`], [`binary_tools`], [`python_sdk`]: the `captchaai-mock` binary (serving,
//!   and its extras), and the official Python SDK against it; [`observe`]: what the binary
//!   shows of its work (the request log, metrics).

mod admin_api;
mod api_faults;
mod binary;
mod binary_tools;
mod contracts;
mod dashboard;
mod observe;
mod pingback;
mod public_api;
mod python_sdk;
mod rate_limits;
mod stream_subjects;
mod support;
mod wire;
mod wire_props;
