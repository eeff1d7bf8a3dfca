//! `bench-driver`: the parts of the benchmark that `wrk` and the shell cannot
//! do well.
//!
//! - `startup`: spawns a server again and again and measures the time to its
//!   first HTTP 200, polling with a tight loop (100 µs between refused
//!   connects); prints the runs and the median as JSON.
//! - `load`: a keep-alive HTTP/1.1 load generator bounded by a request count
//!   and a time limit (used to submit a million tasks); counts answers whose
//!   body starts with an expected prefix.
//! - `flood`: large request bodies, and the server's RSS before, at its peak and after
//!   (the mock's worst-case inbound journal).
//! - `dashboard`: an open dashboard page without a browser: the event stream held open and
//!   read, and the page's fetches on each event, for a fixed time.
//! - `wait-ready`, `get`, `free-port`, `rss`: small helpers for `run.sh`.
//! - `report`: reads a results directory written by `run.sh` and prints the
//!   side-by-side table with ratios and targets (Markdown).
//!
//! Every loop here is bounded in time; every address must be on loopback.

// Wall-clock time is the point of a benchmark: nothing here is simulated.
#![allow(clippy::disallowed_methods)]

mod dashboard;
mod flood;
mod report;

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Command, ExitCode, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Benchmark helpers: start-up timing, bounded load, results table.
#[derive(Debug, Parser)]
#[command(name = "bench-driver")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Prints a free TCP port on 127.0.0.1.
    FreePort,
    /// Waits until a URL answers HTTP 200.
    WaitReady {
        /// `http://127.0.0.1:PORT/path?query`.
        #[arg(long)]
        url: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// GETs a URL once and prints the body.
    Get {
        /// `http://127.0.0.1:PORT/path?query`.
        #[arg(long)]
        url: String,
    },
    /// Prints the resident set size of a process in KiB (`VmRSS`).
    Rss {
        /// Process id.
        #[arg(long)]
        pid: u32,
    },
    /// Measures the time from spawn to the first HTTP 200, several times.
    Startup {
        /// Number of runs.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// URL to poll; `{port}` is replaced by a free port for each run.
        #[arg(long)]
        url: String,
        /// Give up on a run after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
        /// The server command line; `{port}` is replaced as in the URL.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Sends GET requests over keep-alive connections until a count or a time limit.
    Load {
        /// URL to GET.
        #[arg(long)]
        url: String,
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Total requests.
        #[arg(long)]
        count: u64,
        /// Stop after this many seconds even if the count is not reached.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
        /// Count an answer as good when its body starts with this.
        #[arg(long, default_value = "")]
        expect: String,
    },
    /// POSTs large bodies, one request per connection, and measures a process's RSS before,
    /// at its peak (`VmHWM`) and a second after; prints JSON.
    Flood {
        /// URL to POST to.
        #[arg(long)]
        url: String,
        /// Requests in all.
        #[arg(long)]
        count: u64,
        /// Body bytes per request.
        #[arg(long)]
        bytes: usize,
        /// Requests at once.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// The server's process id.
        #[arg(long)]
        pid: u32,
        /// Count an answer as expected when its body starts with this.
        #[arg(long, default_value = "")]
        expect: String,
    },
    /// Holds the dashboard's event stream open and does the page's fetches on each event,
    /// for a fixed time; prints what it did as JSON.
    Dashboard {
        /// The admin base URL, `http://127.0.0.1:PORT/__admin`.
        #[arg(long)]
        url: String,
        /// How long to stay open.
        #[arg(long)]
        secs: u64,
    },
    /// Prints the results table of a `run.sh` results directory.
    Report {
        /// The results directory.
        dir: PathBuf,
    },
}

/// A loopback URL split into what a raw HTTP/1.1 request needs.
#[derive(Clone, Debug)]
struct Target {
    addr: SocketAddr,
    path: String,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .context("only http:// URLs are supported")?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = host
            .parse()
            .with_context(|| format!("{host}: expected IP:PORT"))?;
        if !addr.ip().is_loopback() {
            bail!("{addr}: the benchmark only sends traffic to loopback addresses");
        }
        let path = if path.is_empty() { "/" } else { path }.to_owned();
        Ok(Target { addr, path })
    }

    fn request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bench-driver\r\n\r\n",
            self.path, self.addr
        )
        .into_bytes()
    }
}

/// Finds the end of the head and the body length of an HTTP/1.1 response.
fn parse_head(buf: &[u8]) -> Option<(usize, u16, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let status = head.get(9..12)?.parse().ok()?;
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    Some((end, status, len))
}

/// One blocking request on a fresh connection: status and body.
fn get_once(target: &Target, timeout: Duration) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&target.addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    s.write_all(&target.request())?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some((end, status, len)) = parse_head(&buf)
            && buf.len() >= end + len
        {
            return Ok((status, buf[end..end + len].to_vec()));
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn wait_ready(target: &Target, timeout: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = get_once(target, Duration::from_secs(2)) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("{} did not answer 200 within {timeout:?}", target.addr);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A process's resident set size in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// A KiB figure of `/proc/PID/status` (`VmRSS`, `VmHWM`, ...).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} line"))
}

fn median_ms(runs: &[f64]) -> f64 {
    let mut v = runs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn startup(
    runs: usize,
    url: &str,
    timeout: Duration,
    command: &[String],
) -> anyhow::Result<serde_json::Value> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let port = free_port()?.to_string();
        let target = Target::parse(&url.replace("{port}", &port))?;
        let args: Vec<String> = command.iter().map(|a| a.replace("{port}", &port)).collect();
        let start = Instant::now();
        let mut child = Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", args[0]))?;
        let result = wait_ready(&target, timeout).map(|_| start.elapsed());
        // Stopped by its own process id, whatever happened.
        let _ = child.kill();
        let _ = child.wait();
        let took = result?;
        times.push(took.as_secs_f64() * 1000.0);
        // Let the port and the CPU settle between runs.
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(serde_json::json!({
        "runs_ms": times,
        "median_ms": median_ms(&times),
        "min_ms": times.iter().copied().fold(f64::INFINITY, f64::min),
        "max_ms": times.iter().copied().fold(0.0, f64::max),
    }))
}

async fn load_worker(
    target: Arc<Target>,
    next: Arc<AtomicU64>,
    good: Arc<AtomicU64>,
    count: u64,
    expect: Arc<[u8]>,
    deadline: tokio::time::Instant,
) -> anyhow::Result<u64> {
    let mut s = tokio::net::TcpStream::connect(target.addr).await?;
    s.set_nodelay(true)?;
    let req = target.request();
    let mut buf = Vec::with_capacity(4096);
    let mut done = 0u64;
    while next.fetch_add(1, Ordering::Relaxed) < count && tokio::time::Instant::now() < deadline {
        s.write_all(&req).await?;
        buf.clear();
        let (end, status, len) = loop {
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(4096);
            }
            if s.read_buf(&mut buf).await? == 0 {
                bail!("connection closed by the server");
            }
            if let Some(h) = parse_head(&buf) {
                break h;
            }
        };
        while buf.len() < end + len {
            if s.read_buf(&mut buf).await? == 0 {
                bail!("connection closed by the server");
            }
        }
        if status == 200 && buf[end..end + len].starts_with(&expect) {
            good.fetch_add(1, Ordering::Relaxed);
        }
        done += 1;
    }
    Ok(done)
}

async fn load(
    url: &str,
    connections: usize,
    count: u64,
    timeout: Duration,
    expect: &str,
) -> anyhow::Result<serde_json::Value> {
    let target = Arc::new(Target::parse(url)?);
    let next = Arc::new(AtomicU64::new(0));
    let good = Arc::new(AtomicU64::new(0));
    let expect: Arc<[u8]> = Arc::from(expect.as_bytes());
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(load_worker(
                target.clone(),
                next.clone(),
                good.clone(),
                count,
                expect.clone(),
                deadline,
            ))
        })
        .collect();
    let mut requests = 0;
    for w in workers {
        requests += w.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "requests": requests,
        "good": good.load(Ordering::Relaxed),
        "seconds": secs,
        "rate": requests as f64 / secs,
        "timed_out": requests < count,
    }))
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::FreePort => println!("{}", free_port()?),
        Cmd::WaitReady { url, timeout_secs } => {
            let took = wait_ready(&Target::parse(&url)?, Duration::from_secs(timeout_secs))?;
            eprintln!("ready after {took:.2?}");
        }
        Cmd::Get { url } => {
            let (status, body) = get_once(&Target::parse(&url)?, Duration::from_secs(10))?;
            if status != 200 {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
            }
            println!("{}", String::from_utf8_lossy(&body));
        }
        Cmd::Rss { pid } => println!("{}", rss_kib(pid)?),
        Cmd::Startup {
            runs,
            url,
            timeout_secs,
            command,
        } => {
            let v = startup(runs, &url, Duration::from_secs(timeout_secs), &command)?;
            println!("{v}");
        }
        Cmd::Load {
            url,
            connections,
            count,
            timeout_secs,
            expect,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let v = rt.block_on(load(
                &url,
                connections,
                count,
                Duration::from_secs(timeout_secs),
                &expect,
            ))?;
            println!("{v}");
        }
        Cmd::Flood {
            url,
            count,
            bytes,
            connections,
            pid,
            expect,
        } => {
            let v = flood::run(&url, count, bytes, connections, pid, &expect)?;
            println!("{v}");
        }
        Cmd::Dashboard { url, secs } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let v = rt.block_on(dashboard::run(&url, Duration::from_secs(secs)))?;
            println!("{v}");
        }
        Cmd::Report { dir } => print!("{}", report::render(&dir)?),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-driver: {e:#}");
            ExitCode::from(1)
        }
    }
}
