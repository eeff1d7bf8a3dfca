//! An axum [`Router`] over TCP, with the limits a server that strangers may reach needs.
//! The mock (`captchaai-mock`) and the reference receiver (`captchaai-client`) both serve
//! this way; this crate is their common part and not meant as an API of its own.
//!
//! - **Header read timeout**: a connection that has not sent a complete request head within
//!   it is closed, so a client that dribbles headers (slowloris) or sits idle on a keep-alive
//!   connection cannot hold a socket, and with enough of them every file descriptor, for long.
//! - **Bounded graceful shutdown**: when the token fires the listener closes, idle connections
//!   close at once, and requests in flight get the grace period to finish; whatever is still
//!   open then (a body announced with `Content-Length: 1000` and never sent, a handler stuck
//!   on it) is dropped and [`serve`] returns: a half-sent request cannot keep a server alive.
//!
//! One task per connection, tracked so that shutdown waits for exactly those; each request
//! carries the peer address as axum's [`ConnectInfo`], as `into_make_service_with_connect_info`
//! would give it.
//!
//! `axum::serve` has neither limit: it sets no timer, so no header timeout, and its graceful
//! shutdown waits for every connection without end.

use std::{io, net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt as _;

/// After an accept error that is not about one peer (out of file descriptors, say), wait this
/// long before accepting again, as `axum::serve` does.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The limits [`serve`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may take to send a complete request head. `None` leaves idle
    /// connections open: a server under tokio's paused clock (a test) would otherwise close
    /// its client's pooled connections whenever simulated time jumps.
    pub header_read_timeout: Option<Duration>,
    /// How long requests in flight may take to finish after shutdown.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` fires, then drains for at most the grace
/// period and closes what is left.
///
/// # Errors
///
/// None today: accept errors are retried (after a second when they are not about one peer).
/// The `io::Result` leaves room for a listener that fails for good.
pub async fn serve(
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
            "connections still open after the shutdown grace: closing them"
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
    header_read_timeout: Option<Duration>,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if let Some(timeout) = header_read_timeout {
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout);
    }
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
