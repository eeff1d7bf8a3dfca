//! Hardening: every attack of the adversarial pass (issue 12), reproduced against the real
//! binaries (`captchaai-mock`, `captchaai-conformance`) as separate processes on loopback.
//!
//! - [`journal`]: large and numerous request values are shortened when journalled, and the
//!   inbound journal is bounded by bytes as well as entries;
//! - [`admin`]: an empty admin token, an admin API reachable off loopback, pingbacks aimed at
//!   the mock itself, over-long pingback URLs, v4-mapped loopback peers;
//! - [`shutdown`]: half-sent requests, a second signal, slowloris under a low file limit;
//! - [`pingbacks`]: a hanging receiver host must not starve the others;
//! - [`harness`]: the harness's signals (its client program's process group), report paths,
//!   closed output streams, its TLS folder;
//! - [`files`]: the mock's TLS folder;
//! - [`rules`]: fault-rule bounds, results expiring when read.
//!
//! Memory is a benchmark's business, not a test's: `bench/run.sh` measures the peak RSS of a
//! flood of rejected 30 MB requests (BENCHMARKS.md). These tests assert what the user sees: the
//! journal's answer, exit codes, messages, sockets closed, processes gone.

mod admin;
mod files;
mod harness;
mod journal;
mod pingbacks;
mod rules;
mod shutdown;
mod support;
