//! Finding scenario files: every `*.toml` under the given files and folders.

use std::path::{Path, PathBuf};

/// Every `*.toml` file under the given files and folders, sorted, without duplicates.
pub(crate) fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let p = entry?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or folder", p.display()),
            ));
        }
    }
    out.sort();
    // The same file reached by two paths (`scenarios` and `./scenarios/a/b.toml`) is one file.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}
