//! The store's rules, each a function over a [`Backend`], run against every backend by
//! `on_every_backend!` in `mod.rs`. Real clock: where ttl matters, it is a few seconds and
//! the test checks well inside and well past it.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use captchaai_client::receiver::{
    Receiver, ReceiverConfig, Recorded, ResultSource, StoreConfig, StoreEvent,
};
use futures::{FutureExt as _, StreamExt as _};
use tower::ServiceExt as _;

use super::Backend;
use crate::support::{evictions, id, ms, record_events, secs};

fn limits(ttl: Duration, capacity: usize) -> StoreConfig {
    StoreConfig {
        ttl,
        capacity,
        ..StoreConfig::default()
    }
}

pub(crate) async fn first_result_wins_and_later_ones_are_reported(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    let log = record_events(&store);
    let first = store.record(id(1), "tokA", ResultSource::Pingback).await;
    assert!(matches!(first, Ok(Recorded::Stored(ref r)) if r.code() == "tokA"));
    let same = store
        .record(id(1), "tokA", ResultSource::Poll)
        .await
        .unwrap();
    assert!(matches!(same, Recorded::Duplicate(ref r) if r.code() == "tokA"));
    let other = store
        .record(id(1), "tokB", ResultSource::Pingback)
        .await
        .unwrap();
    match other {
        Recorded::Conflict { kept, rejected } => {
            assert_eq!(
                (kept.code(), kept.source()),
                ("tokA", ResultSource::Pingback)
            );
            assert_eq!(rejected, "tokB");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let kept = store.get(id(1)).await.unwrap().unwrap();
    assert_eq!(
        (kept.code(), kept.source()),
        ("tokA", ResultSource::Pingback)
    );
    let stats = store.stats();
    assert_eq!((stats.stored, stats.duplicates, stats.conflicts), (1, 1, 1));
    let events = log.lock().unwrap().clone();
    assert!(matches!(&events[0], StoreEvent::Stored(r) if r.code() == "tokA"));
    assert_eq!(
        events[1..],
        [
            StoreEvent::Duplicate {
                task_id: id(1),
                source: ResultSource::Poll
            },
            StoreEvent::Conflict {
                task_id: id(1),
                kept: "tokA".into(),
                rejected: "tokB".into(),
                source: ResultSource::Pingback
            }
        ]
    );
}

pub(crate) async fn an_early_result_is_found_by_a_later_wait(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    store
        .record(id(2), "early", ResultSource::Pingback)
        .await
        .unwrap();
    assert!(!store.is_registered(id(2)).await.unwrap());
    let result = store.wait(id(2), secs(5)).await.unwrap();
    assert_eq!(result.code(), "early");
    assert!(store.is_registered(id(2)).await.unwrap(), "wait registers");
    assert_eq!(store.len().await.unwrap(), 1);
}

pub(crate) async fn a_result_wakes_every_waiter(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.wait(id(3), secs(10)).await })
        })
        .collect();
    // Every waiter has started (registered) before the result comes.
    for _ in 0..500 {
        if store.is_registered(id(3)).await.unwrap() {
            break;
        }
        tokio::time::sleep(ms(2)).await;
    }
    tokio::time::sleep(ms(50)).await;
    store
        .record(id(3), "late", ResultSource::Pingback)
        .await
        .unwrap();
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap().unwrap().code(), "late");
    }
}

pub(crate) async fn wait_registers_any_id_and_times_out(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    let start = tokio::time::Instant::now();
    let err = store.wait(id(5), ms(300)).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(start.elapsed() >= ms(300));
    assert!(
        store.is_registered(id(5)).await.unwrap(),
        "wait registers the id"
    );
    assert!(!store.register(id(5)).await.unwrap(), "registered already");
    assert_eq!(store.stats().registered, 1);
}

pub(crate) async fn an_empty_code_is_refused_and_changes_nothing(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    let err = store
        .record(id(6), "", ResultSource::Manual)
        .await
        .unwrap_err();
    assert!(err.is_bad_input());
    assert!(store.get(id(6)).await.unwrap().is_none());
    assert!(store.is_empty().await.unwrap());
}

pub(crate) async fn registered_only_callbacks_need_a_registration(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    let config = ReceiverConfig::default().registered_only(true);
    let router = Receiver::new(config, store.clone()).router();
    let callback = |n: u64, code: &str| {
        let request = Request::builder()
            .uri(format!("/pingback?id={n}&code={code}"))
            .body(Body::empty())
            .unwrap();
        router.clone().oneshot(request)
    };
    assert_eq!(
        callback(7, "a").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        store.is_empty().await.unwrap(),
        "an unknown id leaves no trace"
    );
    store.register(id(7)).await.unwrap();
    assert_eq!(callback(7, "a").await.unwrap().status(), StatusCode::OK);
    assert_eq!(callback(7, "b").await.unwrap().status(), StatusCode::OK);
    assert_eq!(store.get(id(7)).await.unwrap().unwrap().code(), "a");
    let stats = store.stats();
    assert_eq!((stats.rejected, stats.stored, stats.conflicts), (1, 1, 1));
}

pub(crate) async fn entries_expire_after_the_ttl_since_their_last_change(backend: impl Backend) {
    let store = backend.store(limits(secs(2), 100)).await;
    store.register(id(1)).await.unwrap();
    store.register(id(2)).await.unwrap();
    tokio::time::sleep(ms(1200)).await;
    // A result is a change: id 2 lives 2 s from now, id 1 expires 0.8 s from now.
    store
        .record(id(2), "r", ResultSource::Pingback)
        .await
        .unwrap();
    tokio::time::sleep(ms(1300)).await;
    assert!(!store.is_registered(id(1)).await.unwrap(), "expired");
    assert_eq!(store.get(id(2)).await.unwrap().unwrap().code(), "r");
    assert_eq!(store.len().await.unwrap(), 1);
    tokio::time::sleep(ms(1500)).await;
    assert!(store.get(id(2)).await.unwrap().is_none(), "expired");
    assert!(store.is_empty().await.unwrap());
}

pub(crate) async fn an_awaited_entry_outlives_the_ttl(backend: impl Backend) {
    // A long retry schedule (Svix: 5 s, 5 min, 30 min, 2 h, ...) can deliver a result long
    // after the ttl; the application is still waiting for it.
    let store = backend.store(limits(secs(1), 100)).await;
    store.register(id(2)).await.unwrap(); // nobody waits on this one
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.wait(id(1), secs(20)).await })
    };
    tokio::time::sleep(ms(2500)).await;
    assert!(
        store.is_registered(id(1)).await.unwrap(),
        "kept while awaited"
    );
    assert!(
        !store.is_registered(id(2)).await.unwrap(),
        "the ttl applies to the rest"
    );
    store
        .record(id(1), "late", ResultSource::Pingback)
        .await
        .unwrap();
    assert_eq!(waiter.await.unwrap().unwrap().code(), "late");
}

pub(crate) async fn capacity_evicts_unregistered_results_before_registered_ids(
    backend: impl Backend,
) {
    let store = backend.store(limits(secs(600), 3)).await;
    let mut events = store.events();
    store.register(id(1)).await.unwrap();
    store.register(id(2)).await.unwrap();
    store
        .record(id(3), "early", ResultSource::Pingback)
        .await
        .unwrap();
    // Full. A fourth entry evicts the result nobody registered (3), not the older ids.
    store
        .record(id(4), "another", ResultSource::Pingback)
        .await
        .unwrap();
    store.register(id(5)).await.unwrap();
    assert!(store.is_registered(id(1)).await.unwrap());
    assert!(store.is_registered(id(2)).await.unwrap());
    assert!(store.get(id(3)).await.unwrap().is_none());
    assert!(store.get(id(4)).await.unwrap().is_none());
    // No unregistered result left: the oldest entry nobody waits on goes.
    store.register(id(6)).await.unwrap();
    assert!(!store.is_registered(id(1)).await.unwrap());
    assert_eq!(store.len().await.unwrap(), 3);
    assert_eq!(
        evictions(&mut events),
        [(id(3), true), (id(4), true), (id(1), false)]
    );
    assert_eq!(store.stats().evicted, 3);
}

pub(crate) async fn a_flood_of_unexpected_results_never_evicts_an_awaited_task(
    backend: impl Backend,
) {
    // Without a secret, anyone who can reach the endpoint can post results for made-up ids;
    // they must not push out the task the application is waiting for.
    let store = backend.store(limits(secs(600), 3)).await;
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.wait(id(1), secs(30)).await })
    };
    while !store.is_registered(id(1)).await.unwrap() {
        tokio::time::sleep(ms(2)).await;
    }
    for n in 100..200 {
        store
            .record(id(n), format!("forged{n}"), ResultSource::Pingback)
            .await
            .unwrap();
        let len = store.len().await.unwrap();
        assert!(len <= 3, "capacity holds: {len}");
    }
    assert!(
        store.is_registered(id(1)).await.unwrap(),
        "the awaited task stays"
    );
    assert_eq!(
        store.get(id(199)).await.unwrap().unwrap().code(),
        "forged199"
    );
    assert!(
        store.get(id(100)).await.unwrap().is_none(),
        "the oldest forged one went"
    );
    store
        .record(id(1), "genuine", ResultSource::Pingback)
        .await
        .unwrap();
    assert_eq!(waiting.await.unwrap().unwrap().code(), "genuine");
}

pub(crate) async fn a_store_full_of_waiters_grows_only_by_them(backend: impl Backend) {
    let store = backend.store(limits(secs(600), 2)).await;
    let waiters: Vec<_> = (1..=4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.wait(id(n), secs(30)).await })
        })
        .collect();
    while store.stats().registered < 4 {
        tokio::time::sleep(ms(2)).await;
    }
    assert_eq!(
        store.len().await.unwrap(),
        4,
        "awaited entries are never evicted"
    );
    // Unexpected results still come and go, one at a time.
    for n in 10..20 {
        store
            .record(id(n), "x", ResultSource::Pingback)
            .await
            .unwrap();
        assert_eq!(store.len().await.unwrap(), 5);
    }
    for (n, waiter) in (1..=4).zip(waiters) {
        store
            .record(id(n), format!("r{n}"), ResultSource::Poll)
            .await
            .unwrap();
        assert_eq!(waiter.await.unwrap().unwrap().code(), format!("r{n}"));
    }
}

pub(crate) async fn subscribe_yields_each_first_result_once(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    let mut results = store.subscribe();
    store
        .record(id(1), "a", ResultSource::Pingback)
        .await
        .unwrap();
    store.record(id(1), "a", ResultSource::Poll).await.unwrap();
    store
        .record(id(1), "b", ResultSource::Pingback)
        .await
        .unwrap();
    store
        .record(id(2), "c", ResultSource::Manual)
        .await
        .unwrap();
    let first = results.next().await.unwrap();
    assert_eq!((first.task_id(), first.code()), (id(1), "a"));
    let second = results.next().await.unwrap();
    assert_eq!((second.task_id(), second.code()), (id(2), "c"));
    assert!(results.next().now_or_never().is_none(), "nothing else");
}

pub(crate) async fn a_healthy_store_says_so(backend: impl Backend) {
    let store = backend.store(StoreConfig::default()).await;
    store.health().await.unwrap();
    // Waiting starts whatever a backend needs to wake waiters; still healthy after.
    assert!(store.wait(id(9), ms(50)).await.unwrap_err().is_timeout());
    store.health().await.unwrap();
}
