//! The binary's extras for packagers and users: `--version` with the commit, the hidden
//! `completions` and `man` commands.

use libtest_mimic::Trial;

use crate::support::{harness, tmp};

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        version_names_the_package_version_and_the_commit,
        completions_and_man_pages_cover_every_command,
    ]
}

fn version_names_the_package_version_and_the_commit() {
    let out = harness(&["--version"]);
    assert!(out.status.success());
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let expected = match git {
        Some(c) => format!(
            "captchaai-conformance {} (commit {c})\n",
            env!("CARGO_PKG_VERSION")
        ),
        None => format!("captchaai-conformance {}\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

fn completions_and_man_pages_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = harness(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["export", "receiver", "junit"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let out = harness(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad usage");

    let out = harness(&["man"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH captchaai-conformance 1"));

    let dir = tmp("man");
    let out = harness(&["man", dir.to_str().unwrap()]);
    assert!(out.status.success());
    for page in [
        "captchaai-conformance.1",
        "captchaai-conformance-run.1",
        "captchaai-conformance-export.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.starts_with(".ie"), "{page}: {text}");
    }
    assert!(
        !dir.join("captchaai-conformance-man.1").exists(),
        "hidden commands get no page"
    );
    // Hidden from --help, as packaging tools.
    let help = String::from_utf8_lossy(&harness(&["--help"]).stdout).into_owned();
    assert!(
        !help.contains("completions") && help.contains("export"),
        "{help}"
    );
}
