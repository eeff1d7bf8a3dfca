//! `bench-ceiling`: the practical ceiling for the mock on this machine.
//!
//! A bare axum server on tokio's multi-thread runtime (by default one worker
//! per core, as most axum servers run; `--workers N` to match the mock's
//! count) with the same answers as the mock, but no state, no parsing, no
//! journal:
//!
//! - `/res.php` answers `{"status":0,"request":"CAPCHA_NOT_READY"}` (JSON),
//!   what the mock says when polled for a pending task with `json=1`;
//! - `/in.php` answers `{"status":1,"request":"<n>"}` with a fresh number each
//!   time, what the mock says to a submit.
//!
//! Whatever the mock does beyond this costs throughput; the benchmark reports
//! the mock as a share of this server.

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router, extract::State, http::header::CONTENT_TYPE, response::IntoResponse, routing::any,
};
use clap::Parser;

/// A bare axum server answering like the mock, for a throughput ceiling.
#[derive(Debug, Parser)]
#[command(name = "bench-ceiling")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// Runtime worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

const NOT_READY: &str = r#"{"status":0,"request":"CAPCHA_NOT_READY"}"#;

async fn not_ready() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], NOT_READY)
}

async fn submitted(State(next): State<Arc<AtomicU64>>) -> impl IntoResponse {
    let id = next.fetch_add(1, Ordering::Relaxed);
    (
        [(CONTENT_TYPE, "application/json")],
        format!(r#"{{"status":1,"request":"{id}"}}"#),
    )
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        builder.worker_threads(usize::from(n));
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-ceiling: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind).await?;
        println!(
            "bench-ceiling listening on http://{}",
            listener.local_addr()?
        );
        let app = Router::new()
            .route("/res.php", any(not_ready))
            .route("/in.php", any(submitted))
            .with_state(Arc::new(AtomicU64::new(74_000_000_001)));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-ceiling: {e}");
            ExitCode::from(1)
        }
    }
}
