//! The conformance harness for CaptchaAI clients and pingback receivers: scenario files run
//! against a subject (a client, a pingback receiver, or both) and a seeded mock of the
//! service, graded by checks that give a verdict with its evidence.
//!
//! # Layout
//!
//! The modules read in the order data flows through a run:
//!
//! ```text
//! scenario ──▶ runner ──▶ mock + subject ──▶ timeline ──▶ checks ──▶ report
//! (files)      (one run)  (captchaai-mock,   (typed,       (verdicts,  (terminal, JSON,
//!                          subject)           ordered)      evidence)   JUnit)
//! ```
//!
//! - [`scenario`]: scenario files: raw serde types, validation with file:line:column errors,
//!   discovery, the JSON schema;
//! - `runner`: one run, phase by phase: the mock, the subject and its receiver-side layer,
//!   forged callbacks, the paced workload, settling, reading back what was stored;
//! - [`subject`]: what is graded: the [`Subject`](subject::Subject) trait and its
//!   [`Capabilities`](subject::Capabilities), the reference subject, external receivers and
//!   client programs;
//! - [`timeline`]: the run's ordered, typed history;
//! - [`checks`]: the checks, their registry, verdicts;
//! - [`report`]: one scenario's report and the renderers; `html_report`: the HTML one;
//! - [`suite`]: loading a suite and running it in parallel;
//! - `builtin`: the built-in suite (`scenarios/` compiled in, named `builtin:<area>/<name>`);
//! - `chaos`: generated fault schedules, shrunk to a failing scenario file;
//! - `cleanup`: what a run leaves outside the process (client process groups, TLS folders),
//!   registered so that a signal to the harness stops and removes it;
//! - [`cli`]: the command line (the binary calls [`cli::main`]).
//!
//! # Public surface
//!
//! What is public is what a Rust user needs to grade a subject of their own in-process (the
//! broken subjects in this crate's tests do exactly that): implement
//! [`Subject`](subject::Subject), load a scenario with [`scenario::load`], run it with
//! [`suite::run_one`], read the [`report::ScenarioReport`]. Everything else is crate-private;
//! `unreachable_pub` keeps it so.
//!
//! ```
//! use std::{path::Path, sync::Arc};
//!
//! use captchaai_conformance::{
//!     checks::{CheckId, Verdict},
//!     scenario,
//!     subject::Reference,
//!     suite::{SuiteOptions, run_one},
//! };
//!
//! let text = r#"
//! name = "duplicates"
//! description = "Every pingback arrives twice; the application sees each result once."
//! [[faults]]
//! fault = { duplicate = { copies = 1 } }
//! [workload]
//! tasks = [{ method = "turnstile", count = 3 }]
//! "#;
//! let scenario = scenario::parse(text, Path::new("scenarios/pingback/duplicates.toml"))
//!     .map_err(|e| e.message.clone())?;
//! // `Reference` is captchaai-client; a subject of your own implements `subject::Subject`.
//! let options = SuiteOptions { jobs: 1, ..Default::default() };
//! let report = run_one(Arc::new(scenario), &Reference, &options);
//! assert_eq!(report.verdict, Verdict::Ok, "{:#?}", report.checks);
//! assert!(report.checks.iter().any(|c| c.check == CheckId::ExactlyOnce));
//! # Ok::<(), String>(())
//! ```

pub mod checks;
pub mod cli;
pub mod report;
pub mod scenario;
pub mod subject;
pub mod suite;
pub mod timeline;

mod builtin;
mod chaos;
mod cleanup;
mod html_report;
mod runner;
