//! The command line: `run`, `check`, `list`, `schema`, `checks` and `chaos`.
//!
//! Where it sits: it parses the flags, builds the subject, and drives the flow scenario →
//! runner → mock and subject → timeline → checks → report for every scenario it is given.
//!
//! It lives in the library, not in `main.rs`, on purpose: a binary can only call its
//! library's public items, so a command line in `main.rs` would make public everything it
//! uses (the external subjects, chaos mode, the suite report and its renderers). Here it
//! uses them crate-private, the library's public surface stays what a Rust user needs to
//! grade a subject in-process, and `main.rs` is one call to [`main`]. The cost is that the
//! library depends on clap.
//!
//! - `args`: the flags, their parsers, and the subject they select;
//! - `run`: `run`, with its reports and exit codes;
//! - `chaos`: `chaos`.

mod args;
mod chaos;
mod run;

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    checks,
    scenario::{self, Scenario},
    suite::{self, LoadError},
};
use args::{ChaosArgs, RunArgs};

/// Conformance harness for CaptchaAI clients and pingback receivers.
#[derive(Debug, Parser)]
#[command(name = "captchaai-conformance", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 all scenarios OK or NON-STRICT; 1 a check FAILED; 2 bad usage or invalid scenario files.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios and grade the subject.
    Run(RunArgs),
    /// Validate scenario files without running them.
    Check {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List scenarios.
    List {
        /// Files or folders (default: scenarios).
        paths: Vec<PathBuf>,
        /// Only scenarios whose name, id or tag contains this (repeatable: any).
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Print the JSON schema of scenario files.
    Schema,
    /// Print every check: what it proves and how to fix a failure (Markdown).
    Checks,
    /// Run many generated fault schedules; shrink and save the first failure.
    Chaos(ChaosArgs),
}

/// Runs the command line: parses the arguments, runs the command, and gives the exit code
/// (0 every scenario OK or NON-STRICT, 1 a check FAILED, 2 bad usage or invalid scenario
/// files). The `captchaai-conformance` binary is this function.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&scenario::schema()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Command::Checks => {
            print!("{}", checks::markdown());
            ExitCode::SUCCESS
        }
        Command::Check { paths } => match suite::load(&paths) {
            Ok(s) if s.is_empty() => {
                eprintln!("captchaai-conformance: no scenario files (*.toml) found");
                ExitCode::from(2)
            }
            Ok(s) => {
                println!("{} scenario file(s) valid", s.len());
                ExitCode::SUCCESS
            }
            Err(e) => load_failed(e),
        },
        Command::List { paths, filter } => {
            let scenarios = match load_filtered(paths, &filter) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if scenarios.is_empty() {
                eprintln!("captchaai-conformance: {}", nothing_found(&filter));
                return ExitCode::from(2);
            }
            let mut out = anstream::stdout();
            for s in &scenarios {
                let _ = writeln!(out, "{:<40} {:<10} {}", s.id, s.kind.name(), s.description);
            }
            ExitCode::SUCCESS
        }
        Command::Run(args) => run::run(args),
        Command::Chaos(args) => chaos::run(args),
    }
}

/// Reports why the suite could not load; exit code 2.
pub(super) fn load_failed(e: LoadError) -> ExitCode {
    match e {
        LoadError::Io(e) => eprintln!("captchaai-conformance: {e}"),
        LoadError::Invalid(errors) => {
            let theme = if anstream::AutoStream::choice(&std::io::stderr())
                == anstream::ColorChoice::Never
            {
                miette::GraphicalTheme::unicode_nocolor()
            } else {
                miette::GraphicalTheme::unicode()
            };
            let handler = miette::GraphicalReportHandler::new_themed(theme);
            for err in &errors {
                let mut s = String::new();
                if handler.render_report(&mut s, err).is_err() {
                    s = err.message.clone();
                }
                eprintln!("{s}");
            }
            eprintln!(
                "captchaai-conformance: {} invalid scenario file(s); nothing was run",
                errors.len()
            );
        }
    }
    ExitCode::from(2)
}

/// The scenarios under `paths` (default: `scenarios`) that match the filter.
pub(super) fn load_filtered(
    paths: Vec<PathBuf>,
    filter: &[String],
) -> Result<Vec<Scenario>, ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    };
    let all = suite::load(&paths).map_err(load_failed)?;
    Ok(all
        .into_iter()
        .filter(|s| filter.is_empty() || filter.iter().any(|f| s.matches(f)))
        .collect())
}

/// Why nothing is listed or run.
pub(super) fn nothing_found(filter: &[String]) -> &'static str {
    if filter.is_empty() {
        "no scenario files (*.toml) found"
    } else {
        "no scenario matches the filter"
    }
}
