//! `run`: grade a subject on scenario files, print the report, write the report files, and
//! exit 0 (every scenario OK or NON-STRICT), 1 (a check FAILED) or 2 (bad usage, nothing
//! graded, a report file that cannot be written or that names the same file as the other
//! report or as a scenario of the run).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use super::{
    Output,
    args::{Format, RunArgs},
    complain, load_filtered, nothing_found,
};
use crate::{
    report::{self, SuiteReport},
    suite::{self, SuiteOptions},
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
    let reports: Vec<(&str, &PathBuf, PathBuf)> =
        [("--junit", &args.junit), ("--json", &args.json)]
            .into_iter()
            .filter_map(|(flag, path)| path.as_ref().map(|p| (flag, p, identity(p))))
            .collect();
    if let [(_, junit, a), (_, _, b)] = reports.as_slice()
        && a == b
    {
        return Some(format!(
            "--junit and --json name the same file ({}): one would overwrite the other",
            junit.display()
        ));
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
                    complain(&format!("writing {}: {e}", path.display()));
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
        out.with(|w| report::write_totals(w, &report));
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
    if report.totals.skipped == report.scenarios.len() {
        complain(&format!(
            "nothing was graded: all {} scenario(s) were skipped \
             (receiver scenarios need --receiver, client scenarios --client-cmd; see the reasons above)",
            report.scenarios.len()
        ));
        return ExitCode::from(2);
    }
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
