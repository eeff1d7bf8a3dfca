//! Build script: embeds the repository's `scenarios/` folder into the harness (the built-in
//! suite, `captchaai-conformance run` with no path).
//!
//! It writes `$OUT_DIR/builtin_scenarios.rs`: one `(path under scenarios/, include_str!(file))`
//! entry per `*.toml` file, sorted by path. `include_str!` makes every file a dependency of the
//! crate, and `rerun-if-changed` on the folder regenerates the list when a file is added or
//! removed.
//!
//! It also sets the version `--version` prints, with the commit (see
//! `build-support/version.rs`).

use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

#[path = "../build-support/version.rs"]
mod version;

fn main() {
    version::emit();
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("..").join("scenarios");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    if let Err(e) = walk(&dir, &mut files) {
        panic!(
            "the built-in scenarios are read from {}: {e}",
            dir.display()
        );
    }
    files.sort();
    let mut out = String::from(
        "/// Every `*.toml` file of `scenarios/` at build time: its path under that folder \
         (`/`-separated) and its text.\npub(crate) static FILES: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        let rel = file
            .strip_prefix(&dir)
            .expect("walked from dir")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let abs = fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    fs::write(out_dir.join("builtin_scenarios.rs"), out).expect("writing to OUT_DIR");
}

/// Every `*.toml` file under `dir`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    Ok(())
}
