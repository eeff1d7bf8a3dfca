//! The `captchaai-mock` binary's wiring (the `cli` feature): flags over the configuration
//! file, logging, the runtime, the announcement scripts parse, signals.
//!
//! It lives in the library so that it can use the crate's own serving loops (`serve`,
//! `serve_tls`, the certificate generator) without making them public: a `[[bin]]` target
//! sees only a library's public items, and the public API is for tests. The binary's
//! `main.rs` calls [`main`] and sets the global allocator.
//!
//! Exit codes: 0 after a clean shutdown, 1 when serving fails (port in use,
//! TLS set-up), 2 for bad flags or an invalid config file, 130 or 143 (128 + the signal
//! number) when a second SIGINT or SIGTERM ends the shutdown grace at once. Nothing it writes
//! can panic it: a closed stdout or stderr loses the text, not the exit code.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{BusyMode, Config},
    model::{Dialect, TaskIdEncoding},
    server::serve,
    state::MockState,
    tls,
};

const ADMIN_TOKEN_ENV: &str = "CAPTCHAAI_MOCK_ADMIN_TOKEN";

/// A faithful, seeded mock of the CaptchaAI API (in.php / res.php) with controllable pingback faults.
#[derive(Debug, Parser)]
#[command(
    name = "captchaai-mock",
    version = env!("CAPTCHAAI_VERSION"),
    about,
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// Instead of serving (see `cli_tools`).
    #[command(subcommand)]
    tool: Option<crate::cli_tools::Tool>,
    /// Address to listen on [config: server.bind; default 127.0.0.1:8080].
    #[arg(long, env = "CAPTCHAAI_MOCK_BIND")]
    bind: Option<SocketAddr>,
    /// Seed for every random decision [config: seed; default 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated seconds per real second, e.g. 100 [config: time-scale].
    #[arg(long)]
    time_scale: Option<f64>,
    /// Which service to imitate [config: dialect].
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
    /// TOML configuration file; flags override it.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// An API key to accept (repeatable) [config: accounts].
    #[arg(long = "key")]
    keys: Vec<String>,
    /// Thread cap of every --key account (and the default key) [config: accounts.threads].
    #[arg(long)]
    threads: Option<u32>,
    /// What in.php does when all threads are busy [config: busy-threads].
    #[arg(long, value_enum)]
    busy_threads: Option<BusyArg>,
    /// Task id encoding in JSON answers [config: task-id].
    #[arg(long, value_enum)]
    task_id: Option<IdArg>,
    /// Share of unsolvable tasks, 0 to 1 [config: solving.unsolvable-rate].
    #[arg(long)]
    unsolvable_rate: Option<f64>,
    /// Bearer token for the admin API, not empty [config: admin.token; required to use it when
    /// listening off loopback].
    #[arg(long, env = ADMIN_TOKEN_ENV)]
    admin_token: Option<String>,
    /// Serve HTTPS with a CA generated at start-up [config: server.tls].
    #[arg(long)]
    tls: bool,
    /// Directory for the generated CA certificate [config: server.tls-dir].
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Local address pingbacks are sent from, e.g. 127.0.0.1 [config: pingback.source-address].
    #[arg(long)]
    pingback_source: Option<std::net::IpAddr>,
    /// Runtime worker threads [config: server.workers; default: half the CPUs, at least 1].
    #[arg(long)]
    workers: Option<usize>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DialectArg {
    Captchaai,
    #[value(name = "2captcha")]
    TwoCaptcha,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BusyArg {
    ZeroBalance,
    NoSlot,
    Queue,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum IdArg {
    String,
    Integer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn config_from(args: &Args) -> anyhow::Result<Config> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(b) = args.bind {
        cfg.server.bind = b;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(t) = args.time_scale {
        cfg.time_scale = t;
    }
    if let Some(d) = args.dialect {
        cfg.dialect = match d {
            DialectArg::Captchaai => Dialect::Captchaai,
            DialectArg::TwoCaptcha => Dialect::TwoCaptcha,
        };
    }
    if let Some(b) = args.busy_threads {
        cfg.busy_threads = match b {
            BusyArg::ZeroBalance => BusyMode::ZeroBalance,
            BusyArg::NoSlot => BusyMode::NoSlot,
            BusyArg::Queue => BusyMode::Queue,
        };
    }
    if let Some(i) = args.task_id {
        cfg.task_id = match i {
            IdArg::String => TaskIdEncoding::String,
            IdArg::Integer => TaskIdEncoding::Integer,
        };
    }
    if let Some(r) = args.unsolvable_rate {
        cfg.solving.unsolvable_rate = r;
    }
    for k in &args.keys {
        cfg.add_key(k);
    }
    if let Some(t) = args.threads {
        cfg.set_threads(t);
    }
    if let Some(t) = &args.admin_token {
        cfg.admin.token = Some(t.clone());
    } else if std::env::var_os(ADMIN_TOKEN_ENV).is_some_and(|v| v.is_empty()) {
        // clap reads an empty variable as unset; an empty token is a mistake to report.
        anyhow::bail!(
            "invalid configuration: admin.token: {ADMIN_TOKEN_ENV} is set but empty: \
             unset it, or give a token"
        );
    }
    if args.tls {
        cfg.server.tls = true;
    }
    if let Some(d) = &args.tls_dir {
        cfg.server.tls_dir = Some(d.clone());
    }
    if let Some(w) = args.workers {
        cfg.server.workers = Some(w);
    }
    if let Some(a) = args.pingback_source {
        cfg.pingback.source_address = Some(a);
    }
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(cfg)
}

/// Logs go to stderr through a lossy, non-blocking writer: a stderr nobody reads (a full
/// pipe) drops log lines instead of stalling the API and the pingback dispatcher, and a
/// closed stderr is ignored instead of panicking the task that logged. The guard flushes
/// what is buffered when `main` returns.
///
/// The log thread writes through a buffer, which it flushes each time its queue is empty:
/// an idle mock shows each line at once, a busy one writes many lines per system call
/// instead of one (the request log, one line per request, cost polling a third of its
/// throughput with a write per line; BENCHMARKS.md).
fn init_logs(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(64 * 1024)
        .thread_name("captchaai-mock-logs")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    // Colour only for a person at a terminal who has not asked for none (`NO_COLOR`): a
    // file, a pipe or a CI log gets plain lines to grep.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .log_internal_errors(false);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}

/// The `captchaai-mock` binary: parses the flags (`--help` lists them), serves until SIGINT
/// or SIGTERM, and returns the exit code.
pub fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(tool) = args.tool.take() {
        return crate::cli_tools::run(tool, Args::command());
    }
    let _logs = init_logs(args.log_format);
    let cfg = match config_from(&args) {
        Ok(c) => c,
        Err(e) => {
            complain(&format!("{e:#}"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.server.effective_workers())
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            complain(&format!("starting the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(run(cfg));
    // Tasks still parked (a pingback attempt's timer, say) are not waited for.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain(&format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

/// `captchaai-mock: <message>` on stderr; a stderr that is closed or full loses the line.
fn complain(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "captchaai-mock: {message}");
}

async fn run(cfg: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let bind = cfg.server.bind;
    let tls = cfg.server.tls;
    let limits = serve::Limits {
        header_read_timeout: Some(cfg.server.header_read_timeout),
        shutdown_grace: cfg.server.shutdown_grace,
    };
    // The generated CA goes to `--tls-dir`, or to a private folder with a random name,
    // removed when `run` returns (and before a second signal exits).
    let tls_dir = match (&cfg.server.tls_dir, tls) {
        (Some(dir), true) => Some(TlsDir::Given(dir.clone())),
        (None, true) => {
            let mut builder = tempfile::Builder::new();
            builder.prefix("captchaai-mock-");
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
            Some(TlsDir::Temp(builder.tempdir().context(
                "creating a private folder for the CA certificate",
            )?))
        }
        (_, false) => None,
    };
    let keys: Vec<String> = cfg
        .effective_accounts()
        .into_iter()
        .map(|a| a.key)
        .collect();
    let (seed, scale, dialect) = (cfg.seed, cfg.time_scale, cfg.dialect);
    let workers = cfg.server.effective_workers();
    let open_admin = cfg.admin.token.is_none();
    let state = MockState::new(cfg, shutdown.child_token());

    let signals = Signals::register();
    let cleanup = tls_dir.as_ref().and_then(TlsDir::removable);
    tokio::spawn(signals.handle(shutdown.clone(), cleanup));

    let scheme = if tls { "https" } else { "http" };
    if let Some(dir) = &tls_dir {
        let generated = tls::generate()?;
        let ca_path = tls::write_ca(&generated, dir.path())?;
        let std_listener = std::net::TcpListener::bind(bind).map_err(|e| bind_error(bind, e))?;
        let addr = std_listener.local_addr()?;
        warn_if_admin_closed(addr, open_admin);
        announce(scheme, addr, &keys, (seed, scale, dialect, workers));
        say(&format!("CA certificate: {}", ca_path.display()));
        serve::serve_tls(std_listener, state, &generated, shutdown, limits)
            .await
            .context("serving HTTPS")?;
    } else {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| bind_error(bind, e))?;
        let addr = listener.local_addr()?;
        warn_if_admin_closed(addr, open_admin);
        announce(scheme, addr, &keys, (seed, scale, dialect, workers));
        serve::serve(listener, state, shutdown, limits).await?;
    }
    drop(tls_dir);
    Ok(())
}

/// Why the address cannot be listened on; when another process has it, what to do.
fn bind_error(bind: SocketAddr, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        anyhow::anyhow!(
            "binding {bind}: {e}: another process listens there; choose another port with \
             --bind (config: server.bind), or --bind 127.0.0.1:0 for a free one (the address \
             is printed on the first line)"
        )
    } else {
        anyhow::Error::new(e).context(format!("binding {bind}"))
    }
}

/// Where the generated CA goes.
enum TlsDir {
    /// `--tls-dir`: the user's folder, left in place.
    Given(PathBuf),
    /// A private folder of our own, removed when dropped.
    Temp(tempfile::TempDir),
}

impl TlsDir {
    fn path(&self) -> &std::path::Path {
        match self {
            TlsDir::Given(p) => p,
            TlsDir::Temp(t) => t.path(),
        }
    }

    /// The folder to remove if the process exits without unwinding.
    fn removable(&self) -> Option<PathBuf> {
        match self {
            TlsDir::Given(_) => None,
            TlsDir::Temp(t) => Some(t.path().to_owned()),
        }
    }
}

/// Listening off loopback without a token, the admin API answers no one: say so at start-up.
fn warn_if_admin_closed(addr: SocketAddr, no_token: bool) {
    if no_token && !crate::admin::is_loopback(addr) {
        tracing::warn!(
            "listening on {addr}, off loopback, without admin.token: the admin API answers 403 \
             to everyone; set --admin-token (or CAPTCHAAI_MOCK_ADMIN_TOKEN) to use it"
        );
    }
}

fn announce(
    scheme: &str,
    addr: SocketAddr,
    keys: &[String],
    (seed, scale, dialect, workers): (u64, f64, Dialect, usize),
) {
    // stdout carries the facts scripts parse; logs go to stderr.
    say(&format!("captchaai-mock listening on {scheme}://{addr}"));
    say(&format!(
        "API key: {}",
        keys.first().map(String::as_str).unwrap_or("")
    ));
    for k in keys.iter().skip(1) {
        say(&format!("API key: {k}"));
    }
    say(&format!(
        "seed: {seed}  time scale: {scale}  dialect: {}  workers: {workers}",
        dialect.name()
    ));
}

/// A line on stdout. A reader that went away (`captchaai-mock | head -1`) is not an error:
/// the mock keeps serving.
fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The SIGINT and SIGTERM handlers, registered before the address is announced (a script
/// may signal the moment it reads it; `tokio::signal::ctrl_c()` would only register when first
/// polled, and a signal before that kills the process).
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn register() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// The next SIGINT or SIGTERM: its exit code (128 + its number).
    async fn next(&mut self) -> u8 {
        #[cfg(unix)]
        {
            let interrupt = async {
                match &mut self.interrupt {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminate = async {
                match &mut self.terminate {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt => 130,
                _ = terminate => 143,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            130
        }
    }

    /// The first signal starts the graceful shutdown; a second one, during the grace, exits
    /// at once (after removing `cleanup`, the generated CA's folder).
    async fn handle(mut self, shutdown: CancellationToken, cleanup: Option<PathBuf>) {
        self.next().await;
        shutdown.cancel();
        tracing::info!("shutting down (a second signal exits at once)");
        let code = self.next().await;
        tracing::warn!("second signal: exiting at once");
        if let Some(dir) = cleanup {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(i32::from(code));
    }
}
