//! Every scenario file under `scenarios/` is a test case, run through the same runner the
//! CLI uses, against the reference subject. A scenario that fails prints its report
//! (expected vs actual, evidence, replay command). The trials are named
//! `scenarios::<area>/<name>`: `cargo test -p captchaai-conformance --test it scenarios::`
//! runs them all.

use std::sync::Arc;

use captchaai_conformance::{
    checks::Verdict,
    report,
    subject::Reference,
    suite::{self, SuiteOptions},
};
use libtest_mimic::{Failed, Trial};

use crate::support::root;

/// One trial per scenario file.
pub(crate) fn trials() -> Vec<Trial> {
    let scenarios = match suite::load(&[root().join("scenarios")]) {
        Ok(s) => s,
        Err(suite::LoadError::Io(e)) => panic!("cannot read scenarios: {e}"),
        Err(suite::LoadError::Invalid(errors)) => {
            let all: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            panic!("invalid scenario files:\n{}", all.join("\n"));
        }
    };
    scenarios
        .into_iter()
        .map(|s| {
            let s = Arc::new(s);
            Trial::test(format!("scenarios::{}", s.id), move || {
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
        .collect()
}
