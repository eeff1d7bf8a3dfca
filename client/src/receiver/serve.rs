//! [`Receiver::serve`](super::Receiver::serve): the receiver's router over TCP, with the
//! limits an endpoint reachable by strangers needs.
//!
//! - **Header read timeout**: a connection that has not sent a complete request head within
//!   the timeout is closed, so a sender that dribbles headers (slowloris) or sits idle on a
//!   keep-alive connection cannot hold a socket for long.
//! - **Bounded graceful shutdown**: on shutdown the listener closes, idle connections close at
//!   once, and requests in flight get the grace period to finish. Whatever is still open then
//!   (a body announced with `Content-Length: 1000` and never sent, a handler stuck on it) is
//!   dropped, and `serve` returns: a half-sent request cannot keep the server alive.
//!
//! One task per connection, tracked so that shutdown waits for exactly those. Each request
//! carries the peer address as axum's [`ConnectInfo`], as
//! `into_make_service_with_connect_info` would give it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

/// After an accept error that is not about one peer (out of file descriptors, say), wait this
/// long before accepting again, as axum's own `serve` does.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The limits `serve` applies.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) header_read_timeout: Duration,
    pub(super) shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains for at most the
/// grace period and closes what is left.
pub(super) async fn serve(
    router: Router,
    listener: TcpListener,
    shutdown: CancellationToken,
    limits: Limits,
) -> io::Result<()> {
    let connections = TaskTracker::new();
    // Cancelled when the grace period is over: the connections still open are dropped.
    let hard_stop = CancellationToken::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                connections.spawn(connection(
                    stream,
                    peer,
                    router.clone(),
                    limits.header_read_timeout,
                    shutdown.clone(),
                    hard_stop.clone(),
                ));
            }
            Err(e) if is_peer_error(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed; retrying in a second");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(limits.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            grace = ?limits.shutdown_grace,
            "connections still open after the shutdown grace period: closing them"
        );
        hard_stop.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// One connection: served until it ends; on shutdown, asked to finish (idle connections close
/// at once); at the end of the grace period, dropped.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                result = conn.as_mut() => result,
                () = hard_stop.cancelled() => {
                    tracing::debug!(%peer, "connection closed at the end of the shutdown grace");
                    return;
                }
            }
        }
    };
    if let Err(e) = result {
        // Header timeouts, resets and malformed requests end here; none is the server's fault.
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Accept errors about one connection (it went away before we took it): accept the next.
fn is_peer_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
