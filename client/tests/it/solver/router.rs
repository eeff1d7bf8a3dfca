//! The result router: one dispatch per task however the result arrives, early results held
//! until assigned, nothing dispatched twice after the store forgets a task.

use std::sync::{Arc, Mutex};

use captchaai_client::receiver::{ResultSource, ResultStore, StoreConfig};
use captchaai_client::router::{Dispatch, ResultRouter};
use captchaai_client::strategy::Strategy;
use tokio_util::sync::CancellationToken;

use super::{Env, Pingback, Plan};
use crate::support::{secs, turnstile};

#[tokio::test(start_paused = true)]
async fn router_dispatches_once_when_a_result_arrives_by_poll_and_by_pingback() {
    let env = Env::start(Plan::new(secs(6), Pingback::After(secs(30)))).await;
    let seen: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let log = Arc::clone(&seen);
    let fallback: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let other = Arc::clone(&fallback);
    let router = ResultRouter::builder()
        .route("login", move |d| log.lock().unwrap().push(d))
        .default_handler(move |d| other.lock().unwrap().push(d))
        .build(&env.store);
    let solver = env.solver(Strategy::PingbackWithFallback {
        quiet_period: secs(5),
    });
    let task = turnstile();
    let id = solver.submit(&task).await.unwrap();
    router.assign(id, "login").await.unwrap();
    let solution = solver.wait_for(&task, id).await.unwrap();
    tokio::time::sleep(secs(40)).await; // the late pingback arrives
    assert_eq!(env.store.stats().duplicates, 1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].route.as_deref(), Some("login"));
    assert_eq!(seen[0].result.code(), solution.raw());
    assert!(fallback.lock().unwrap().is_empty());
    assert_eq!(router.stats().dispatched, 1);
}

#[tokio::test(start_paused = true)]
async fn router_holds_early_results_until_assigned_and_flushes_strays_to_the_default() {
    let store = ResultStore::new();
    let routed: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let log = Arc::clone(&routed);
    let defaulted: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let other = Arc::clone(&defaulted);
    let router = ResultRouter::builder()
        .route("a", move |d| log.lock().unwrap().push(d))
        .default_handler(move |d| other.lock().unwrap().push(d))
        .unassigned_grace(secs(10))
        .build(&store);
    let shutdown = CancellationToken::new();
    let runner = {
        let router = router.clone();
        let token = shutdown.clone();
        tokio::spawn(async move { router.run(token).await })
    };
    let early = captchaai_client::TaskId::new(1);
    let stray = captchaai_client::TaskId::new(2);
    store
        .record(early, "x", ResultSource::Pingback)
        .await
        .unwrap();
    store
        .record(stray, "y", ResultSource::Pingback)
        .await
        .unwrap();
    tokio::time::sleep(secs(2)).await;
    assert!(routed.lock().unwrap().is_empty());
    router.assign(early, "a").await.unwrap();
    assert_eq!(routed.lock().unwrap().len(), 1);
    tokio::time::sleep(secs(7)).await;
    assert!(
        defaulted.lock().unwrap().is_empty(),
        "still in its grace period"
    );
    tokio::time::sleep(secs(2)).await;
    let defaulted = defaulted.lock().unwrap().clone();
    assert_eq!(defaulted.len(), 1);
    assert_eq!(defaulted[0].route, None);
    assert_eq!(defaulted[0].result.code(), "y");
    // Assigning after the flush does not dispatch again.
    router.assign(stray, "a").await.unwrap();
    assert_eq!(routed.lock().unwrap().len(), 1);
    assert_eq!(router.stats().dispatched, 2);
    shutdown.cancel();
    runner.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn router_never_dispatches_twice_after_the_store_forgets_a_task() {
    // The store forgets a task ten minutes (here one) after its result; a pingback the
    // service retries after that is a "first" result to the store, not to the router.
    let store = ResultStore::with_config(StoreConfig {
        ttl: secs(60),
        ..StoreConfig::default()
    });
    let seen: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let log = Arc::clone(&seen);
    let router = ResultRouter::builder()
        .route("login", {
            let log = Arc::clone(&log);
            move |d| log.lock().unwrap().push(d)
        })
        .default_handler(move |d| log.lock().unwrap().push(d))
        .retention(secs(3600))
        .build(&store);
    let id = captchaai_client::TaskId::new(7);
    let pending = captchaai_client::TaskId::new(8);
    router.assign(id, "login").await.unwrap();
    router.assign(pending, "login").await.unwrap();
    store.record(id, "tok", ResultSource::Poll).await.unwrap();
    tokio::time::sleep(secs(120)).await;
    assert!(
        store.is_empty().await.unwrap(),
        "the store forgot both tasks"
    );
    assert_eq!(store.stats().evicted, 1);
    store
        .record(id, "tok", ResultSource::Pingback)
        .await
        .unwrap();
    // The route of a task still pending outlives the store's entry too.
    store
        .record(pending, "late", ResultSource::Pingback)
        .await
        .unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1].route.as_deref(), Some("login"));
        assert_eq!(seen[1].result.code(), "late");
    }
    assert_eq!(router.stats().dispatched, 2);
}
