//! Item 4: a half-sent request cannot keep the mock alive after SIGTERM, a second signal
//! exits at once, and connections that never finish their request head are closed.

use std::{
    io::{ErrorKind, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    process::Command,
    time::{Duration, Instant},
};

use super::support::{Mock, real_now, temp_dir};

/// `Content-Length: 1000` and 7 bytes of body, then silence.
fn half_sent_request(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connecting");
    s.write_all(
        b"POST /in.php HTTP/1.1\r\nHost: mock\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 1000\r\n\r\nkey=abc",
    )
    .expect("writing");
    s
}

fn loopback(mock: &Mock) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], mock.addr.port()))
}

/// Once, the mock waited for the other 993 bytes forever after SIGTERM. Now the request gets
/// the shutdown grace (5 s by default), then the connection is closed and the mock exits 0.
#[test]
fn sigterm_ends_a_half_sent_request_after_the_grace() {
    let mut mock = Mock::start(&[]);
    let _stalled = half_sent_request(loopback(&mock));
    std::thread::sleep(Duration::from_millis(300));
    let started = real_now();
    mock.proc.signal("TERM");
    let status = mock.proc.wait(Duration::from_secs(15));
    let waited = started.elapsed();
    let status = status.unwrap_or_else(|| panic!("still running 15 s after SIGTERM"));
    assert_eq!(status.code(), Some(0), "{}", mock.proc.stderr());
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(9)).contains(&waited),
        "the 5 s grace, then out: {waited:?}"
    );
    assert!(
        mock.proc.stderr().contains("grace"),
        "says what it closed: {}",
        mock.proc.stderr()
    );
}

/// During the grace, a second SIGTERM or SIGINT exits at once (128 + the signal number).
#[test]
fn a_second_signal_exits_at_once() {
    for (second, code) in [("INT", 130), ("TERM", 143)] {
        let mut mock = Mock::start(&[]);
        let _stalled = half_sent_request(loopback(&mock));
        std::thread::sleep(Duration::from_millis(300));
        mock.proc.signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        let started = real_now();
        mock.proc.signal(second);
        let status = mock
            .proc
            .wait(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("still running 10 s after a second signal ({second})"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            status.code(),
            Some(code),
            "{second}: {}",
            mock.proc.stderr()
        );
    }
}

/// Opens `n` connections that send half a request head and stop.
fn slowloris(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(b"GET /res.php?action=getbalance HTTP/1.1\r\nHost: mock\r\nX-Slow: ")
                .ok()?;
            Some(s)
        })
        .collect()
}

/// True once the server closed the connection (end of file or a reset) before `deadline`.
fn closed_by_server(mut s: &TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(real_now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match s.read(&mut buf) {
            Ok(0) => return true,
            // A 408 or 400 answer before the close is fine.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Slowloris under a low file limit (`ulimit -n 64`): 100 connections that never finish
/// their request head once held their sockets until the client gave up and starved the
/// listener (accept failed with "too many open files"). The header read timeout (10 s by
/// default) closes them, those still waiting in the listen backlog are accepted and closed in
/// turn, and the mock serves again.
#[test]
fn slowloris_under_a_low_file_limit_is_closed_by_the_header_timeout() {
    let script = format!(
        "ulimit -n 64 && exec '{}' --bind 127.0.0.1:0",
        crate::bins::mock().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .env("RUST_LOG", "warn")
        .env_remove("CAPTCHAAI_MOCK_BIND")
        .env_remove("CAPTCHAAI_MOCK_ADMIN_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mock = Mock::spawn(cmd).unwrap_or_else(|r| panic!("{r:?}"));
    let addr = loopback(&mock);
    let started = real_now();
    let held = slowloris(addr, 100);
    assert!(held.len() >= 50, "opened {} connections", held.len());
    // About 50 descriptors are free: the first connections are accepted and closed after
    // 10 s, the rest wait in the backlog until then, and are closed 10 s after that.
    let deadline = started + Duration::from_secs(45);
    let open = held
        .iter()
        .filter(|s| !closed_by_server(s, deadline))
        .count();
    assert_eq!(open, 0, "slow connections still open after 45 s");
    let mut ok = false;
    while !ok && started.elapsed() < Duration::from_secs(50) {
        let answer = TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let q = format!(
                "GET /res.php?key={}&action=getbalance HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n",
                mock.key
            );
            s.write_all(q.as_bytes())?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        });
        ok = answer.is_ok_and(|t| t.ends_with("\r\n\r\n10"));
        if !ok {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert!(
        ok,
        "the mock serves again after the slow connections are closed"
    );
}

/// `server.header-read-timeout` sets the timeout.
#[test]
fn the_header_read_timeout_is_configurable() {
    let dir = temp_dir();
    let mock = Mock::with_config(
        dir.path(),
        "[server]\nheader-read-timeout = \"1s\"\nshutdown-grace = \"1s\"\n",
        &[],
    );
    let started = real_now();
    let held = slowloris(loopback(&mock), 20);
    let deadline = started + Duration::from_secs(4);
    let open = held
        .iter()
        .filter(|s| !closed_by_server(s, deadline))
        .count();
    assert_eq!(open, 0, "slow connections still open after 4 s");
}
