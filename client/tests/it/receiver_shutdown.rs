//! `Receiver::serve` against clients that never finish a request: a body cut short must not
//! keep shutdown waiting past its grace period, and headers sent a byte at a time must not
//! hold a connection past the header timeout (slowloris).
//!
//! Real sockets, so the real clock with short limits. Nothing here asserts on speed: each
//! test only needs the server to act before a failure bound ten times the limit.

use std::net::SocketAddr;
use std::time::Duration;

use captchaai_client::receiver::{Receiver, ReceiverConfig, ResultStore};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::{http, ms};

const GRACE: Duration = Duration::from_millis(300);
const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// A receiver served with short limits: its address, its shutdown, and the serve task.
async fn start(store: &ResultStore) -> (SocketAddr, CancellationToken, JoinHandle<()>) {
    let config = ReceiverConfig::default()
        .with_shutdown_grace(GRACE)
        .with_header_read_timeout(HEADER_TIMEOUT)
        .unwrap();
    let receiver = Receiver::new(config, store.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let served = tokio::spawn(async move { receiver.serve(listener, token).await.unwrap() });
    (addr, shutdown, served)
}

/// Reads until the server closes the connection (end of stream or reset); what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn shutdown_completes_within_the_grace_despite_a_half_sent_body() {
    let store = ResultStore::new();
    let (addr, shutdown, served) = start(&store).await;
    // A callback that announces 1000 bytes of body and sends 7.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /pingback HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 1000\r\n\r\nid=1&co",
        )
        .await
        .unwrap();
    // A complete callback on another connection is still answered meanwhile.
    let ok = http()
        .get(format!("http://{addr}/pingback?id=2&code=tok"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    shutdown.cancel();
    tokio::time::timeout(GRACE * 10, served)
        .await
        .expect("serve returned within ten times its grace period")
        .unwrap();
    let answer = tokio::time::timeout(GRACE * 10, read_until_closed(&mut stream))
        .await
        .expect("the half-sent request's connection was closed");
    assert!(
        answer.is_empty(),
        "nothing answered: {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        store
            .get(captchaai_client::TaskId::new(1))
            .await
            .unwrap()
            .is_none(),
        "the cut-short callback stored nothing"
    );
    assert_eq!(
        store
            .get(captchaai_client::TaskId::new(2))
            .await
            .unwrap()
            .unwrap()
            .code(),
        "tok"
    );
}

#[tokio::test]
async fn headers_dribbled_a_byte_at_a_time_are_cut_off_after_the_header_timeout() {
    let store = ResultStore::new();
    let (addr, _shutdown, _served) = start(&store).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /pingback?id=3&code=tok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    // One more header byte every 50 ms, never the blank line that ends the headers; the
    // server must close the connection on its own.
    let (mut reader, mut writer) = stream.into_split();
    let dribble = tokio::spawn(async move {
        for _ in 0..(HEADER_TIMEOUT * 10).as_millis() / 50 {
            tokio::time::sleep(ms(50)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let closed = tokio::time::timeout(HEADER_TIMEOUT * 10, async {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    dribble.abort();
    assert!(
        closed.is_ok(),
        "the connection was still open after ten times the header timeout"
    );
    assert!(
        store
            .get(captchaai_client::TaskId::new(3))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_does_not_delay_shutdown() {
    let store = ResultStore::new();
    let (addr, shutdown, served) = start(&store).await;
    let client = http();
    let answer = client
        .get(format!("http://{addr}/pingback?id=4&code=tok"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    // The client keeps the connection in its pool; shutdown closes it without waiting.
    shutdown.cancel();
    tokio::time::timeout(GRACE * 10, served)
        .await
        .expect("serve returned")
        .unwrap();
    drop(client);
}
