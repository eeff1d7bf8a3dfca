//! Where the tests find the workspace's binaries: next to this test's own executable
//! (`<target>/<profile>/captchaai-mock`, `<target>/<profile>/examples/batch`, ...).
//!
//! `cargo test -p captchaai-e2e` does not build other crates' binaries, and `cargo test`
//! compiles examples without putting them there, so `scripts/test.sh` runs
//! `cargo build --workspace --bins --examples` first. A missing binary fails the test with the
//! command that builds it; one older than its sources is used, with a warning.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `<target>/<profile>`: this test runs from `<target>/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in <target>/<profile>/deps")
        .to_path_buf()
}

/// A binary built by cargo, or a failure that says how to build it. A binary older than its
/// sources is used, with a warning: it may not be what the sources say.
fn built(path: PathBuf, build: &str, sources: &[&str]) -> PathBuf {
    let path = path.with_extension(std::env::consts::EXE_EXTENSION);
    assert!(
        path.is_file(),
        "{} is missing: run `{build}` first (scripts/test.sh builds every binary and \
         example before testing)",
        path.display()
    );
    let built_at = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    let newest = sources
        .iter()
        .filter_map(|dir| newest_change(&workspace().join(dir)))
        .max();
    if let (Some(built_at), Some(newest)) = (built_at, newest)
        && newest > built_at
    {
        eprintln!(
            "warning: {} is older than its sources; run `{build}` to test the current code",
            path.display()
        );
    }
    path
}

/// The latest modification time of any file under `dir`.
fn newest_change(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_change(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

/// The workspace root (scenario files and adapters are named from there).
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `captchaai-mock` binary (`CARGO_BIN_EXE_captchaai-mock` overrides the path).
pub(crate) fn mock() -> PathBuf {
    match std::env::var_os("CARGO_BIN_EXE_captchaai-mock") {
        Some(path) => PathBuf::from(path),
        None => built(
            profile_dir().join("captchaai-mock"),
            "cargo build -p captchaai-mock --bin captchaai-mock",
            &["mock-server/src"],
        ),
    }
}

/// The `captchaai-conformance` binary (`CARGO_BIN_EXE_captchaai-conformance` overrides the
/// path).
pub(crate) fn conformance() -> PathBuf {
    match std::env::var_os("CARGO_BIN_EXE_captchaai-conformance") {
        Some(path) => PathBuf::from(path),
        None => built(
            profile_dir().join("captchaai-conformance"),
            "cargo build -p captchaai-conformance --bin captchaai-conformance",
            &["conformance/src", "mock-server/src", "client/src"],
        ),
    }
}

/// The client crate's `batch` example.
pub(crate) fn batch_example() -> PathBuf {
    built(
        profile_dir().join("examples").join("batch"),
        "cargo build -p captchaai-client --example batch",
        &["client/src", "client/examples"],
    )
}
