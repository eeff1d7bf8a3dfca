//! The real `captchaai-receiver` binary, started as users start it (`--bind 127.0.0.1:0`,
//! the address read from the line it prints), as one replica or several on one Redis.
//!
//! Redis comes from `captchaai_test_redis` (the server `scripts/test.sh` started, or one of
//! the test's own), each test on a key prefix of its own.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use captchaai_test_redis::{TestRedis, unique_prefix};
use reqwest::StatusCode;

/// One running receiver, killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    /// Starts the binary with these flags and waits for its "listening on" line.
    fn start(args: &[&str]) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_captchaai-receiver"))
            .args(["--bind", "127.0.0.1:0", "--workers", "1"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the captchaai-receiver binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a line from the receiver");
        let base = line
            .trim()
            .strip_prefix("captchaai-receiver listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Replica { child, base }
    }

    /// A replica on this Redis and prefix.
    fn on_redis(redis: &str, prefix: &str, more: &[&str]) -> Replica {
        let mut args = vec!["--store", redis, "--key-prefix", prefix];
        args.extend_from_slice(more);
        Replica::start(&args)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit.
    fn exit_status(&mut self, within: Duration) -> ExitStatus {
        for _ in 0..within.as_millis() / 10 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the receiver did not exit within {within:?}");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn callback(replica: &Replica, id: u64, code: &str) -> StatusCode {
    let url = replica.url("/pingback");
    let query = [("id", id.to_string()), ("code", code.to_owned())];
    http().get(url).query(&query).send().await.unwrap().status()
}

async fn posted_callback(replica: &Replica, id: u64, code: &str) -> StatusCode {
    let form = [("id", id.to_string()), ("code", code.to_owned())];
    let url = replica.url("/pingback");
    http().post(url).form(&form).send().await.unwrap().status()
}

async fn read(replica: &Replica, path: &str) -> (StatusCode, String) {
    let response = http().get(replica.url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn redis() -> TestRedis {
    tokio::task::spawn_blocking(TestRedis::get).await.unwrap()
}

#[tokio::test]
async fn a_callback_to_one_replica_is_read_from_another_and_duplicates_are_ignored() {
    let redis = redis().await;
    let (url, prefix) = (redis.url(), unique_prefix("replicas"));
    let a = Replica::on_redis(&url, &prefix, &[]);
    let b = Replica::on_redis(&url, &prefix, &[]);

    assert_eq!(callback(&a, 101, "03Agenuine").await, StatusCode::OK);
    assert_eq!(
        read(&b, "/results/101").await,
        (StatusCode::OK, "03Agenuine".into())
    );
    // The duplicate and a conflicting copy reach the other replica: acknowledged, ignored.
    assert_eq!(callback(&b, 101, "03Agenuine").await, StatusCode::OK);
    assert_eq!(posted_callback(&b, 101, "03Aforged").await, StatusCode::OK);
    for replica in [&a, &b] {
        assert_eq!(
            read(replica, "/results/101").await,
            (StatusCode::OK, "03Agenuine".into())
        );
    }
    // 2captcha's dialect (POST form) the other way round.
    assert_eq!(
        posted_callback(&b, 102, "ERROR_CAPTCHA_UNSOLVABLE").await,
        StatusCode::OK
    );
    assert_eq!(
        read(&a, "/results/102").await,
        (StatusCode::OK, "ERROR_CAPTCHA_UNSOLVABLE".into())
    );
    assert_eq!(read(&a, "/results/103").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_long_poll_on_one_replica_is_answered_by_a_callback_to_another() {
    let redis = redis().await;
    let (url, prefix) = (redis.url(), unique_prefix("long-poll"));
    let a = Replica::on_redis(&url, &prefix, &[]);
    let b = Replica::on_redis(&url, &prefix, &[]);
    let waiting = tokio::spawn({
        let url = b.url("/results/201?wait=15s");
        async move {
            let response = http().get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    });
    // The wait registers the id: once it shows, the waiter listens.
    let mut registered = false;
    for _ in 0..500 {
        let response = http().post(a.url("/register/201")).send().await.unwrap();
        if response.status() == StatusCode::OK {
            registered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(registered, "the long poll registered task 201");
    assert_eq!(callback(&a, 201, "late-token").await, StatusCode::OK);
    assert_eq!(
        waiting.await.unwrap(),
        (StatusCode::OK, "late-token".into())
    );
}

#[tokio::test]
async fn registered_on_one_replica_is_accepted_by_another() {
    let redis = redis().await;
    let (url, prefix) = (redis.url(), unique_prefix("registered"));
    let a = Replica::on_redis(&url, &prefix, &["--registered-only"]);
    let b = Replica::on_redis(&url, &prefix, &["--registered-only"]);
    assert_eq!(callback(&b, 301, "tok").await, StatusCode::NOT_FOUND);
    let response = http().post(a.url("/register/301")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(callback(&b, 301, "tok").await, StatusCode::OK);
    assert_eq!(
        read(&a, "/results/301").await,
        (StatusCode::OK, "tok".into())
    );
}

#[tokio::test]
async fn in_memory_replicas_share_nothing() {
    // Why a shared store is needed: each in-memory replica keeps what it received.
    let a = Replica::start(&[]);
    let b = Replica::start(&[]);
    assert_eq!(callback(&a, 401, "first").await, StatusCode::OK);
    assert_eq!(callback(&b, 401, "conflicting").await, StatusCode::OK);
    assert_eq!(read(&a, "/results/401").await.1, "first");
    assert_eq!(read(&b, "/results/401").await.1, "conflicting");
}

#[tokio::test]
async fn an_unreachable_redis_is_answered_503_and_healthz_says_why() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", dead.local_addr().unwrap());
    drop(dead);
    let replica = Replica::start(&["--store", &url, "--redis-timeout", "300ms"]);
    assert_eq!(
        callback(&replica, 501, "tok").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        posted_callback(&replica, 501, "tok").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        read(&replica, "/results/501").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        read(&replica, "/results/501?wait=1s").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, body) = read(&replica, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["store"], "redis");
    let reason = health["reason"].as_str().unwrap();
    assert!(reason.contains("redis"), "says why: {reason}");
}

#[tokio::test]
async fn sigterm_stops_it_cleanly_and_a_second_signal_at_once() {
    let mut idle = Replica::start(&[]);
    idle.terminate();
    assert!(idle.exit_status(Duration::from_secs(10)).success());

    // A long poll in flight holds the shutdown for up to its grace (60 s here): a second
    // signal does not wait for it.
    let mut busy = Replica::start(&["--shutdown-grace", "60s"]);
    let polling = tokio::spawn(http().get(busy.url("/results/1?wait=50s")).send());
    // The request is in flight once the id it registers shows up.
    for _ in 0..500 {
        let response = http().post(busy.url("/register/1")).send().await.unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    busy.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(busy.child.try_wait().unwrap().is_none(), "still draining");
    busy.terminate();
    let status = busy.exit_status(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    polling.abort();
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    for args in [
        &["--store", "mongodb://x"][..],
        &["--path", "no-slash"],
        &["--allow", "10.0.0.0/33"],
        &["--store", "redis://127.0.0.1/", "--key-prefix", "has space"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_captchaai-receiver"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
}
