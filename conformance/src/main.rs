//! `captchaai-conformance`: run scenario files against a CaptchaAI client and
//! pingback receiver, grade them, report.
//!
//! Exit codes: 0 when every scenario is OK or NON-STRICT, 1 when any check
//! FAILED, 2 for bad usage or invalid scenario files.
//!
//! The command line lives in the library (`captchaai_conformance::cli`, where the reason is
//! written down); this is its entry point.

fn main() -> std::process::ExitCode {
    captchaai_conformance::cli::main()
}
