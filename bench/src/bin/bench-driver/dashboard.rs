//! `bench-driver dashboard`: the load an open dashboard page (`GET /__admin/`) puts on the
//! mock, without a browser. It holds the event stream (`GET /__admin/events`) open and reads
//! it; on each event it does what the page's JavaScript does (mock-server's
//! `src/admin/dashboard.html`, `refresh`/`update`), in the same order, on one keep-alive
//! connection:
//!
//! - `GET /health`, `GET /tasks?newest=true&limit=1000`,
//!   `GET /pingbacks?since=LAST&limit=5000`, `GET /journal?since=LAST&limit=500`, where
//!   `LAST` is the `seq` of the last entry seen so far;
//! - on `resync`, `LAST` starts again from 0 and `GET /pingback/rules` follows;
//! - one refresh at a time: events that arrive during a refresh make exactly one more
//!   (a `resync` among them makes it a full one), as the page's `busy`/`again` flags do;
//! - a refresh every 3 s besides the stream, as the page's `setInterval`.
//!
//! It runs for a fixed time, then prints what it did as JSON: events read, refreshes,
//! requests, bytes, and answers that were not HTTP 200.

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::{Mutex, Notify},
};

use crate::{Target, parse_head};

/// The page's limits (`SHOWN_TASKS`, `KEEP_ATTEMPTS`, `KEEP_REQUESTS`).
const SHOWN_TASKS: u32 = 1000;
const KEEP_ATTEMPTS: u32 = 5000;
const KEEP_REQUESTS: u32 = 500;
/// The page's slow refresh besides the stream.
const INTERVAL: Duration = Duration::from_secs(3);

/// A refresh asked for and not yet started (the page's `again` and `fullNext`).
#[derive(Default)]
struct Pending {
    wanted: bool,
    full: bool,
}

#[derive(Default)]
struct Counts {
    change_events: u64,
    resync_events: u64,
    refreshes: u64,
    requests: u64,
    bytes: u64,
    not_ok: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
    counts: Mutex<Counts>,
}

impl Shared {
    async fn ask(&self, full: bool) {
        let mut p = self.pending.lock().await;
        p.wanted = true;
        p.full |= full;
        drop(p);
        self.wake.notify_one();
    }
}

/// Runs one dashboard client against `base` (`http://127.0.0.1:PORT/__admin`) for `run_for`.
pub(crate) async fn run(base: &str, run_for: Duration) -> anyhow::Result<serde_json::Value> {
    let base = Target::parse(base)?;
    let shared = Arc::new(Shared {
        pending: Mutex::default(),
        wake: Notify::new(),
        counts: Mutex::default(),
    });
    let stream = tokio::spawn(read_events(base.clone(), shared.clone()));
    let fetcher = tokio::spawn(fetch_loop(base, shared.clone()));
    let ticker = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut every =
                tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
            loop {
                every.tick().await;
                shared.ask(false).await;
            }
        })
    };
    tokio::time::sleep(run_for).await;
    for task in [&stream, &fetcher, &ticker] {
        task.abort();
    }
    // A part that stopped before the run did stopped on an error: the figures would not be
    // a dashboard's.
    for (name, task) in [("event stream", stream), ("fetches", fetcher)] {
        match task.await {
            Ok(Err(e)) => return Err(e.context(name)),
            Ok(Ok(())) => bail!("{name}: ended before the run did"),
            Err(e) if e.is_cancelled() => {}
            Err(e) => bail!("{name}: {e}"),
        }
    }
    let c = shared.counts.lock().await;
    Ok(serde_json::json!({
        "seconds": run_for.as_secs_f64(),
        "change_events": c.change_events,
        "resync_events": c.resync_events,
        "refreshes": c.refreshes,
        "requests": c.requests,
        "bytes": c.bytes,
        "not_ok": c.not_ok,
    }))
}

/// Reads the event stream and asks for a refresh on each `change` or `resync`.
async fn read_events(base: Target, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(base.addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "GET {}/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nUser-Agent: bench-driver\r\n\r\n",
        base.path, base.addr
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(8192);
    let mut head_seen = false;
    loop {
        if s.read_buf(&mut buf).await? == 0 {
            bail!("the mock closed the event stream");
        }
        if !head_seen {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let status = std::str::from_utf8(&buf[..end])
                .ok()
                .and_then(|h| h.get(9..12)?.parse::<u16>().ok());
            if status != Some(200) {
                bail!("event stream: HTTP {status:?}");
            }
            buf.drain(..end + 4);
            head_seen = true;
        }
        // Whole lines only; the rest waits for the next read. Chunk-size lines of the
        // chunked encoding never start with `event:`.
        let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        for full in buf[..last_nl].split(|&b| b == b'\n').filter_map(event_kind) {
            {
                let mut c = shared.counts.lock().await;
                if full {
                    c.resync_events += 1;
                } else {
                    c.change_events += 1;
                }
            }
            shared.ask(full).await;
        }
        buf.drain(..=last_nl);
    }
}

/// What a line of the stream asks for: `Some(false)` a refresh (`event: change`),
/// `Some(true)` a full one (`event: resync`), `None` nothing (data, comments, keep-alives,
/// chunk sizes).
fn event_kind(line: &[u8]) -> Option<bool> {
    match line.strip_prefix(b"event:")?.trim_ascii() {
        b"change" => Some(false),
        b"resync" => Some(true),
        _ => None,
    }
}

/// One refresh at a time, as the page's `update` does.
async fn fetch_loop(base: Target, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut conn: Option<TcpStream> = None;
    let (mut last_attempt, mut last_request) = (0u64, 0u64);
    loop {
        let full = loop {
            {
                let mut p = shared.pending.lock().await;
                if p.wanted {
                    let full = p.full;
                    *p = Pending::default();
                    break full;
                }
            }
            shared.wake.notified().await;
        };
        if full {
            (last_attempt, last_request) = (0, 0);
        }
        let mut paths = vec![
            "/health".to_owned(),
            format!("/tasks?newest=true&limit={SHOWN_TASKS}"),
        ];
        paths.push(format!(
            "/pingbacks?since={last_attempt}&limit={KEEP_ATTEMPTS}"
        ));
        paths.push(format!(
            "/journal?since={last_request}&limit={KEEP_REQUESTS}"
        ));
        if full {
            paths.push("/pingback/rules".to_owned());
        }
        for path in &paths {
            let (status, body) = get(&mut conn, &base, path).await?;
            {
                let mut c = shared.counts.lock().await;
                c.requests += 1;
                c.bytes += body.len() as u64;
                if status != 200 {
                    c.not_ok += 1;
                }
            }
            // The page reads the last entry's `seq` of the two journals.
            let last = if path.starts_with("/pingbacks") {
                Some(&mut last_attempt)
            } else if path.starts_with("/journal") {
                Some(&mut last_request)
            } else {
                None
            };
            if let Some(last) = last
                && status == 200
            {
                let list: serde_json::Value =
                    serde_json::from_slice(&body).with_context(|| format!("{path}: not JSON"))?;
                if let Some(seq) = list
                    .as_array()
                    .and_then(|a| a.last())
                    .and_then(|e| e.get("seq")?.as_u64())
                {
                    *last = seq;
                }
            }
        }
        shared.counts.lock().await.refreshes += 1;
    }
}

/// One GET on the keep-alive connection (opened again when the mock closed it).
async fn get(
    conn: &mut Option<TcpStream>,
    base: &Target,
    path: &str,
) -> anyhow::Result<(u16, Vec<u8>)> {
    for _ in 0..2 {
        let s = match conn {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(base.addr).await?;
                s.set_nodelay(true)?;
                conn.insert(s)
            }
        };
        match get_on(s, base, path).await {
            Ok(answer) => return Ok(answer),
            Err(_) => *conn = None,
        }
    }
    bail!("{path}: no answer on a fresh connection")
}

async fn get_on(s: &mut TcpStream, base: &Target, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let req = format!(
        "GET {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: bench-driver\r\n\r\n",
        base.path, base.addr
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let (end, status, len) = loop {
        if s.read_buf(&mut buf).await? == 0 {
            bail!("connection closed");
        }
        if let Some(h) = parse_head(&buf) {
            break h;
        }
    };
    let chunked = std::str::from_utf8(&buf[..end])
        .unwrap_or("")
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if !chunked {
        while buf.len() < end + len {
            if s.read_buf(&mut buf).await? == 0 {
                bail!("connection closed");
            }
        }
        return Ok((status, buf[end..end + len].to_vec()));
    }
    // Chunked: size lines and data until the zero-size chunk.
    let mut body = Vec::new();
    let mut at = end;
    loop {
        let line_end = loop {
            if let Some(p) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                break at + p;
            }
            if s.read_buf(&mut buf).await? == 0 {
                bail!("connection closed");
            }
        };
        let size_text = std::str::from_utf8(&buf[at..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        let data = line_end + 2;
        while buf.len() < data + size + 2 {
            if s.read_buf(&mut buf).await? == 0 {
                bail!("connection closed");
            }
        }
        if size == 0 {
            return Ok((status, body));
        }
        body.extend_from_slice(&buf[data..data + size]);
        at = data + size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::event_kind;

    #[test]
    fn only_change_and_resync_lines_ask_for_a_refresh() {
        // What the mock sends, chunked: a first resync, a keep-alive comment, a change.
        let stream = b"2f\r\nevent: resync\ndata: {\"requests\":0,\"pingbacks\":0}\n\n\r\n\
                       3\r\n:\n\n\r\n\
                       31\r\nevent: change\ndata: {\"requests\":12,\"pingbacks\":0}\n\n\r\n";
        let kinds: Vec<bool> = stream
            .split(|&b| b == b'\n')
            .filter_map(event_kind)
            .collect();
        assert_eq!(kinds, [true, false]);
        assert_eq!(event_kind(b"event:resync"), Some(true));
        assert_eq!(event_kind(b"event: message"), None);
        assert_eq!(event_kind(b"data: event: change"), None);
    }
}
