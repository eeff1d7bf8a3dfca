//! The command line: `run`, `check`, `list`, `export`, `schema`, `checks` and `chaos`.
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
//! - `chaos`: `chaos`;
//! - `export`: `export`, the built-in suite written out;
//! - `extras`: the hidden `completions` and `man`, for packagers;
//! - `output`: stdout and stderr, written without ever panicking;
//! - `signals`: SIGTERM and SIGINT stop the client programs and exit.

mod args;
mod chaos;
mod export;
mod extras;
mod output;
mod run;
mod signals;

use std::{path::PathBuf, process::ExitCode};

use output::{Output, complain, to_stderr};

use clap::{Parser, Subcommand};

use crate::{
    checks,
    scenario::{self, Scenario},
    subject::{ExternalReceiver, ReferenceOnRedis},
    suite::{self, LoadError},
};
use args::{ChaosArgs, RunArgs};

/// Conformance harness for CaptchaAI clients and pingback receivers.
#[derive(Debug, Parser)]
#[command(
    name = "captchaai-conformance",
    version = env!("CAPTCHAAI_VERSION"),
    about,
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 all scenarios OK or NON-STRICT; 1 a check FAILED; 2 bad usage, invalid scenario files, or output that could not be written; 130, 143 stopped by SIGINT, SIGTERM.";

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
        /// Files, folders or built-in names (default: the built-in suite, `builtin:`).
        paths: Vec<PathBuf>,
        /// Only scenarios whose name, id or tag contains this (repeatable: any).
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Write the built-in scenario files (and their schema) to a folder, to copy and change.
    Export(export::ExportArgs),
    /// Print the JSON schema of scenario files.
    Schema,
    /// Print every check: what it proves and how to fix a failure (Markdown).
    Checks,
    /// Run many generated fault schedules; shrink and save the first failure.
    Chaos(ChaosArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(hide = true)]
    Completions(extras::CompletionsArgs),
    /// Print the man page, or write every command's page into a folder.
    #[command(hide = true)]
    Man(extras::ManArgs),
}

/// Runs the command line: parses the arguments, runs the command, and gives the exit code
/// (0 every scenario OK or NON-STRICT, 1 a check FAILED, 2 bad usage, invalid scenario files
/// or output that could not be written; 130 or 143 when stopped by SIGINT or SIGTERM, after
/// stopping the client programs). The `captchaai-conformance` binary is this function.
pub fn main() -> ExitCode {
    signals::install();
    let cli = Cli::parse();
    let mut out = Output::stdout();
    let code = match cli.command {
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&scenario::schema()).unwrap_or_default();
            out.line(schema);
            ExitCode::SUCCESS
        }
        Command::Checks => {
            out.with(|w| w.write_all(checks::markdown().as_bytes()));
            ExitCode::SUCCESS
        }
        Command::Check { paths } => match suite::load(&paths) {
            Ok(s) if s.is_empty() => {
                complain("no scenario files (*.toml) found");
                ExitCode::from(2)
            }
            Ok(s) => {
                out.line(format_args!("{} scenario file(s) valid", s.len()));
                ExitCode::SUCCESS
            }
            Err(e) => load_failed(e),
        },
        Command::List { paths, filter } => list(paths, &filter, &mut out),
        Command::Run(args) => run::run(args, &mut out),
        Command::Chaos(args) => chaos::run(args, &mut out),
        Command::Export(args) => export::run(&args, &mut out),
        Command::Completions(args) => extras::completions(&args, &mut out),
        Command::Man(args) => extras::man(&args, &mut out),
    };
    out.finish(code)
}

fn list(paths: Vec<PathBuf>, filter: &[String], out: &mut Output) -> ExitCode {
    let scenarios = match load_filtered(paths, filter) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if scenarios.is_empty() {
        complain(nothing_found(filter));
        return ExitCode::from(2);
    }
    for s in &scenarios {
        out.line(format_args!(
            "{:<40} {:<10} {}",
            s.id,
            s.kind.name(),
            s.description
        ));
    }
    ExitCode::SUCCESS
}

/// The receiver's pre-flight, before any scenario: exit 2 with what was tried when the
/// receiver or its results URL is not there or answers wrongly.
pub(super) fn preflight(receiver: &ExternalReceiver) -> Result<(), ExitCode> {
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(receiver.preflight()),
        Err(e) => Err(vec![format!("cannot start a runtime: {e}")]),
    };
    match outcome {
        Ok(notes) => {
            for n in notes {
                complain(&format!("note: {n}"));
            }
            Ok(())
        }
        Err(problems) => {
            complain("pre-flight failed, no scenario was run:");
            for p in problems {
                to_stderr(&format!("  {p}"));
            }
            Err(ExitCode::from(2))
        }
    }
}

/// `--reference-store`'s pre-flight, before any scenario: exit 2 with why when Redis is not
/// there or cannot run the store.
pub(super) fn preflight_redis(reference: &ReferenceOnRedis) -> Result<(), ExitCode> {
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async {
            // Each call is bounded by the store's timeout; this bounds them all.
            tokio::time::timeout(std::time::Duration::from_secs(10), reference.check())
                .await
                .unwrap_or_else(|_| Err("no answer within 10 s".to_owned()))
        }),
        Err(e) => Err(format!("cannot start a runtime: {e}")),
    };
    outcome.map_err(|why| {
        complain(&format!(
            "pre-flight failed, no scenario was run: --reference-store {}: {why}",
            reference.url()
        ));
        ExitCode::from(2)
    })
}

/// Reports why the suite could not load; exit code 2.
pub(super) fn load_failed(e: LoadError) -> ExitCode {
    match e {
        LoadError::Io(e) => complain(&e.to_string()),
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
                to_stderr(&s);
            }
            complain(&format!(
                "{} invalid scenario file(s); nothing was run",
                errors.len()
            ));
        }
    }
    ExitCode::from(2)
}

/// The scenarios under `paths` (default: the built-in suite) that match the filter.
pub(super) fn load_filtered(
    paths: Vec<PathBuf>,
    filter: &[String],
) -> Result<Vec<Scenario>, ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(crate::builtin::PREFIX)]
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
