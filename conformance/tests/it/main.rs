//! The crate's integration tests, in one binary: a libtest-mimic harness whose trials are
//! every scenario file (`scenarios::<area>/<name>`) and every test function of the modules
//! below (`<module>::<function>`), so each still runs, filters and fails on its own.
//!
//! - `scenarios`: each file of `scenarios/` against the reference subject;
//! - `builtin`: the built-in suite through the binary, from folders outside the checkout;
//! - `broken_subjects`: deliberately broken subjects, each caught by exactly the checks it
//!   breaks;
//! - `extras`: `--version`, completions and man pages;
//! - `cli`: the binary: exit codes, diagnostics, reports, determinism;
//! - `html_report`: the HTML report of a failing run;
//! - `receivers`: external receivers through the binary: the gallery of
//!   `examples/receivers/`, NOT-GRADED, the pre-flight (needs `python3`);
//! - `external`: client programs and chaos through the binary (needs `python3` and the SDK's
//!   virtualenv: `scripts/setup-python-peer.sh`);
//! - `reference_on_redis`: the reference subject with its store on a real Redis
//!   (`--reference-store`; needs `redis-server`, installed by `scripts/test.sh`);
//! - `limits`: the harness's own limits never decide a verdict (worst-case journals, long
//!   settling);
//! - `support`: what they share.
//!
//! A test function is listed in its module's `trials()`; one that is not is dead code, which
//! the lints refuse, so none is silently skipped.

/// A trial per test function, named `<module>::<function>` (declared before the modules, so
/// they see it).
macro_rules! trials {
    ($($test:ident),* $(,)?) => {
        vec![$(
            libtest_mimic::Trial::test(
                crate::trial_name(module_path!(), stringify!($test)),
                || {
                    $test();
                    Ok(())
                },
            ),
        )*]
    };
}

mod broken_subjects;
mod builtin;
mod cli;
mod external;
mod extras;
mod html_report;
mod limits;
mod receivers;
mod reference_on_redis;
mod scenarios;
mod support;

use libtest_mimic::{Arguments, Trial};

/// `it::cli` and `check_accepts_the_suite` give `cli::check_accepts_the_suite`.
fn trial_name(module: &str, test: &str) -> String {
    let module = module.split_once("::").map_or(module, |(_, m)| m);
    format!("{module}::{test}")
}

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = Vec::new();
    trials.extend(scenarios::trials());
    trials.extend(broken_subjects::trials());
    trials.extend(builtin::trials());
    trials.extend(cli::trials());
    trials.extend(html_report::trials());
    trials.extend(extras::trials());
    trials.extend(receivers::trials());
    trials.extend(external::trials());
    trials.extend(limits::trials());
    trials.extend(reference_on_redis::trials());
    libtest_mimic::run(&args, trials).exit();
}
