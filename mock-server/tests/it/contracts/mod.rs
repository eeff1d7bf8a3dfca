//! The contracts users read without reading Rust, kept true by tests:
//!
//! - [`openapi`]: `docs/openapi.json` (OpenAPI 3.1) against recorded answers of every kind:
//!   every wire case's snapshot, and a live answer of every admin route and status;
//! - [`config_reference`]: `docs/mock-config.schema.json` (`captchaai-mock schema`) and
//!   `docs/configuration.md`, generated from the configuration's types.

mod config_reference;
mod openapi;

use std::path::PathBuf;

/// A file of the repository's `docs/`.
fn docs(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs")).join(name)
}
