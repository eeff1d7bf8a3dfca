//! `cases.toml` as types, and what its values mean: `$VARS`, `{b64 ...}` and the other
//! functions, `@set`s of parameters, file specs.

use std::{collections::BTreeMap, sync::LazyLock};

use serde::Deserialize;

use super::{FIRST, K};
use crate::support::{self, FilePart};

/// `cases.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Cases {
    pub(super) vars: BTreeMap<String, String>,
    pub(super) mocks: BTreeMap<String, MockSpec>,
    pub(super) params: BTreeMap<String, Vec<String>>,
    pub(super) setups: BTreeMap<String, Vec<Action>>,
    pub(super) sdk: Vec<SdkMethod>,
    pub(super) case: Vec<Case>,
}

/// A mock configuration and the line its transcripts open with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MockSpec {
    pub(super) label: String,
    pub(super) config: String,
}

/// One method of the official SDK and what it sends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SdkMethod {
    pub(super) name: String,
    pub(super) params: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Case {
    pub(super) name: String,
    pub(super) mock: String,
    pub(super) step: Vec<Step>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Step {
    pub(super) title: String,
    pub(super) mock: Option<String>,
    pub(super) endpoint: Option<String>,
    #[serde(default)]
    pub(super) params: Vec<String>,
    #[serde(default)]
    pub(super) files: Vec<FileSpec>,
    pub(super) encodings: Option<Vec<String>>,
    pub(super) modes: Option<Vec<String>>,
    pub(super) setup: Option<Setup>,
    /// A hand-built request instead of `endpoint` and `params`, shown as `shown`.
    pub(super) raw: Option<Raw>,
    pub(super) shown: Option<String>,
}

/// A named setup from `[setups]`, or the actions themselves.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Setup {
    Named(String),
    Actions(Vec<Action>),
}

/// One thing a setup does after the reset.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) enum Action {
    /// An urlencoded POST to `in.php` with the test key (plain text), which must succeed.
    Submit(Vec<String>),
    /// The same as a multipart POST with files.
    SubmitMultipart {
        params: Vec<String>,
        files: Vec<FileSpec>,
    },
    /// Forces the n-th task (1 = the first id) solved with its own answer.
    Solve(u64),
    /// Forces the n-th task solved with this answer.
    SolveWith { task: u64, answer: String },
    /// Forces the n-th task failed with this code.
    Fail { task: u64, code: String },
    /// A `res.php` request with the test key, whose body must be `expect`.
    Res { params: Vec<String>, expect: String },
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct FileSpec {
    pub(super) field: String,
    pub(super) filename: String,
    pub(super) content_type: String,
    /// Bytes, as in `{b64 ...}`: `png W H SEED`, `png-header W H LEN [fill B from I]`.
    pub(super) data: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct Raw {
    /// `endpoint?query`, values substituted.
    pub(super) url: String,
    pub(super) content_type: String,
    pub(super) body: String,
}

pub(super) static CASES: LazyLock<Cases> = LazyLock::new(|| {
    toml::from_str(include_str!("cases.toml")).unwrap_or_else(|e| panic!("cases.toml: {e}"))
});

/// Bytes from a spec: `png W H SEED`, `png-header W H LEN [fill BYTE from OFFSET]`,
/// `repeat CHAR N`.
pub(super) fn bytes(spec: &str) -> Vec<u8> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let n = |i: usize| -> u64 {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("bytes `{spec}`: word {i} is no number"))
    };
    match words.first().copied() {
        Some("png") => support::png(n(1) as u32, n(2) as u32, n(3) as u32),
        Some("png-header") => {
            let mut v = support::png_header(n(1) as u32, n(2) as u32, n(3) as usize);
            if words.get(4) == Some(&"fill") {
                let from = n(7) as usize;
                v[from..].fill(n(5) as u8);
            }
            v
        }
        Some("repeat") => {
            let c = words.get(1).and_then(|w| w.bytes().next()).unwrap_or(b' ');
            vec![c; n(2) as usize]
        }
        _ => panic!("bytes `{spec}`: unknown"),
    }
}

/// A value with its `$VARS` and `{fn bytes}` substituted; `mode` is this format's `json`.
/// A `{` not followed by a function's name (`b64`, `data-uri`, `text`) is taken as it is.
pub(super) fn value(raw: &str, mode: &str) -> String {
    const FUNCTIONS: [&str; 3] = ["{b64 ", "{data-uri ", "{text "];
    let mut out = String::new();
    let mut rest = raw;
    loop {
        let var = rest.find('$');
        let func = FUNCTIONS.iter().filter_map(|f| rest.find(f)).min();
        let Some(i) = [var, func].into_iter().flatten().min() else {
            break;
        };
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix('$') {
            let len = after
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(&variable(&after[..len], mode, raw));
            rest = &after[len..];
        } else {
            let end = rest
                .find('}')
                .unwrap_or_else(|| panic!("unclosed function in {raw:?}"));
            let (func, spec) = rest[1..end].split_once(' ').unwrap_or_default();
            let data = bytes(spec);
            match func {
                "b64" => out.push_str(&support::b64(&data)),
                "data-uri" => {
                    out.push_str("data:image/png;base64,");
                    out.push_str(&support::b64(&data));
                }
                _ => out.push_str(&String::from_utf8_lossy(&data)),
            }
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// A `$NAME` of `cases.toml`.
pub(super) fn variable(name: &str, mode: &str, raw: &str) -> String {
    match name {
        "K" => K.to_owned(),
        "FIRST" => FIRST.to_owned(),
        "MODE" => mode.to_owned(),
        "OTHER" => (if mode == "1" { "0" } else { "1" }).to_owned(),
        _ => CASES
            .vars
            .get(name)
            .unwrap_or_else(|| panic!("no variable ${name} in {raw:?}"))
            .clone(),
    }
}

/// `name=value` pairs, `@set`s expanded, values substituted.
pub(super) fn params(list: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in list {
        if let Some(set) = item.strip_prefix('@') {
            let set = CASES
                .params
                .get(set)
                .unwrap_or_else(|| panic!("no parameter set @{set}"));
            out.extend(params(set));
        } else {
            let (k, v) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("not name=value: {item:?}"));
            out.push((k.to_owned(), value(v, "")));
        }
    }
    out
}

pub(super) fn files(specs: &[FileSpec]) -> Vec<FilePart> {
    specs
        .iter()
        .map(|f| FilePart {
            field: f.field.clone(),
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            data: bytes(&f.data),
        })
        .collect()
}
