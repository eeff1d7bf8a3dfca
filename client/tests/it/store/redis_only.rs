//! What only a store shared by several replicas can get wrong: replicas racing on one task,
//! a waiter on one replica and the result on another, Redis restarted or unreachable, and
//! the keys it leaves behind.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use captchaai_client::receiver::{
    Receiver, ReceiverConfig, Recorded, RedisConfig, RejectReason, ResultSource, ResultStore,
    StoreConfig, StoreEvent,
};
use captchaai_test_redis::{Persistence, RedisServer, unique_prefix};
use tower::ServiceExt as _;

use super::{Backend, Redis};
use crate::support::{id, ms, record_events, secs};

async fn redis() -> Redis {
    tokio::task::spawn_blocking(Redis::new).await.unwrap()
}

/// Waits (bounded) until `store` sees `task` registered.
async fn until_registered(store: &ResultStore, task: u64) {
    for _ in 0..2500 {
        if store.is_registered(id(task)).await.unwrap() {
            return;
        }
        tokio::time::sleep(ms(2)).await;
    }
    panic!("task {task} was never registered");
}

fn callback(router: &axum::Router, task: u64, code: &str) -> impl Future<Output = StatusCode> {
    let request = Request::builder()
        .uri(format!("/pingback?id={task}&code={code}"))
        .body(Body::empty())
        .unwrap();
    let router = router.clone();
    async move { router.oneshot(request).await.unwrap().status() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_conflicting_results_exactly_one_wins_every_time() {
    let redis = redis().await;
    let a = redis.store(StoreConfig::default()).await;
    let b = redis.store(StoreConfig::default()).await;
    const ROUNDS: u64 = 300;
    for n in 0..ROUNDS {
        let (from_a, from_b) = tokio::join!(
            a.record(id(n), format!("a{n}"), ResultSource::Pingback),
            b.record(id(n), format!("b{n}"), ResultSource::Pingback),
        );
        let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
        let winner = match (&from_a, &from_b) {
            (Recorded::Stored(w), Recorded::Conflict { kept, rejected }) => {
                assert_eq!(
                    (kept.code(), rejected.as_str()),
                    (w.code(), format!("b{n}").as_str())
                );
                w.code().to_owned()
            }
            (Recorded::Conflict { kept, rejected }, Recorded::Stored(w)) => {
                assert_eq!(
                    (kept.code(), rejected.as_str()),
                    (w.code(), format!("a{n}").as_str())
                );
                w.code().to_owned()
            }
            other => panic!("round {n}: not exactly one winner: {other:?}"),
        };
        for store in [&a, &b] {
            assert_eq!(store.get(id(n)).await.unwrap().unwrap().code(), winner);
        }
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.stored + sb.stored, ROUNDS);
    assert_eq!(sa.conflicts + sb.conflicts, ROUNDS);
}

#[tokio::test]
async fn a_waiter_on_one_replica_is_woken_by_a_result_stored_through_another() {
    let redis = redis().await;
    let a = redis.store(StoreConfig::default()).await;
    let b = redis.store(StoreConfig::default()).await;
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move { a.wait(id(1), secs(20)).await })
    };
    until_registered(&b, 1).await;
    b.record(id(1), "from-b", ResultSource::Pingback)
        .await
        .unwrap();
    let result = waiter.await.unwrap().unwrap();
    assert_eq!(
        (result.code(), result.source()),
        ("from-b", ResultSource::Pingback)
    );
    // A wait that starts after the result finds it at once.
    assert_eq!(a.wait(id(1), secs(1)).await.unwrap().code(), "from-b");
    // Only the replica that stored it reports it.
    assert_eq!((a.stats().stored, b.stats().stored), (0, 1));
}

/// Redis can lose the entry a waiter waits on (restarted without it, or the key evicted by
/// a `maxmemory` policy): the result stored through another replica still wakes the waiter,
/// not its deadline.
#[tokio::test]
async fn a_waiter_whose_entry_redis_lost_is_still_woken_by_the_result() {
    let redis = redis().await;
    let a = redis.store(StoreConfig::default()).await;
    let b = redis.store(StoreConfig::default()).await;
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move { a.wait(id(7), secs(20)).await })
    };
    until_registered(&b, 7).await;
    let client = redis::Client::open(redis.config().url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}t:7", redis.config().key_prefix());
    let deleted: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(deleted, 1, "the waited entry is {key}");
    b.record(id(7), "after-the-loss", ResultSource::Pingback)
        .await
        .unwrap();
    let result = tokio::time::timeout(secs(5), waiter)
        .await
        .expect("the waiter is woken by the result, not by its 20 s deadline")
        .unwrap()
        .unwrap();
    assert_eq!(result.code(), "after-the-loss");
}

#[tokio::test]
async fn stores_with_different_key_prefixes_share_a_redis_without_meeting() {
    let (one, two) = (redis().await, redis().await);
    let (one, two) = (
        one.store(StoreConfig::default()).await,
        two.store(StoreConfig::default()).await,
    );
    let first = one
        .record(id(1), "one", ResultSource::Pingback)
        .await
        .unwrap();
    let second = two
        .record(id(1), "two", ResultSource::Pingback)
        .await
        .unwrap();
    assert!(matches!(first, Recorded::Stored(_)));
    assert!(matches!(second, Recorded::Stored(_)));
    assert_eq!(one.get(id(1)).await.unwrap().unwrap().code(), "one");
    assert_eq!(two.get(id(1)).await.unwrap().unwrap().code(), "two");
}

#[tokio::test]
async fn redis_restarted_mid_run_loses_nothing_acknowledged() {
    let mut server = tokio::task::spawn_blocking(|| RedisServer::start(Persistence::Always))
        .await
        .unwrap();
    let redis = RedisConfig::new(server.url())
        .unwrap()
        .with_key_prefix(unique_prefix("restart"))
        .unwrap()
        .with_timeout(ms(500));
    let a = ResultStore::with_redis(redis.clone(), StoreConfig::default())
        .await
        .unwrap();
    let b = ResultStore::with_redis(redis, StoreConfig::default())
        .await
        .unwrap();
    let router = Receiver::new(ReceiverConfig::default(), a.clone()).router();
    for n in 0..50 {
        assert_eq!(callback(&router, n, &format!("r{n}")).await, StatusCode::OK);
    }
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move { a.wait(id(999), secs(60)).await })
    };
    until_registered(&b, 999).await;

    server.kill();
    // Down: a callback is refused (the sender retries), a read says so, health says why.
    assert_eq!(
        callback(&router, 100, "during").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(a.get(id(1)).await.unwrap_err().is_store_unavailable());
    let why = a.health().await.unwrap_err();
    assert!(why.is_store_unavailable(), "{why}");

    let mut server = tokio::task::spawn_blocking(move || {
        server.start_again();
        server
    })
    .await
    .unwrap();
    let mut healthy = false;
    for _ in 0..200 {
        if a.health().await.is_ok() && b.health().await.is_ok() {
            healthy = true;
            break;
        }
        tokio::time::sleep(ms(25)).await;
    }
    assert!(healthy, "the stores recover once redis is back");
    // Everything acknowledged before the restart is there, read through the other replica.
    for n in 0..50 {
        let kept = b.get(id(n)).await.unwrap();
        assert_eq!(
            kept.map(|r| r.code().to_owned()),
            Some(format!("r{n}")),
            "task {n}"
        );
    }
    // The sender's retry of the refused callback is stored now.
    assert_eq!(callback(&router, 100, "during").await, StatusCode::OK);
    assert_eq!(b.get(id(100)).await.unwrap().unwrap().code(), "during");
    // The wait that started before the restart still gets its result, stored on the other
    // replica (heard live, or read again when its subscription came back).
    b.record(id(999), "after", ResultSource::Pingback)
        .await
        .unwrap();
    let result = tokio::time::timeout(secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.unwrap().code(), "after");
    drop(a);
    drop(b);
    server.kill();
}

#[tokio::test]
async fn an_unreachable_redis_answers_503_and_acknowledges_nothing() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", dead.local_addr().unwrap());
    drop(dead);
    let redis = RedisConfig::new(url).unwrap().with_timeout(ms(500));
    let store = ResultStore::with_redis(redis, StoreConfig::default())
        .await
        .unwrap();
    let log = record_events(&store);
    let router = Receiver::new(ReceiverConfig::default(), store.clone()).router();

    let response = router
        .clone()
        .oneshot(
            Request::builder()
                .uri("/pingback?id=5&code=tok")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        *log.lock().unwrap(),
        [StoreEvent::Rejected {
            task_id: Some(id(5)),
            reason: RejectReason::StoreUnavailable
        }]
    );
    assert_eq!(store.stats().stored, 0);

    for err in [
        store.get(id(5)).await.unwrap_err(),
        store.register(id(5)).await.unwrap_err(),
        store.wait(id(5), secs(5)).await.unwrap_err(),
        store
            .record(id(5), "tok", ResultSource::Poll)
            .await
            .unwrap_err(),
        store.health().await.unwrap_err(),
    ] {
        assert!(err.is_store_unavailable(), "{err}");
        assert!(err.to_string().contains("redis"), "says why: {err}");
    }
}

#[tokio::test]
async fn every_key_is_bounded_by_a_ttl_or_by_capacity() {
    let redis = redis().await;
    let config = StoreConfig {
        ttl: secs(60),
        capacity: 20,
        ..StoreConfig::default()
    };
    let store = redis.store(config).await;
    for n in 0..200 {
        store
            .record(id(n), "x", ResultSource::Pingback)
            .await
            .unwrap();
    }
    for n in 1000..1050 {
        store.register(id(n)).await.unwrap();
    }
    for n in 2000..2005 {
        assert!(store.wait(id(n), ms(20)).await.unwrap_err().is_timeout());
    }
    let waiters: Vec<_> = (3000..3003)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.wait(id(n), secs(30)).await })
        })
        .collect();
    for n in 3000..3003 {
        until_registered(&store, n).await;
    }
    // Each wait made room for itself: the awaited tasks are among the 20.
    assert_eq!(store.len().await.unwrap(), 20);

    let client = redis::Client::open(redis.config().url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = redis.config().key_prefix().to_owned();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    let mut tasks = 0;
    for key in &keys {
        let name = key.strip_prefix(&prefix).unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut raw)
            .await
            .unwrap();
        if name.starts_with("t:") {
            tasks += 1;
            assert!(
                ttl > 0 && ttl <= 60_000,
                "{key} expires within the ttl or the wait: {ttl}"
            );
        } else {
            assert!(
                ["all", "orphans", "waited", "seq", "counts"].contains(&name),
                "an undocumented key: {key}"
            );
        }
    }
    assert_eq!(tasks, 20);
    for index in ["all", "orphans", "waited"] {
        let members: usize = redis::cmd("ZCARD")
            .arg(format!("{prefix}{index}"))
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(members <= 20, "{index} holds {members}");
    }
    for waiter in waiters {
        waiter.abort();
    }
}

#[tokio::test]
async fn the_redis_url_and_prefix_are_checked() {
    assert!(RedisConfig::new("not a url").unwrap_err().is_bad_input());
    assert!(
        RedisConfig::new("redis://127.0.0.1/")
            .unwrap()
            .with_key_prefix("has space")
            .unwrap_err()
            .is_bad_input()
    );
    let config = RedisConfig::new("redis://:hunter2@127.0.0.1:6379/0").unwrap();
    assert!(!format!("{config:?}").contains("hunter2"), "{config:?}");
    assert!(!config.url().contains("hunter2"));
}

/// The call hook (what the conformance harness holds its paused clock with) spans each call
/// to Redis, and none is out while a waiter merely waits for the result to be published.
#[tokio::test]
async fn the_call_hook_spans_each_call_and_never_a_pending_wait() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

    struct Out(Arc<AtomicIsize>);
    impl Drop for Out {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let redis = redis().await;
    let (calls, out) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicIsize::new(0)));
    let config = {
        let (calls, out) = (calls.clone(), out.clone());
        redis.config().with_call_hook(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            out.fetch_add(1, Ordering::SeqCst);
            Box::new(Out(out.clone()))
        })
    };
    let a = ResultStore::with_redis(config, StoreConfig::default())
        .await
        .unwrap();
    let b = redis.store(StoreConfig::default()).await;
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move { a.wait(id(1), secs(20)).await })
    };
    until_registered(&b, 1).await;
    // Subscribing and starting the wait were calls; now the waiter only listens.
    let mut idle = false;
    for _ in 0..1000 {
        if out.load(Ordering::SeqCst) == 0 {
            idle = true;
            break;
        }
        tokio::time::sleep(ms(2)).await;
    }
    assert!(idle, "a call stayed out while the waiter waited");
    assert!(!waiter.is_finished());
    let before = calls.load(Ordering::SeqCst);
    assert!(
        before >= 2,
        "subscribing and the wait script: {before} call(s)"
    );
    b.record(id(1), "from-b", ResultSource::Pingback)
        .await
        .unwrap();
    assert_eq!(waiter.await.unwrap().unwrap().code(), "from-b");
    a.get(id(1)).await.unwrap();
    assert!(calls.load(Ordering::SeqCst) > before);
    assert_eq!(out.load(Ordering::SeqCst), 0);
}
