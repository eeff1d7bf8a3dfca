//! Item 6: pingbacks to one receiver host that accepts and never answers must not starve
//! the callbacks of every other host.

use std::time::Duration;

use tokio::{io::AsyncReadExt as _, io::AsyncWriteExt as _, net::TcpListener};

use super::support::{Mock, eventually, temp_dir};

/// Accepts every connection and never answers.
async fn hanging_receiver() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    port
}

/// Answers every request `200 OK` with body `OK`.
async fn healthy_receiver() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nOK")
                        .await;
                }
            });
        }
    });
    port
}

async fn submit(mock: &Mock, pingback: &str) {
    let answer = mock.submit_with_pingback(pingback).await;
    assert!(answer.starts_with("OK|"), "{answer}");
}

/// A queue of 40 once filled with one hanging host's callbacks and shed a healthy host's at
/// once. Each host now gets at most `pingback.queue-capacity-per-host` of it (10 here; 10 000
/// of 100 000 by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_host_does_not_shed_a_healthy_hosts_pingbacks() {
    let dir = temp_dir();
    let mock = Mock::with_config(
        dir.path(),
        "time-scale = 10.0\n[solving]\ndefault-time = { fixed = \"1s\" }\n\
         [pingback]\nqueue-capacity = 40\nqueue-capacity-per-host = 10\nattempt-timeout = \"1h\"\n",
        &[],
    );
    let hanging = hanging_receiver().await;
    let healthy = healthy_receiver().await;
    for _ in 0..45 {
        submit(&mock, &format!("http://127.0.0.1:{hanging}/hook")).await;
    }
    let settled = eventually(Duration::from_secs(15), async || {
        let (_, health) = mock.admin("health").await;
        let p = &health["pingbacks"];
        p["pending"].as_u64().unwrap_or(0) + p["shed"].as_u64().unwrap_or(0) == 45
    })
    .await;
    let (_, health) = mock.admin("health").await;
    assert!(settled, "45 callbacks pending or shed: {health}");

    submit(&mock, &format!("http://127.0.0.1:{healthy}/hook")).await;
    let delivered = eventually(Duration::from_secs(15), async || {
        let (_, attempts) = mock.admin("pingbacks?task=74000000046").await;
        attempts
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["outcome"]["result"] == "delivered"))
    })
    .await;
    let (_, attempts) = mock.admin("pingbacks?task=74000000046").await;
    assert!(delivered, "the healthy host's callback: {attempts:#}");
    let (_, health) = mock.admin("health").await;
    assert_eq!(
        health["pingbacks"]["shed"], 35,
        "the hanging host holds its quarter: {health}"
    );
}
