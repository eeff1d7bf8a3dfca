//! The serving loop over real sockets: the peer address reaches the handler, a connection
//! that dribbles its request head is closed after the header read timeout, an idle
//! connection does not hold up shutdown, and a request stuck on a body that never arrives is
//! dropped at the end of the grace period.

use std::{net::SocketAddr, time::Duration};

use axum::{Router, body::Bytes, extract::ConnectInfo, routing::get, routing::post};
use captchaai_http_serve::{Limits, serve};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// Generous bounds: they catch a loop that never closes, not a slow machine.
const BOUND: Duration = Duration::from_secs(10);

fn app() -> Router {
    Router::new()
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
}

async fn start(
    limits: Limits,
) -> (
    SocketAddr,
    CancellationToken,
    JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(app(), listener, shutdown.clone(), limits));
    (addr, shutdown, server)
}

/// Reads until the server closes the connection (or `BOUND` passes); what it sent.
async fn read_to_close(stream: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut out))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn the_handler_sees_the_peer_address() {
    let limits = Limits {
        header_read_timeout: Some(Duration::from_secs(5)),
        shutdown_grace: Duration::from_secs(1),
    };
    let (addr, shutdown, server) = start(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let me = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&me.to_string()), "{answer} names {me}");
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_closed_after_the_timeout() {
    let limits = Limits {
        header_read_timeout: Some(Duration::from_millis(300)),
        shutdown_grace: Duration::from_secs(1),
    };
    let (addr, shutdown, server) = start(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = read_to_close(&mut stream).await;
    assert!(
        closed.is_some(),
        "the connection was still open {BOUND:?} after a 300 ms header timeout"
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn without_a_header_timeout_an_idle_connection_stays_open() {
    let limits = Limits {
        header_read_timeout: None,
        shutdown_grace: Duration::from_secs(1),
    };
    let (addr, shutdown, server) = start(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut byte)).await;
    assert!(
        read.is_err(),
        "the server closed an idle connection: {read:?}"
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_closes_idle_connections_at_once() {
    // A grace far longer than the bound: returning within the bound proves the idle
    // connection did not wait for it.
    let limits = Limits {
        header_read_timeout: None,
        shutdown_grace: Duration::from_secs(600),
    };
    let (addr, shutdown, server) = start(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    shutdown.cancel();
    let done = tokio::time::timeout(BOUND, server).await;
    assert!(
        done.is_ok(),
        "serve waited for an idle keep-alive connection"
    );
    assert!(read_to_close(&mut stream).await.is_some());
}

#[tokio::test]
async fn a_request_stuck_on_its_body_is_dropped_after_the_grace() {
    let limits = Limits {
        header_read_timeout: Some(Duration::from_secs(30)),
        shutdown_grace: Duration::from_millis(300),
    };
    let (addr, shutdown, server) = start(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b")
        .await
        .unwrap();
    // Let the request reach its handler before shutting down.
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    let done = tokio::time::timeout(BOUND, server).await;
    assert!(
        done.is_ok(),
        "serve still waited {BOUND:?} after a 300 ms grace for a body that never comes"
    );
    let answer = read_to_close(&mut stream)
        .await
        .expect("the connection closed");
    assert!(!answer.contains("200 OK"), "{answer}");
}
