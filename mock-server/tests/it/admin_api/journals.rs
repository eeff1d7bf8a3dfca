//! The inbound and outbound journals, their filters and capacity, and the fault rules read
//! and replaced at run time.

use serde_json::json;

use super::{K, api, start, submit_turnstile};

// A little over a hundred lines: one mock's journal read through every filter in turn.
#[tokio::test]
async fn journal_filters_and_capacity() {
    let (mock, admin) = start("[journal]\ncapacity = 6\n").await;
    let http = crate::support::http();
    let url = format!("{}/res.php", mock.uri());
    // One request per encoding, so the journal shows each.
    for enc in crate::support::Encoding::ALL {
        let p = crate::support::pairs(&[("key", K), ("action", "getbalance")]);
        let a = crate::support::send(crate::support::request(&http, &url, enc, &p, &[])).await;
        assert_eq!(a.body, "10");
    }
    let j = admin.get("/journal").await;
    let encodings: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["encoding"].as_str().unwrap())
        .collect();
    assert_eq!(encodings, ["query", "form", "multipart", "json"]);
    let methods: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["http_method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["GET", "POST", "POST", "POST"]);
    let first = &j[0];
    assert_eq!(first["endpoint"], "res.php");
    assert_eq!(first["action"], "getbalance");
    assert_eq!(first["answer"], "10");
    assert!(
        first["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{first}"
    );
    assert!(
        first["params"]
            .as_array()
            .unwrap()
            .contains(&json!(["action", "getbalance"]))
    );

    let a = submit_turnstile(&mock, &[]).await; // seq 5
    let b = submit_turnstile(&mock, &[]).await; // seq 6
    api(
        &mock,
        "res.php",
        &[("action", "get"), ("id", &a.to_string())],
    )
    .await; // seq 7
    api(
        &mock,
        "res.php",
        &[("action", "get"), ("id", &b.to_string())],
    )
    .await; // seq 8
    api(
        &mock,
        "res.php",
        &[("action", "get"), ("id", &a.to_string())],
    )
    .await; // seq 9

    let all = admin.get("/journal").await;
    let seqs: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![4, 5, 6, 7, 8, 9],
        "capacity 6 keeps the newest six"
    );

    let only_a = admin.get(&format!("/journal?task={a}")).await;
    let seqs: Vec<u64> = only_a
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![5, 7, 9]);
    assert_eq!(only_a[0]["endpoint"], "in.php");
    assert_eq!(only_a[0]["action"], "turnstile");
    assert_eq!(only_a[0]["answer"], format!("OK|{a}"));
    assert_eq!(only_a[1]["answer"], "CAPCHA_NOT_READY");

    let submits = admin.get("/journal?endpoint=in.php").await;
    let ids: Vec<u64> = submits
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["task_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![a, b]);
    let since = admin.get("/journal?since=7").await;
    let seqs: Vec<u64> = since
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![8, 9]);
    let limited = admin.get("/journal?since=4&limit=2&endpoint=res.php").await;
    let seqs: Vec<u64> = limited
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![7, 8]);
    assert_eq!(admin.get("/journal?since=100").await, json!([]));
}

#[tokio::test]
async fn rules_can_be_read_and_replaced() {
    let (mock, admin) = start("").await;
    assert_eq!(admin.get("/pingback/rules").await, json!([]));
    let rules = r#"[
        {"name": "dup", "probability": 0.5, "match": {"methods": ["turnstile"]},
         "fault": {"duplicate": {"copies": 2, "spacing": "1s"}}},
        {"fault": "drop"}
    ]"#;
    let (s, v) = admin.call("PUT", "/pingback/rules", Some(rules)).await;
    assert_eq!((s, v), (200, json!({"status": "ok", "rules": 2})));
    let got = admin.get("/pingback/rules").await;
    assert_eq!(got.as_array().map(Vec::len), Some(2), "{got}");
    assert_eq!(got[0]["name"], "dup");
    assert_eq!(got[0]["probability"], 0.5);
    assert_eq!(got[0]["match"]["methods"], json!(["turnstile"]));
    assert_eq!(got[0]["fault"]["duplicate"]["copies"], 2);
    assert_eq!(got[1]["fault"], "drop");

    let bad = [
        (
            r#"[{"fault": "drop"}, {"fault": {"bogus": 1}}]"#,
            "[1].fault",
        ),
        (r#"[{"fault": "drop", "probabilty": 1}]"#, "[0]"),
        (
            r#"[{"fault": {"duplicate": {"copies": "two"}}}]"#,
            "[0].fault.duplicate.copies",
        ),
        (r#"[{"fault": {"delay": {"fixed": "soon"}}}]"#, "[0].fault"),
        (r#"{"fault": "drop"}"#, "invalid rules at"),
        ("not json", "invalid rules at"),
        (r#"[{"fault": "drop"}] trailing"#, "trailing characters"),
        (r#"[{"fault": "drop"}]]"#, "trailing characters"),
    ];
    for (body, path) in bad {
        let (s, v) = admin.call("PUT", "/pingback/rules", Some(body)).await;
        assert_eq!(s, 400, "{body}: {v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with("invalid rules at") && msg.contains(path),
            "{body}: {msg}"
        );
    }
    let (s, v) = admin
        .call(
            "PUT",
            "/pingback/rules",
            Some(r#"[{"fault": "drop", "probability": 2.0}]"#),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("probability"), "{v}");
    assert_eq!(
        admin.get("/pingback/rules").await,
        got,
        "a rejected PUT changes nothing"
    );

    // Tasks submitted afterwards carry a compiled schedule; tasks without a
    // pingback have none.
    let with = submit_turnstile(&mock, &[("pingback", "http://127.0.0.1:9/hook")]).await;
    let without = submit_turnstile(&mock, &[]).await;
    let s1 = admin.get(&format!("/tasks/{with}/schedule")).await;
    assert_eq!(s1["task"], with);
    assert!(s1["schedule"].is_object(), "{s1}");
    assert_eq!(s1["attempts"], json!([]));
    let s2 = admin.get(&format!("/tasks/{without}/schedule")).await;
    assert!(s2["schedule"].is_null(), "{s2}");
    let (s, _) = admin.call("GET", "/tasks/74000000999/schedule", None).await;
    assert_eq!(s, 404);
}
