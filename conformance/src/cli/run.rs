//! `run`: grade a subject on scenario files, print the report, write the report files, and
//! exit 0 (no check FAILED), 1 (a check FAILED) or 2 (bad usage, nothing to grade, a
//! receiver that fails its pre-flight, a report file that cannot be written or that names the
//! same file as the other report or as a scenario of the run).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use super::{
    Output,
    args::{Format, RunArgs, TimelineArg},
    complain, load_filtered, nothing_found, preflight, preflight_redis,
};
use crate::{
    report::{self, SuiteReport},
    scenario::Scenario,
    subject::Subject,
    suite::{self, SuiteOptions, Timelines},
};

/// Where a file is, whichever way its path is spelt (relative, through a link, `./`): the
/// file's canonical path if it exists, else its folder's joined with its name.
fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

/// Why the report files cannot be written as asked: one names the same file as the other,
/// or as a scenario file of the run (which writing the report would destroy).
fn clashing_reports(args: &RunArgs, scenarios: &[crate::scenario::Scenario]) -> Option<String> {
    let reports: Vec<(&str, &PathBuf, PathBuf)> = [
        ("--junit", &args.junit),
        ("--json", &args.json),
        ("--html", &args.html),
    ]
    .into_iter()
    .filter_map(|(flag, path)| path.as_ref().map(|p| (flag, p, identity(p))))
    .collect();
    for (n, (flag, path, a)) in reports.iter().enumerate() {
        if let Some((other, ..)) = reports[n + 1..].iter().find(|(_, _, b)| a == b) {
            return Some(format!(
                "{flag} and {other} name the same file ({}): one would overwrite the other",
                path.display()
            ));
        }
    }
    for (flag, path, id) in &reports {
        if let Some(s) = scenarios.iter().find(|s| identity(&s.path) == *id) {
            return Some(format!(
                "{flag} {} names the same file as the scenario {}: writing the report would \
                 destroy it",
                path.display(),
                s.path.display()
            ));
        }
    }
    None
}

pub(super) fn run(args: RunArgs, out: &mut Output) -> ExitCode {
    let scenarios = match load_filtered(args.paths.clone(), &args.filter) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if scenarios.is_empty() {
        complain(nothing_found(&args.filter));
        return ExitCode::from(2);
    }
    if let Some(why) = clashing_reports(&args, &scenarios) {
        complain(&why);
        return ExitCode::from(2);
    }
    let subject = args.subject.subject();
    if let Some(code) = nothing_to_grade(&scenarios, subject.as_ref()) {
        return code;
    }
    if let Some(receiver) = args.subject.external_receiver()
        && let Err(code) = preflight(&receiver)
    {
        return code;
    }
    if let Some(reference) = args.subject.reference_on_redis()
        && let Err(code) = preflight_redis(&reference)
    {
        return code;
    }
    // Report files are opened before the run, so a bad path costs nothing.
    type Render = fn(&SuiteReport) -> String;
    let renderers: [(&Option<PathBuf>, Render); 3] = [
        (&args.junit, SuiteReport::to_junit),
        (&args.json, SuiteReport::to_json),
        (&args.html, SuiteReport::to_html),
    ];
    let mut report_files = Vec::new();
    for (path, render) in renderers {
        if let Some(path) = path {
            match std::fs::File::create(path) {
                Ok(f) => report_files.push((render, path.clone(), f)),
                Err(e) => {
                    complain(&format!("writing {}: {e}", path.display()));
                    return ExitCode::from(2);
                }
            }
        }
    }
    let opts = SuiteOptions {
        seed: args.seed,
        jobs: jobs(&args),
        redact_timings: args.redact_timings,
        progress: args.format == Format::Human,
        replay_args: args.subject.replay_args(),
        timelines: if args.json.is_some() || args.html.is_some() || args.format == Format::Json {
            match args.timeline {
                TimelineArg::Failed => Timelines::Failed,
                TimelineArg::All => Timelines::All,
                TimelineArg::None => Timelines::None,
            }
        } else {
            Timelines::None
        },
    };
    let human = args.format == Format::Human;
    if human {
        out.line(format_args!(
            "captchaai-conformance {} · subject: {} · {} scenario(s)\n",
            env!("CARGO_PKG_VERSION"),
            subject.name(),
            scenarios.len()
        ));
    }
    let verbose = args.verbose;
    let report: SuiteReport = suite::run_suite(scenarios, subject.as_ref(), &opts, |r| {
        if human {
            out.with(|w| report::write_scenario(w, r, verbose));
        }
    });
    if human {
        out.with(|w| report::write_totals(w, &report, verbose));
    } else {
        out.line(report.to_json());
    }
    let mut write_failed = false;
    for (render, path, mut f) in report_files {
        if let Err(e) = f.write_all(render(&report).as_bytes()) {
            complain(&format!("writing {}: {e}", path.display()));
            write_failed = true;
        }
    }
    if write_failed {
        return ExitCode::from(2);
    }
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Exit 2 when the subject runs none of the scenarios: nothing would be graded.
fn nothing_to_grade(scenarios: &[Scenario], subject: &dyn Subject) -> Option<ExitCode> {
    let mut reasons: Vec<String> = Vec::new();
    for s in scenarios {
        match subject.supports(s) {
            Ok(()) => return None,
            Err(why) if !reasons.contains(&why) => reasons.push(why),
            Err(_) => {}
        }
    }
    complain(&format!(
        "nothing was graded: all {} scenario(s) were skipped \
         (receiver scenarios need --receiver, client scenarios --client-cmd): {}",
        scenarios.len(),
        reasons.join("; ")
    ));
    Some(ExitCode::from(2))
}

/// Scenarios at once: `--jobs`, else the CPUs; one at a time against an external receiver,
/// whose scenarios would otherwise load the one endpoint with each other's callbacks (an
/// explicit `--jobs` still wins, with a warning).
fn jobs(args: &RunArgs) -> usize {
    let external = !args.subject.receiver.receiver.is_empty();
    match args.jobs {
        Some(n) if external && n > 1 => {
            complain(&format!(
                "warning: --jobs {n} runs {n} scenarios at once against \
                 one receiver: each loads it with the others' callbacks, so latency and \
                 timeout verdicts measure that load too (without --jobs they run one at a time)"
            ));
            usize::from(n)
        }
        Some(n) => usize::from(n),
        None if external => 1,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    }
}
