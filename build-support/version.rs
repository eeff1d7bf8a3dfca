//! The version both binaries print with `--version`, shared by their build scripts
//! (`#[path]`-included): the package version and the commit it was built from,
//! `0.1.0 (commit 8d5de05a1b2c)`.
//!
//! The commit comes from `CAPTCHAAI_BUILD_COMMIT` when set (a build from a source archive,
//! which has no `.git`), else from `git rev-parse` in the package's folder. With neither (no
//! git, no repository), the version is the package version alone: a build never fails for
//! want of git. The script reruns when `HEAD` or the branch it names moves.

use std::{path::Path, process::Command};

/// Sets `CAPTCHAAI_VERSION` for the crate being built.
pub(crate) fn emit() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build-support/version.rs");
    println!("cargo:rerun-if-env-changed=CAPTCHAAI_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=GIT_DIR");
    let package = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = std::env::var("CAPTCHAAI_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.trim().to_owned())
        .or_else(git_commit);
    let version = match commit {
        Some(c) => format!("{package} (commit {c})"),
        None => package,
    };
    println!("cargo:rustc-env=CAPTCHAAI_VERSION={version}");
}

/// `git` with these arguments in the package's folder: its trimmed stdout, if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// The short commit of `HEAD`, watching the files that move with it.
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}
