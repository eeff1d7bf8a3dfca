//! `flood`: large request bodies, one request per connection, and the server's memory while
//! they arrive: its RSS before, its peak (`VmHWM`, the kernel's high-water mark, so no sample
//! can miss it) and its RSS after. The worst case of the mock's inbound journal is a flood of
//! rejected requests with 30 MB bodies (BENCHMARKS.md).

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::{Target, parse_head, rss_kib, status_kib};

/// A process's peak RSS in KiB (`VmHWM`, the kernel's high-water mark).
fn peak_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM")
}

/// What one request came to.
enum Sent {
    /// The answer's body started with the expected text.
    Expected,
    /// Another answer.
    Other,
    /// The server closed the connection before answering (or while the body was sent).
    Cut,
}

/// One POST of `bytes` bytes of `a` on a fresh connection.
fn post(target: &Target, bytes: usize, expect: &[u8], timeout: Duration) -> anyhow::Result<Sent> {
    static CHUNK: [u8; 64 * 1024] = [b'a'; 64 * 1024];
    let mut s = TcpStream::connect_timeout(&target.addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bench-driver\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {bytes}\r\n\
         Connection: close\r\n\r\n",
        target.path, target.addr
    );
    s.write_all(head.as_bytes())?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK.len());
        if s.write_all(&CHUNK[..n]).is_err() {
            return Ok(Sent::Cut);
        }
        left -= n;
    }
    let mut answer = Vec::new();
    if s.read_to_end(&mut answer).is_err() && answer.is_empty() {
        return Ok(Sent::Cut);
    }
    Ok(match parse_head(&answer) {
        Some((end, 200, _)) if answer[end..].starts_with(expect) => Sent::Expected,
        Some(_) => Sent::Other,
        None => Sent::Cut,
    })
}

/// Sends `count` requests of `bytes` bytes over `connections` threads and measures `pid`.
pub(crate) fn run(
    url: &str,
    count: u64,
    bytes: usize,
    connections: usize,
    pid: u32,
    expect: &str,
) -> anyhow::Result<serde_json::Value> {
    let target = Arc::new(Target::parse(url)?);
    let idle = rss_kib(pid)?;
    let next = Arc::new(AtomicU64::new(0));
    let tallies: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let expect: Arc<[u8]> = Arc::from(expect.as_bytes());
    let start = Instant::now();
    let threads: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (target, next, tallies, expect) = (
                target.clone(),
                next.clone(),
                tallies.clone(),
                expect.clone(),
            );
            std::thread::spawn(move || -> anyhow::Result<()> {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let i = match post(&target, bytes, &expect, Duration::from_secs(60))? {
                        Sent::Expected => 0,
                        Sent::Other => 1,
                        Sent::Cut => 2,
                    };
                    tallies[i].fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a flood thread panicked"))??;
    }
    let seconds = start.elapsed().as_secs_f64();
    let peak = peak_kib(pid)?;
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib(pid)?;
    let tally = |i: usize| tallies[i].load(Ordering::Relaxed);
    Ok(serde_json::json!({
        "requests": count,
        "bytes_each": bytes,
        "connections": connections,
        "expected_answers": tally(0),
        "other_answers": tally(1),
        "cut": tally(2),
        "seconds": seconds,
        "idle_kib": idle,
        "peak_kib": peak,
        "after_kib": after,
    }))
}
