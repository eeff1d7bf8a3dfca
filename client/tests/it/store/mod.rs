//! The result store, on both backends.
//!
//! | module | what |
//! |---|---|
//! | `rules` | the store's rules, one test each, run against every backend (instantiated twice below) |
//! | `redis_only` | what only a shared store can get wrong: replicas racing, waking across replicas, Redis restarted or unreachable, keys bounded |
//! | `receiver_property` | a property test of the receiver in front of each backend, against a model |
//! | `memory_only` | tests that need tokio's paused clock (a year of ttl) |
//!
//! The rules run on the real clock for both backends (Redis counts ttl by its own clock),
//! with durations of a few seconds where ttl matters. Redis comes from
//! `captchaai_test_redis`: the server `scripts/test.sh` started, or one of the test's own;
//! each test gets its own key prefix.

use captchaai_client::receiver::{ResultStore, StoreConfig};

mod memory_only;
mod receiver_property;
#[cfg(feature = "redis")]
mod redis_only;
mod rules;

/// Makes the stores of one test on one backend.
pub(crate) trait Backend {
    /// A store with these limits. On Redis, every store a factory makes shares one state
    /// (the replicas of one receiver); in memory, each is on its own.
    async fn store(&self, config: StoreConfig) -> ResultStore;
}

/// In-memory stores.
pub(crate) struct Memory;

impl Backend for Memory {
    async fn store(&self, config: StoreConfig) -> ResultStore {
        ResultStore::with_config(config)
    }
}

/// Stores on the test Redis, under a key prefix of this factory's own.
#[cfg(feature = "redis")]
pub(crate) struct Redis {
    redis: captchaai_test_redis::TestRedis,
    prefix: String,
}

#[cfg(feature = "redis")]
impl Redis {
    pub(crate) fn new() -> Self {
        Redis {
            redis: captchaai_test_redis::TestRedis::get(),
            prefix: captchaai_test_redis::unique_prefix("store"),
        }
    }

    pub(crate) fn config(&self) -> captchaai_client::receiver::RedisConfig {
        captchaai_client::receiver::RedisConfig::new(self.redis.url())
            .unwrap()
            .with_key_prefix(&self.prefix)
            .unwrap()
    }
}

#[cfg(feature = "redis")]
impl Backend for Redis {
    async fn store(&self, config: StoreConfig) -> ResultStore {
        ResultStore::with_redis(self.config(), config)
            .await
            .unwrap()
    }
}

/// Instantiates each rule once per backend: `store::memory::<rule>`, `store::redis::<rule>`.
macro_rules! on_every_backend {
    ($($rule:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $rule() {
                    super::rules::$rule(super::Memory).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test]
                async fn $rule() {
                    let backend = tokio::task::spawn_blocking(super::Redis::new).await.unwrap();
                    super::rules::$rule(backend).await;
                }
            )*
        }
    };
}

on_every_backend!(
    first_result_wins_and_later_ones_are_reported,
    an_early_result_is_found_by_a_later_wait,
    a_result_wakes_every_waiter,
    wait_registers_any_id_and_times_out,
    an_empty_code_is_refused_and_changes_nothing,
    registered_only_callbacks_need_a_registration,
    entries_expire_after_the_ttl_since_their_last_change,
    an_awaited_entry_outlives_the_ttl,
    capacity_evicts_unregistered_results_before_registered_ids,
    a_flood_of_unexpected_results_never_evicts_an_awaited_task,
    a_store_full_of_waiters_grows_only_by_them,
    subscribe_yields_each_first_result_once,
    a_healthy_store_says_so,
);
