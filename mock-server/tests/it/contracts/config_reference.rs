//! The configuration's contracts cannot drift from its types: `captchaai-mock schema` must
//! equal the committed `docs/mock-config.schema.json`, and `docs/configuration.md` must equal
//! the reference rendered here from that schema (keys, types, defaults and the doc comments
//! of the types, fault rules included).
//!
//! After changing the configuration's types, regenerate both with
//! `CAPTCHAAI_UPDATE_DOCS=1 cargo test -p captchaai-mock --test it contracts`, and read the
//! diff.

use std::{collections::BTreeSet, fmt::Write as _, process::Command};

use serde_json::Value;

use super::docs;

const UPDATE: &str = "CAPTCHAAI_UPDATE_DOCS";

/// `captchaai-mock schema`'s output.
fn schema_text() -> String {
    let out = Command::new(crate::support::child::BIN)
        .arg("schema")
        .output()
        .expect("running captchaai-mock schema");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `file` of `docs/` equals `generated`, or is rewritten with [`UPDATE`] set.
fn check(file: &str, generated: &str) {
    let path = docs(file);
    if std::env::var_os(UPDATE).is_some() {
        std::fs::write(&path, generated).expect("writing the generated file");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/{file} is out of date: regenerate it with\n  {UPDATE}=1 cargo test -p \
         captchaai-mock --test it contracts\nand read the diff"
    );
}

#[test]
fn the_schema_and_the_reference_are_generated_from_the_types() {
    let text = schema_text();
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    check("mock-config.schema.json", &text);
    check("configuration.md", &render(&schema));
}

#[test]
fn the_reference_lists_every_key_with_its_default() {
    let schema: Value = serde_json::from_str(&schema_text()).expect("JSON");
    let md = render(&schema);
    for needle in [
        "| `seed` | integer | `1` |",
        "## `[solving]`",
        "| `result-ttl` | string | `\"15m\"` |",
        "## `[[pingback.rules]]`",
        "## `[api.rate-limits]`",
        "### Fault",
        "- `\"drop\"`: Never deliver.",
        "### Distribution",
    ] {
        assert!(md.contains(needle), "the reference lacks {needle:?}:\n{md}");
    }
}

/// The name a `$ref` points at.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// A definition, when `v` refers to one.
fn def<'a>(schema: &'a Value, v: &Value) -> Option<&'a Value> {
    schema["$defs"].get(ref_name(v)?)
}

/// A struct's definition (one with keys of its own) behind `v`, if any.
fn table<'a>(schema: &'a Value, v: &Value) -> Option<(&'a str, &'a Value)> {
    let name = ref_name(v)?;
    let d = schema["$defs"].get(name)?;
    d.get("properties").is_some().then_some((
        schema["$defs"]
            .as_object()?
            .keys()
            .find(|k| *k == name)?
            .as_str(),
        d,
    ))
}

/// A value's type, in words, linking to the value types below.
fn type_of(v: &Value) -> String {
    if let Some(name) = ref_name(v) {
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = v.get(key).and_then(Value::as_array) {
            let not_null: Vec<&Value> = options.iter().filter(|o| o["type"] != "null").collect();
            if not_null.iter().all(|o| o.get("const").is_some()) {
                return not_null
                    .iter()
                    .map(|o| format!("`{}`", o["const"]))
                    .collect::<Vec<_>>()
                    .join(" or ");
            }
            let shown: Vec<String> = not_null.iter().map(|o| type_of(o)).collect();
            let optional = not_null.len() < options.len();
            return shown.join(" or ") + if optional { " (optional)" } else { "" };
        }
    }
    match &v["type"] {
        Value::Array(types) => {
            let shown: Vec<String> = types
                .iter()
                .filter(|t| *t != "null")
                .map(|t| type_of(&serde_json::json!({ "type": t })))
                .collect();
            shown.join(" or ") + " (optional)"
        }
        Value::String(t) if t == "array" => format!("list of {}", type_of(&v["items"])),
        Value::String(t) if t == "object" => match v.get("additionalProperties") {
            Some(inner) if inner.is_object() => format!("table of {}", type_of(inner)),
            _ => "table".into(),
        },
        Value::String(t) => t.clone(),
        _ => "any".into(),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn description(v: &Value) -> String {
    cell(v["description"].as_str().unwrap_or(""))
}

/// A table of a struct's keys: key, type, default, description.
fn key_table(out: &mut String, props: &Value, required: &BTreeSet<&str>) {
    out.push_str("| key | type | default | |\n|---|---|---|---|\n");
    for (key, p) in props.as_object().into_iter().flatten() {
        let default = match p.get("default") {
            Some(d) => format!("`{}`", cell(&d.to_string())),
            None if required.contains(key.as_str()) => "required".into(),
            None => "none".into(),
        };
        let _ = writeln!(
            out,
            "| `{key}` | {} | {default} | {} |",
            cell(&type_of(p)),
            description(p)
        );
    }
    out.push('\n');
}

fn required(d: &Value) -> BTreeSet<&str> {
    d["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// A section per struct, `[a.b]` (or `[[a.b]]` for a list of them), with its plain keys;
/// structs inside it get sections of their own, after it.
fn sections(schema: &Value, out: &mut String, path: &str, d: &Value, shown: &mut BTreeSet<String>) {
    let props = &d["properties"];
    let plain: serde_json::Map<String, Value> = props
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, p)| table(schema, p).is_none() && table(schema, &p["items"]).is_none())
        .map(|(k, p)| (k.clone(), p.clone()))
        .collect();
    if !plain.is_empty() {
        key_table(out, &Value::Object(plain), &required(d));
    }
    for (key, p) in props.as_object().into_iter().flatten() {
        let full = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let (heading, (name, inner)) = if let Some(t) = table(schema, p) {
            (format!("[{full}]"), t)
        } else if let Some(t) = table(schema, &p["items"]) {
            (format!("[[{full}]]"), t)
        } else {
            continue;
        };
        shown.insert(name.to_owned());
        let _ = writeln!(out, "## `{heading}`\n\n{}\n", description(p));
        if let Some(inner_doc) = inner["description"].as_str()
            && Some(inner_doc) != p["description"].as_str()
        {
            let _ = writeln!(out, "{}\n", cell(inner_doc));
        }
        sections(schema, out, &full, inner, shown);
    }
}

/// The configuration reference, in Markdown.
fn render(schema: &Value) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Every key of the `captchaai-mock` configuration file (`--config FILE`, TOML; flags \
         override it). Generated from the configuration's types, like its JSON schema \
         ([`mock-config.schema.json`](mock-config.schema.json), also printed by \
         `captchaai-mock schema`); a test fails when either drifts from the code.\n\n\
         Durations are strings such as `\"150ms\"`, `\"2s\"` or `\"1m 30s\"`. A key left out \
         takes its default.\n\n## Top level\n\n",
    );
    let mut shown = BTreeSet::new();
    sections(schema, &mut out, "", schema, &mut shown);
    out.push_str(
        "## Value types\n\nThe shapes values take (fault rules' `fault` and `match`, \
         distributions, retry policies, ...): each is one of the forms listed.\n\n",
    );
    for (name, d) in schema["$defs"].as_object().into_iter().flatten() {
        if shown.contains(name) {
            continue;
        }
        let _ = writeln!(out, "### {name}\n\n{}\n", description(d));
        if let Some(options) = d["oneOf"].as_array() {
            for o in options {
                let form = if let Some(c) = o.get("const") {
                    format!("`{c}`")
                } else if let Some((key, inner)) = o["properties"]
                    .as_object()
                    .filter(|m| m.len() == 1)
                    .and_then(|m| m.iter().next())
                {
                    match def(schema, inner)
                        .or(Some(inner))
                        .filter(|i| i.get("properties").is_some())
                    {
                        Some(i) => {
                            let keys: Vec<String> = i["properties"]
                                .as_object()
                                .into_iter()
                                .flatten()
                                .map(|(k, v)| format!("{k} = {}", type_of(v)))
                                .collect();
                            format!("`{{ {key} = {{ {} }} }}`", keys.join(", "))
                        }
                        None => format!("`{{ {key} = ... }}` ({})", type_of(inner)),
                    }
                } else {
                    type_of(o)
                };
                let _ = writeln!(out, "- {}: {}", form.replace('|', "\\|"), description(o));
            }
            out.push('\n');
        } else if d.get("properties").is_some() {
            key_table(&mut out, &d["properties"], &required(d));
        }
    }
    out.trim_end().to_owned() + "\n"
}
