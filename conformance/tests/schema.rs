//! The JSON schema of scenario files is generated from the raw types and
//! committed as `scenarios/schema.json`; this test fails when they drift.

#[test]
fn committed_schema_matches_the_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/schema.json");
    let committed = std::fs::read_to_string(path).expect("scenarios/schema.json is committed");
    let generated =
        serde_json::to_string_pretty(&captchaai_conformance::scenario::schema()).unwrap();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "scenarios/schema.json is out of date; regenerate it with\n  cargo run -p captchaai-conformance -- schema > scenarios/schema.json"
    );
}

#[test]
fn the_schema_describes_the_fault_rules_and_durations() {
    let schema = captchaai_conformance::scenario::schema().to_string();
    for needle in [
        "faults",
        "duplicate",
        "reorder",
        "malformed",
        "log-normal",
        "fallback-after",
        "svix",
        "workload",
    ] {
        assert!(schema.contains(needle), "schema mentions {needle}");
    }
    // deny_unknown_fields becomes additionalProperties: false.
    assert!(schema.contains("\"additionalProperties\":false"));
}
