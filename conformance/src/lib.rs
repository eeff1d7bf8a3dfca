//! The conformance harness for CaptchaAI clients and pingback receivers.
//!
//! # Layout
//!
//! - [`scenario`]: scenario files (raw serde types, validation, discovery, schema).
pub mod chaos;
pub mod checks;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod subject;
pub mod suite;
pub mod timeline;
