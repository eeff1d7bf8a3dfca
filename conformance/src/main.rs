//! `captchaai-conformance`: run scenario files against a CaptchaAI client and
//! pingback receiver, grade them, report.
//!
//! Exit codes: 0 when every scenario is OK or NON-STRICT, 1 when any check
//! FAILED, 2 for bad usage or invalid scenario files.

use std::{io::Write, path::PathBuf, process::ExitCode};

use std::time::Duration;

use captchaai_conformance::{
    chaos::{self, ChaosOptions},
    report::{self, SuiteReport},
    scenario::{self, ScenarioKind},
    subject::{
        Subject,
        external::{ExternalClient, ExternalReceiver},
        reference::Reference,
    },
    suite::{self, LoadError, SuiteOptions},
};
use clap::{Parser, Subcommand, ValueEnum};

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

/// Who is graded: the reference subject, an external receiver, or a client program.
#[derive(Debug, clap::Args)]
struct SubjectArgs {
    #[command(flatten)]
    receiver: ReceiverArgs,
    #[command(flatten)]
    client: ClientArgs,
}

/// An external pingback endpoint (run and chaos).
#[derive(Debug, Default, clap::Args)]
struct ReceiverArgs {
    /// Grade the pingback endpoint at this URL (receiver scenarios only).
    #[arg(long, value_parser = http_url)]
    receiver: Option<String>,
    /// With --receiver: `http://host/results/{id}` answers 200 with the stored code, 404 if none.
    #[arg(long, requires = "receiver", value_parser = id_template)]
    results_url: Option<String>,
    /// With --receiver: the harness POSTs each task id to `http://host/register/{id}` after submitting it.
    #[arg(long, requires = "receiver", value_parser = id_template)]
    register_url: Option<String>,
    /// With --receiver: how fast a valid callback must be acknowledged (real time).
    #[arg(long, value_parser = positive_duration, default_value = "1s")]
    latency_budget: Duration,
}

/// An external client program (run only: chaos varies pingback faults, which a polling
/// client never sees).
#[derive(Debug, Default, clap::Args)]
struct ClientArgs {
    /// Grade a client program run with `sh -c` (polling client scenarios only; see the README for the contract).
    #[arg(long, conflicts_with = "receiver", value_parser = non_empty)]
    client_cmd: Option<String>,
    /// With --client-cmd: serve the mock over HTTPS and point the child's CA variables at its CA.
    #[arg(long, requires = "client_cmd")]
    tls: bool,
}

impl SubjectArgs {
    fn subject(&self) -> Box<dyn Subject> {
        let r = &self.receiver;
        if let Some(url) = &r.receiver {
            Box::new(ExternalReceiver {
                url: url.clone(),
                results_url: r.results_url.clone(),
                register_url: r.register_url.clone(),
                latency_budget: r.latency_budget,
            })
        } else if let Some(cmd) = &self.client.client_cmd {
            Box::new(ExternalClient {
                cmd: cmd.clone(),
                tls: self.client.tls,
            })
        } else {
            Box::new(Reference)
        }
    }

    /// The flags a replay command needs, shell-quoted.
    fn replay_args(&self) -> String {
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let r = &self.receiver;
        let mut v = Vec::new();
        if let Some(u) = &r.receiver {
            v.push(format!("--receiver {}", q(u)));
            if let Some(u) = &r.results_url {
                v.push(format!("--results-url {}", q(u)));
            }
            if let Some(u) = &r.register_url {
                v.push(format!("--register-url {}", q(u)));
            }
            if r.latency_budget != DEFAULT_LATENCY_BUDGET {
                v.push(format!(
                    "--latency-budget {}",
                    humantime::format_duration(r.latency_budget)
                ));
            }
        }
        if let Some(c) = &self.client.client_cmd {
            v.push(format!("--client-cmd {}", q(c)));
            if self.client.tls {
                v.push("--tls".into());
            }
        }
        v.join(" ")
    }
}

/// A duration above zero.
fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be above zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// A value that is not empty (or only blanks).
fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_owned())
    }
}

const DEFAULT_LATENCY_BUDGET: Duration = Duration::from_secs(1);

/// An absolute `http://` or `https://` URL with a host: a mistyped receiver
/// URL would otherwise grade nothing (every callback fails to send).
fn http_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("not a URL ({e}): {s:?}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "needs an http:// or https:// URL with a host, got {s:?}"
        ));
    }
    Ok(s.to_owned())
}

/// A URL with `{id}` where the task id goes.
fn id_template(s: &str) -> Result<String, String> {
    if !s.contains("{id}") {
        return Err(format!("needs `{{id}}` where the task id goes, got {s:?}"));
    }
    http_url(&s.replace("{id}", "1"))?;
    Ok(s.to_owned())
}

#[derive(Debug, clap::Args)]
struct ChaosArgs {
    #[command(flatten)]
    receiver: ReceiverArgs,
    /// Generated cases to try (before shrinking).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Seed of the case generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop trying new cases after this much wall time.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    budget: Duration,
    /// Where to write the shrunk failing scenario.
    #[arg(long, default_value = "chaos-failures")]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Scenario files or folders (default: scenarios).
    paths: Vec<PathBuf>,
    /// Seed for every scenario, overriding the files' seeds.
    #[arg(long)]
    seed: Option<u64>,
    /// Scenarios run at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Only scenarios whose name, id or tag contains this (repeatable: any).
    #[arg(long)]
    filter: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Also write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Report wall times as 0 (for byte-identical reports of the same seed).
    #[arg(long)]
    redact_timings: bool,
    /// Show expected/actual and evidence for NON-STRICT checks and every schedule line.
    #[arg(long, short = 'v')]
    verbose: bool,
    #[command(flatten)]
    subject: SubjectArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
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
            print!("{}", captchaai_conformance::checks::markdown());
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
        Command::Run(args) => run(args),
        Command::Chaos(args) => run_chaos(args),
    }
}

fn load_failed(e: LoadError) -> ExitCode {
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

fn load_filtered(
    paths: Vec<PathBuf>,
    filter: &[String],
) -> Result<Vec<scenario::Scenario>, ExitCode> {
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
fn nothing_found(filter: &[String]) -> &'static str {
    if filter.is_empty() {
        "no scenario files (*.toml) found"
    } else {
        "no scenario matches the filter"
    }
}

fn run(args: RunArgs) -> ExitCode {
    let scenarios = match load_filtered(args.paths.clone(), &args.filter) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if scenarios.is_empty() {
        eprintln!("captchaai-conformance: {}", nothing_found(&args.filter));
        return ExitCode::from(2);
    }
    if let (Some(junit), Some(json)) = (&args.junit, &args.json)
        && junit == json
    {
        eprintln!(
            "captchaai-conformance: --junit and --json both name {}: one would overwrite the other",
            junit.display()
        );
        return ExitCode::from(2);
    }
    // Report files are opened before the run, so a bad path costs nothing.
    type Render = fn(&SuiteReport) -> String;
    let renderers: [(&Option<PathBuf>, Render); 2] = [
        (&args.junit, SuiteReport::to_junit),
        (&args.json, SuiteReport::to_json),
    ];
    let mut report_files = Vec::new();
    for (path, render) in renderers {
        if let Some(path) = path {
            match std::fs::File::create(path) {
                Ok(f) => report_files.push((render, path.clone(), f)),
                Err(e) => {
                    eprintln!("captchaai-conformance: writing {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
    }
    let subject = args.subject.subject();
    let opts = SuiteOptions {
        seed: args.seed,
        jobs: args.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            usize::from,
        ),
        redact_timings: args.redact_timings,
        progress: args.format == Format::Human,
        replay_args: args.subject.replay_args(),
    };
    let human = args.format == Format::Human;
    if human {
        let mut out = anstream::stdout();
        let _ = writeln!(
            out,
            "captchaai-conformance {} · subject: {} · {} scenario(s)\n",
            env!("CARGO_PKG_VERSION"),
            subject.name(),
            scenarios.len()
        );
    }
    let verbose = args.verbose;
    let report: SuiteReport = suite::run_suite(scenarios, subject.as_ref(), &opts, |r| {
        if human {
            let mut out = anstream::stdout();
            let _ = report::write_scenario(&mut out, r, verbose);
        }
    });
    if human {
        let _ = report::write_totals(&mut anstream::stdout(), &report);
    } else {
        println!("{}", report.to_json());
    }
    let mut write_failed = false;
    for (render, path, mut f) in report_files {
        if let Err(e) = f.write_all(render(&report).as_bytes()) {
            eprintln!("captchaai-conformance: writing {}: {e}", path.display());
            write_failed = true;
        }
    }
    if write_failed {
        return ExitCode::from(2);
    }
    if report.totals.skipped == report.scenarios.len() {
        eprintln!(
            "captchaai-conformance: nothing was graded: all {} scenario(s) were skipped \
             (receiver scenarios need --receiver, client scenarios --client-cmd; see the reasons above)",
            report.scenarios.len()
        );
        return ExitCode::from(2);
    }
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_chaos(args: ChaosArgs) -> ExitCode {
    if args.out.exists() && !args.out.is_dir() {
        eprintln!(
            "captchaai-conformance: --out {} is not a folder",
            args.out.display()
        );
        return ExitCode::from(2);
    }
    let subject_args = SubjectArgs {
        receiver: args.receiver,
        client: ClientArgs::default(),
    };
    let subject = subject_args.subject();
    let kind = if subject_args.receiver.receiver.is_some() {
        ScenarioKind::Receiver
    } else {
        ScenarioKind::EndToEnd
    };
    let opts = ChaosOptions {
        runs: args.runs,
        seed: args.seed,
        budget: args.budget,
        out_dir: args.out.clone(),
        progress: true,
        replay_args: subject_args.replay_args(),
    };
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "captchaai-conformance chaos · subject: {} · up to {} run(s), seed {}",
        subject.name(),
        args.runs,
        args.seed
    );
    let outcome = chaos::run(subject.as_ref(), kind, &opts);
    match outcome.failure {
        None => {
            let _ = writeln!(
                out,
                "{} run(s), no failure{}",
                outcome.runs,
                if outcome.budget_exhausted {
                    " (stopped by the time budget)"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Some(f) => {
            let _ = writeln!(
                out,
                "{} run(s): found a failure, shrunk in {} step(s) to {} task(s), {} rule(s), {} callback(s)\n",
                outcome.runs,
                outcome.shrink_steps,
                f.case.tasks,
                f.case.rules.len(),
                f.callbacks
            );
            let _ = report::write_scenario(&mut out, &f.report, false);
            match &f.saved {
                Ok(()) => {
                    let _ = writeln!(out, "\nscenario file: {}\n\n{}", f.path.display(), f.toml);
                    let _ = writeln!(out, "replay: {}", f.replay);
                }
                Err(e) => {
                    let _ = writeln!(out, "\nscenario (not saved: {e}):\n\n{}", f.toml);
                    eprintln!(
                        "captchaai-conformance: could not save {}: {e}; keep the scenario printed above",
                        f.path.display()
                    );
                }
            }
            ExitCode::from(1)
        }
    }
}
