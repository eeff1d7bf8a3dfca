//! Every scenario file under `scenarios/` is a test case, run through the same
//! runner the CLI uses, against the reference subject. A scenario that fails
//! prints its report (expected vs actual, evidence, replay command).

use std::{path::PathBuf, sync::Arc};

use captchaai_conformance::{
    checks::Verdict,
    report,
    subject::reference::Reference,
    suite::{self, SuiteOptions},
};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"));
    let scenarios = match suite::load(&[root]) {
        Ok(s) => s,
        Err(suite::LoadError::Io(e)) => panic!("cannot read scenarios: {e}"),
        Err(suite::LoadError::Invalid(errors)) => {
            let all: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            panic!("invalid scenario files:\n{}", all.join("\n"));
        }
    };
    let trials = scenarios
        .into_iter()
        .map(|s| {
            let s = Arc::new(s);
            Trial::test(s.id.clone(), move || {
                let r = suite::run_one(
                    s.clone(),
                    &Reference,
                    &SuiteOptions {
                        jobs: 1,
                        ..Default::default()
                    },
                );
                if r.verdict == Verdict::Failed {
                    let mut out = Vec::new();
                    let _ = report::write_scenario(&mut out, &r, true);
                    return Err(Failed::from(String::from_utf8_lossy(&out).into_owned()));
                }
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
