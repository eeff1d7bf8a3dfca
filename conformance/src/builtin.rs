//! The built-in suite: the repository's `scenarios/` folder compiled into the harness (by
//! `build.rs`), so that `captchaai-conformance run` works from any folder, without a
//! checkout.
//!
//! A built-in scenario is named `builtin:<area>/<name>` (`builtin:receiver/duplicates`,
//! `.toml` optional); `builtin:<area>` names an area, `builtin:` the whole suite. The names
//! are the files' paths under `scenarios/`, so a replay command printed for a built-in
//! scenario (`run builtin:receiver/duplicates.toml --seed 409`) works anywhere, and one
//! printed for a file on disk names that file. `export DIR` writes the files out to be
//! copied and changed.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use crate::scenario::{self, Scenario, ScenarioError};

include!(concat!(env!("OUT_DIR"), "/builtin_scenarios.rs"));

/// What a path starts with when it names built-in scenarios.
pub(crate) const PREFIX: &str = "builtin:";

/// One built-in scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct File {
    /// Its path under `scenarios/`, `/`-separated: `receiver/duplicates.toml`.
    pub(crate) rel: &'static str,
    /// Its text.
    pub(crate) text: &'static str,
}

impl File {
    /// The name that loads it from any folder: `builtin:receiver/duplicates.toml`.
    pub(crate) fn name(&self) -> String {
        format!("{PREFIX}{}", self.rel)
    }

    /// Parses and validates it; its id and area are those of the file on disk
    /// (`receiver/duplicates`, `receiver`), its path its built-in name.
    pub(crate) fn load(&self) -> Result<Scenario, Box<ScenarioError>> {
        let mut s = scenario::parse(self.text, Path::new(&self.name()))?;
        let stem = self.rel.strip_suffix(".toml").unwrap_or(self.rel);
        s.area = stem
            .rsplit_once('/')
            .map(|(area, _)| area.to_owned())
            .unwrap_or_default();
        s.id = stem.to_owned();
        Ok(s)
    }
}

/// Every built-in scenario file, sorted by path.
pub(crate) fn files() -> impl Iterator<Item = File> {
    FILES.iter().map(|&(rel, text)| File { rel, text })
}

/// The built-in name in `path`, when it starts with [`PREFIX`].
pub(crate) fn name_in(path: &Path) -> Option<&str> {
    path.to_str().and_then(|s| s.strip_prefix(PREFIX))
}

/// The text of the built-in file `path` names exactly (`builtin:<area>/<name>.toml`).
pub(crate) fn text_of(path: &Path) -> Option<&'static str> {
    let rel = name_in(path)?;
    files().find(|f| f.rel == rel).map(|f| f.text)
}

/// The built-in files the names select (each once, sorted): `""` every one, `<area>` an
/// area's, `<area>/<name>` (with or without `.toml`) one. A name that selects nothing is an
/// error that says how to list them.
pub(crate) fn select<'a>(names: impl IntoIterator<Item = &'a str>) -> std::io::Result<Vec<File>> {
    let mut out = BTreeSet::new();
    for name in names {
        let name = name.trim_matches('/');
        let file = name.strip_suffix(".toml").unwrap_or(name);
        let area = format!("{name}/");
        let mut any = false;
        for f in files() {
            let stem = f.rel.strip_suffix(".toml").unwrap_or(f.rel);
            if name.is_empty() || stem == file || f.rel.starts_with(&area) {
                any = true;
                out.insert(f);
            }
        }
        if !any {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{PREFIX}{name}: no built-in scenario or area of that name \
                     (`captchaai-conformance list` shows them)"
                ),
            ));
        }
    }
    Ok(out.into_iter().collect())
}

/// Writes every built-in file under `dir` (as `<area>/<name>.toml`) and the scenario schema
/// as `dir/schema.json`. Files already there with other content are refused, before anything
/// is written, unless `overwrite`; the same content is left as it is. Gives the paths written.
pub(crate) fn export(dir: &Path, overwrite: bool) -> Result<Vec<PathBuf>, String> {
    let schema = serde_json::to_string_pretty(&scenario::schema())
        .map_err(|e| format!("the scenario schema: {e}"))?
        + "\n";
    let mut planned: Vec<(PathBuf, String)> = files()
        .map(|f| (dir.join(f.rel), f.text.to_owned()))
        .collect();
    planned.push((dir.join("schema.json"), schema));
    let mut clashes = Vec::new();
    let mut writes = Vec::new();
    for (path, text) in planned {
        match std::fs::read(&path) {
            Ok(old) if old == text.as_bytes() => {}
            Ok(_) if !overwrite => clashes.push(path.display().to_string()),
            Ok(_) => writes.push((path, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => writes.push((path, text)),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        }
    }
    if !clashes.is_empty() {
        return Err(format!(
            "{} file(s) exist with other content (--force overwrites them), nothing was \
             written: {}",
            clashes.len(),
            clashes.join(", ")
        ));
    }
    let mut written = Vec::new();
    for (path, text) in writes {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_select_the_suite_an_area_or_one_file() {
        let all = select([""]).unwrap();
        assert_eq!(all.len(), FILES.len());
        assert!(all.len() > 40, "the whole suite is built in: {}", all.len());
        let receiver = select(["receiver"]).unwrap();
        assert!(!receiver.is_empty());
        assert!(receiver.iter().all(|f| f.rel.starts_with("receiver/")));
        assert_eq!(
            select(["receiver/duplicates"]).unwrap(),
            select(["receiver/duplicates.toml"]).unwrap()
        );
        assert_eq!(select(["receiver/duplicates"]).unwrap().len(), 1);
        // An area and a file in it select the file once.
        assert_eq!(
            select(["receiver", "receiver/duplicates"]).unwrap().len(),
            receiver.len()
        );
        let e = select(["receiver/nope"]).unwrap_err().to_string();
        assert!(e.contains("builtin:receiver/nope"), "{e}");
        // `receive` is a prefix of an area, not an area.
        assert!(select(["receive"]).is_err());
    }

    #[test]
    fn a_builtin_scenario_has_the_id_of_its_file_and_names_itself_for_replay() {
        let f = select(["pingback/early"]).unwrap()[0];
        let s = f.load().unwrap();
        assert_eq!(s.id, "pingback/early");
        assert_eq!(s.area, "pingback");
        assert_eq!(s.path, Path::new("builtin:pingback/early.toml"));
        assert_eq!(text_of(&s.path), Some(f.text));
    }
}
