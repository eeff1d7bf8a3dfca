//! Two properties of the wire that are no transcript: BLS and grid images as multipart
//! files, and a CORS preflight, a HEAD probe and JSON array ids.

use super::{Env, K, cases::CASES};
use crate::support::FilePart;

/// BLS and grid images as multipart files: `file_1`..`file_9` stand for `image_base64_1`..`_9`,
/// and a single image may come as `file` or `file_1`.
#[tokio::test]
async fn bls_and_grid_as_multipart_files() {
    let env = Env::main().await;
    let png = |i: u32| FilePart {
        field: format!("file_{i}"),
        filename: format!("tile{i}.png"),
        content_type: "image/png".into(),
        data: crate::support::png(10, 10, i),
    };
    let submit = async |params: &[(&str, &str)], files: &[FilePart]| {
        let mut p = crate::support::pairs(&[("key", K)]);
        p.extend(crate::support::pairs(params));
        crate::support::send(
            env.http
                .post(env.url("in.php"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={}", crate::support::BOUNDARY),
                )
                .body(crate::support::multipart_body(&p, files)),
        )
        .await
        .body
    };
    let bls = [("method", "bls"), ("instructions", "cars")];
    let nine: Vec<FilePart> = (1..=9).map(png).collect();

    let answer = submit(&bls, &nine).await;
    let id: u64 = answer
        .strip_prefix("OK|")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("nine BLS files are accepted, got {answer}"));
    env.solve(id);
    let got = env.res(&[("action", "get"), ("id", &id.to_string())]).await;
    let cells = got.strip_prefix("OK|").expect("solved");
    let cells: Vec<u32> = serde_json::from_str(cells).expect("a JSON array of cells");
    assert!(
        !cells.is_empty() && cells.iter().all(|c| (1..=9).contains(c)),
        "{got}"
    );

    assert_eq!(
        submit(&bls, &nine[..8]).await,
        "ERROR_BAD_PARAMETERS",
        "eight of nine"
    );
    let mut bmp = nine.clone();
    bmp[4].filename = "tile5.bmp".into();
    assert_eq!(submit(&bls, &bmp).await, "ERROR_WRONG_FILE_EXTENSION");
    let mut empty = nine.clone();
    empty[8].data.clear();
    assert_eq!(submit(&bls, &empty).await, "ERROR_ZERO_CAPTCHA_FILESIZE");

    let grid = [("method", "post"), ("recaptcha", "1"), ("grid_size", "3x3")];
    let answer = submit(&grid, &nine[..1]).await;
    assert!(
        answer.starts_with("OK|"),
        "a grid image as file_1: {answer}"
    );
    assert_eq!(submit(&grid, &[]).await, "ERROR_UPLOAD", "no file at all");
}

/// A CORS preflight and a HEAD probe are answered without submitting, reading or reporting
/// anything; a JSON body may carry `ids` as an array.
#[tokio::test]
async fn preflight_probe_and_json_array_ids() {
    let env = Env::main().await;
    let (tkey, page) = (&CASES.vars["TKEY"], &CASES.vars["PAGE"]);
    let submit = format!(
        "in.php?key={K}&method=turnstile&sitekey={tkey}&pageurl={page}&json=1&header_acao=1"
    );
    let pre = env
        .http
        .request(reqwest::Method::OPTIONS, env.url(&submit))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(h["access-control-allow-headers"], "content-type");
    let head = env.http.head(env.url(&submit)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(
        env.mock.task(74_000_000_001).is_none(),
        "neither created a task"
    );
    let a = env
        .submit(&[
            ("method", "turnstile"),
            ("sitekey", tkey.as_str()),
            ("pageurl", page.as_str()),
        ])
        .await;
    let b = env
        .submit(&[
            ("method", "turnstile"),
            ("sitekey", tkey.as_str()),
            ("pageurl", page.as_str()),
        ])
        .await;
    env.solve(a);
    let bulk = crate::support::send(
        env.http
            .post(env.url("res.php"))
            .json(&serde_json::json!({"key": K, "action": "get", "ids": [a, b], "json": 1})),
    )
    .await
    .body;
    let v: serde_json::Value = serde_json::from_str(&bulk).unwrap();
    assert_eq!(v["status"], 1, "{bulk}");
    let parts: Vec<&str> = v["request"].as_str().unwrap().split('|').collect();
    assert_eq!(parts.len(), 2, "{bulk}");
    assert!(parts[0].starts_with("0."), "{bulk}");
    assert_eq!(parts[1], "CAPCHA_NOT_READY");
}
