//! `captchaai-receiver`: the reference pingback receiver of `captchaai-client`, deployable in
//! front of an application. Callbacks are stored in memory or in Redis (shared by every
//! replica); the application reads results over HTTP (`api.rs`).
//!
//! A thin crate beside the client library rather than a binary of it: the binary's own
//! dependencies (clap, tracing-subscriber, tracing-appender, anyhow) stay out of the
//! library's dependency tree without a feature a library user could trip over, and
//! `cargo install --path receiver` installs exactly this program.
//!
//! On start it prints one line, `captchaai-receiver listening on http://ADDR`, to stdout
//! (with `--bind 127.0.0.1:0`, ADDR has the port it got); logs go to stderr.
//!
//! Exit codes: 0 after a clean shutdown (SIGINT or SIGTERM: the listener closes, requests in
//! flight get `--shutdown-grace`), 1 when serving fails (address in use, say) or on a second
//! signal during shutdown (exits at once), 2 for bad flags.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `main.rs` | start-up, logs, signals, serving |
//! | `cli.rs` | flags, checked into settings |
//! | `api.rs` | `/results/{id}`, `/register/{id}`, `/healthz` |

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use captchaai_client::receiver::{Receiver, ResultStore};
use clap::Parser as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod api;
mod cli;

use cli::{Args, LogFormat, Settings, StoreChoice};

// mimalloc instead of glibc malloc: each callback allocates and frees its request, its
// parameters, the store call and its answer; with glibc, freeing took about a quarter of a
// replica's CPU time under load (perf, `receiver/benches/replicas.rs`; BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages for this process: mimalloc asks for them, and the kernel
    // then zeroes (and compacts for) 2 MiB at a time whenever the store grows, which stalls
    // every callback in flight for milliseconds. Best effort: a kernel without the flag
    // runs as before.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let args = Args::parse();
    let _logs = init_logs(args.log_format);
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("captchaai-receiver: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = settings.workers {
        runtime.worker_threads(workers);
    }
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("captchaai-receiver: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("captchaai-receiver: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr through a lossy buffer: a stderr nobody reads drops log lines rather than
/// stalling the callbacks.
fn init_logs(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .thread_name("captchaai-receiver-logs")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = match &settings.store {
        StoreChoice::Memory => ResultStore::with_config(settings.limits),
        StoreChoice::Redis(redis) => {
            tracing::info!(url = %redis.url(), prefix = redis.key_prefix(), "result store: redis");
            ResultStore::with_redis(redis.clone(), settings.limits).await?
        }
    };
    if let Err(e) = store.health().await {
        tracing::warn!(error = %e, "the store cannot be reached yet: callbacks are answered 503 until it can");
    }

    let shutdown = CancellationToken::new();
    // Registered before the address is announced: a script may signal the moment it reads it.
    let mut signals = Signals::register()?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        signals.next().await;
        tracing::info!("shutting down (a second signal exits at once)");
        on_signal.cancel();
        signals.next().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(1);
    });

    let listener = TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let addr = listener.local_addr()?;
    announce(&format!("captchaai-receiver listening on http://{addr}"));
    tracing::info!(
        %addr,
        store = store.backend_name(),
        path = settings.receiver.path(),
        registered_only = settings.receiver.is_registered_only(),
        secret = settings.secret.is_some(),
        allow = settings.receiver.allowed_networks().len(),
        "receiving pingbacks"
    );

    let routes = api::routes(api::Api {
        store: store.clone(),
        secret: settings.secret,
        secret_param: settings.secret_param,
        max_wait: settings.max_wait,
    });
    Receiver::new(settings.receiver, store)
        .serve_with(routes, listener, shutdown)
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

/// One line on stdout, flushed (a test or a script reads it to learn the address).
fn announce(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// SIGINT and SIGTERM, as one stream of "a signal came".
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
