//! The reference subject with its store on a real Redis (`--reference-store`): graded like
//! the in-memory one, on the same simulated time, and refused up front when Redis is not
//! there. Redis is `scripts/test.sh`'s, or one of the test's own (`captchaai-test-redis`).

use captchaai_conformance::subject::{Reference, ReferenceOnRedis};
use captchaai_test_redis::TestRedis;
use libtest_mimic::Trial;

use crate::support::{failed, harness, run_scenario};

/// This file's tests, one trial each.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        a_faulted_load_on_redis_is_graded_like_in_memory,
        receiver_scenarios_on_redis_pass,
        an_unreachable_redis_stops_the_run_before_it_starts,
        a_bad_redis_url_is_refused,
    ]
}

/// 1,000 tasks, 30% of deliveries faulted: every check OK with the store on Redis, and the
/// run covers the simulated time the in-memory run does (a call to Redis takes no
/// simulated time). Without the clock hold, the paused clock jumped while Redis answered:
/// the store's timeouts fired at once, the receiver answered 503, `ack-valid` and
/// `results-readable` failed, and the run covered hours of simulated time instead of
/// about 100 s.
fn a_faulted_load_on_redis_is_graded_like_in_memory() {
    let redis = TestRedis::get();
    let subject = ReferenceOnRedis::new(&redis.url()).unwrap();
    let on_redis = run_scenario(&subject, "load/thousand-faulted.toml");
    assert!(
        failed(&on_redis).is_empty(),
        "failed on redis: {:?}",
        failed(&on_redis)
    );
    assert!(on_redis.skipped.is_none(), "{:?}", on_redis.skipped);
    let in_memory = run_scenario(&Reference, "load/thousand-faulted.toml");
    assert!(failed(&in_memory).is_empty());
    let (a, b) = (on_redis.simulated_ms, in_memory.simulated_ms);
    assert!(
        a.abs_diff(b) <= 1_000,
        "simulated time on redis {a} ms, in memory {b} ms"
    );
}

/// Duplicates, conflicts, unknown ids and a slow receiver go through the Redis store's
/// script: every check OK.
fn receiver_scenarios_on_redis_pass() {
    let redis = TestRedis::get();
    let subject = ReferenceOnRedis::new(&redis.url()).unwrap();
    for file in [
        "receiver/duplicates.toml",
        "receiver/unknown-ids.toml",
        "receiver/slower-than-sender-timeout.toml",
        "pingback/early.toml",
    ] {
        let r = run_scenario(&subject, file);
        assert!(r.skipped.is_none(), "{file}: {:?}", r.skipped);
        assert!(failed(&r).is_empty(), "{file}: failed {:?}", failed(&r));
    }
}

/// Nothing listens on the port: exit 2 before any scenario, saying which Redis and why.
fn an_unreachable_redis_stops_the_run_before_it_starts() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let out = harness(&[
        "run",
        "scenarios/pingback/early.toml",
        "--reference-store",
        &url,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pre-flight failed"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("OK"));
}

/// Not a Redis URL: clap's usage error (exit 2), naming the flag.
fn a_bad_redis_url_is_refused() {
    let out = harness(&[
        "run",
        "scenarios/pingback/early.toml",
        "--reference-store",
        "http://127.0.0.1:6379/",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--reference-store"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
