//! `run`: grade a subject on scenario files, print the report, write the report files, and
//! exit 0 (every scenario OK or NON-STRICT), 1 (a check FAILED) or 2 (bad usage, nothing
//! graded, a report file that cannot be written).

use std::{io::Write, path::PathBuf, process::ExitCode};

use super::{
    args::{Format, RunArgs},
    load_filtered, nothing_found,
};
use crate::{
    report::{self, SuiteReport},
    suite::{self, SuiteOptions},
};

pub(super) fn run(args: RunArgs) -> ExitCode {
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
