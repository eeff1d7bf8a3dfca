//! Store tests that need tokio's paused clock, so the in-memory backend only.

use std::time::Duration;

use captchaai_client::receiver::{ResultSource, ResultStore, StoreConfig};

use crate::support::id;

#[tokio::test(start_paused = true)]
async fn a_store_sized_for_any_run_costs_only_what_it_holds() {
    // The harness sizes the store from the scenario; the largest limits must neither
    // allocate up front nor overflow the clock.
    let store = ResultStore::with_config(StoreConfig {
        ttl: Duration::MAX,
        capacity: usize::MAX,
        ..StoreConfig::default()
    });
    store.register(id(1)).await.unwrap();
    store
        .record(id(2), "r", ResultSource::Pingback)
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(365 * 24 * 3600)).await;
    assert!(store.is_registered(id(1)).await.unwrap());
    assert_eq!(store.get(id(2)).await.unwrap().unwrap().code(), "r");
    assert_eq!(store.len().await.unwrap(), 2);
}
