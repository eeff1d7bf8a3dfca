//! Item 1: the inbound journal keeps a shortened request, whatever was sent, and is bounded by
//! bytes as well as by entries.

use serde_json::Value;

use super::support::{Mock, http, temp_dir};

/// Twenty 30 MB POSTs to `/res.php?key=WRONG` (`aaaa...`: one parameter with a 30 MB name)
/// once took the mock from 18 MB to 723 MB and `GET /__admin/journal` then answered 600 MB.
/// Rejected requests are journalled, shortened, and values as well as keys are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_30_mb_bodies_are_journalled_in_a_few_hundred_bytes() {
    let mock = Mock::start(&[]);
    let body = "a".repeat(30_000_000);
    for endpoint in ["res.php", "in.php", "res.php"] {
        let answer = http()
            .post(format!("{}/{endpoint}?key=WRONG", mock.loopback_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .expect("the mock answers a 30 MB body")
            .text()
            .await
            .expect("an answer");
        assert_eq!(answer, "ERROR_WRONG_USER_KEY", "{endpoint}");
    }
    // A 30 MB file in a multipart body: the upload is summarised, never kept.
    let mut upload = b"--XX\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\npost\r\n\
--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n\
Content-Type: image/png\r\n\r\n"
        .to_vec();
    upload.extend(std::iter::repeat_n(7u8, 30_000_000));
    upload.extend_from_slice(b"\r\n--XX--\r\n");
    let answer = http()
        .post(format!("{}/in.php?key=WRONG", mock.loopback_url()))
        .header("content-type", "multipart/form-data; boundary=XX")
        .body(upload)
        .send()
        .await
        .expect("the mock answers a 30 MB upload")
        .text()
        .await
        .expect("an answer");
    assert_eq!(answer, "ERROR_WRONG_USER_KEY");

    let journal = http()
        .get(format!("{}/__admin/journal", mock.loopback_url()))
        .send()
        .await
        .expect("the journal answers")
        .text()
        .await
        .expect("a body");
    assert!(
        journal.len() < 4096,
        "4 requests of 30 MB journalled in {} bytes: {}",
        journal.len(),
        &journal[..journal.len().min(600)]
    );
    let entries: Vec<Value> = serde_json::from_str(&journal).expect("JSON");
    assert_eq!(entries.len(), 4, "{journal}");
    for e in &entries {
        assert_eq!(e["answer"], "ERROR_WRONG_USER_KEY", "{e}");
    }
}

/// Shortened as it is written: at most 50 parameters (then a count of the rest), long keys
/// cut, long values as `<N bytes>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_and_long_parameters_are_shortened() {
    let mock = Mock::start(&[]);
    let mut form = format!(
        "{}=long-key&value={}",
        "k".repeat(100_000),
        "v".repeat(100_000)
    );
    for i in 0..5_000 {
        form.push_str(&format!("&p{i}=x"));
    }
    let answer = http()
        .post(format!("{}/res.php?key=WRONG", mock.loopback_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body");
    assert_eq!(answer, "ERROR_WRONG_USER_KEY");
    let (status, journal) = mock.admin("journal").await;
    assert_eq!(status, 200);
    let params = journal[0]["params"].as_array().expect("params").clone();
    assert_eq!(params.len(), 51, "50 kept and one that counts the rest");
    let pair = |i: usize| {
        (
            params[i][0].as_str().unwrap(),
            params[i][1].as_str().unwrap(),
        )
    };
    assert_eq!(pair(0), ("key", "WRONG"));
    let (long_key, _) = pair(1);
    assert!(
        long_key.len() < 100 && long_key.starts_with("kkkk"),
        "{long_key}"
    );
    assert_eq!(pair(2), ("value", "<100000 bytes>"));
    assert_eq!(pair(50), ("…", "<4953 more parameters>"));
}

/// `journal.max-bytes` bounds what the entries hold, whatever their count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbound_journal_is_bounded_by_bytes() {
    let dir = temp_dir();
    let mock = Mock::with_config(dir.path(), "[journal]\nmax-bytes = 262144\n", &[]);
    // Each request journals 50 values of 150 bytes: about 8 KB an entry.
    let mut form = String::from("action=getbalance");
    for i in 0..60 {
        form.push_str(&format!("&p{i}={}", "v".repeat(150)));
    }
    for _ in 0..100 {
        http()
            .post(format!("{}/res.php?key={}", mock.loopback_url(), mock.key))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .expect("an answer");
    }
    let (_, journal) = mock.admin("journal?limit=1000").await;
    let entries = journal.as_array().expect("entries");
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs.last(), Some(&100), "the newest is kept");
    assert!(
        (10..60).contains(&entries.len()),
        "256 KiB hold about 30 entries of 8 KB, kept {}",
        entries.len()
    );
    assert_eq!(
        seqs,
        (seqs[0]..=100).collect::<Vec<_>>(),
        "the oldest fell off, in order"
    );
}
