//! [`ClockHold`]: keeps a paused tokio clock still while a call to another process is out.
//!
//! In-process runs use tokio's paused clock, which jumps to the next timer whenever nothing
//! on the runtime is ready to run. Parties on the runtime answer each other at once (a
//! write on a loopback socket is readable immediately), but an answer from another process
//! (Redis) takes real time, during which nothing is ready: the clock would jump, and every
//! timeout around the call would fire before the answer came.
//!
//! Tokio does not auto-advance a paused `current_thread` clock while a `spawn_blocking`
//! task is outstanding (its blocking scheduler inhibits auto-advance from spawn to
//! completion; tokio 1.54, `runtime/blocking/schedule.rs`). So while at least one call is
//! out, one blocking task waits until none is: one spawn per busy period, not per call.
//!
//! A call that is never answered must not stop the clock for good (its own timeout runs on
//! that clock): when no call finished for `stall` of real time, the hold lets go, the clock
//! moves, and the stuck calls time out as they would have.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::Duration,
};

/// Holds the clock of the runtime it is used on while [`ClockHold::enter`]'s guards live.
#[derive(Clone, Debug)]
pub(crate) struct ClockHold {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stall: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Calls out now.
    outstanding: usize,
    /// Calls over so far (progress, for the stall bound).
    finished: u64,
    /// A blocking task holds the clock.
    held: bool,
}

/// One call out; the clock may move again once every guard is dropped.
pub(crate) struct CallGuard {
    shared: Arc<Shared>,
}

impl ClockHold {
    /// A hold that lets go after `stall` of real time without any call finishing.
    pub(crate) fn new(stall: Duration) -> Self {
        ClockHold {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                stall,
            }),
        }
    }

    /// A call starts: the clock of the current runtime stays still until its guard (and
    /// every other one) is dropped. Outside a runtime, it only counts.
    pub(crate) fn enter(&self) -> CallGuard {
        let start = {
            let mut state = self.shared.lock();
            state.outstanding += 1;
            !std::mem::replace(&mut state.held, true)
        };
        if start {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let shared = Arc::clone(&self.shared);
                    // Spawning is what inhibits auto-advance; the task is not awaited.
                    drop(runtime.spawn_blocking(move || shared.hold()));
                }
                Err(_) => self.shared.lock().held = false,
            }
        }
        CallGuard {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.outstanding = state.outstanding.saturating_sub(1);
        state.finished += 1;
        if state.outstanding == 0 {
            self.shared.changed.notify_all();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the counts consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The blocking task: returns (letting the clock move) once no call is out, or when
    /// none finished for `stall`.
    fn hold(&self) {
        let mut state = self.lock();
        loop {
            if state.outstanding == 0 {
                state.held = false;
                return;
            }
            let seen = state.finished;
            let (next, waited) = self
                .changed
                .wait_timeout(state, self.stall)
                .unwrap_or_else(|p| p.into_inner());
            state = next;
            if waited.timed_out() && state.finished == seen && state.outstanding > 0 {
                tracing::warn!(
                    outstanding = state.outstanding,
                    stall = ?self.stall,
                    "no call to the store finished in real time: the paused clock moves on"
                );
                state.held = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::ClockHold;

    /// A paused runtime with nothing else to do: a 10-minute sleep ends at once unless the
    /// hold keeps the clock still. With a call out for 200 ms of real time, simulated time
    /// has not moved when the call ends; once it is over, the clock jumps again.
    #[test]
    fn the_clock_stays_still_while_a_call_is_out() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let hold = ClockHold::new(Duration::from_secs(30));
            let start = tokio::time::Instant::now();
            let sleeper = tokio::spawn(tokio::time::sleep(Duration::from_secs(600)));
            let guard = hold.enter();
            // The "answer" comes from another thread after 200 ms of real time.
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                let _ = tx.send(());
            });
            rx.await.unwrap();
            assert_eq!(
                start.elapsed(),
                Duration::ZERO,
                "the clock moved during the call"
            );
            assert!(!sleeper.is_finished());
            drop(guard);
            sleeper.await.unwrap();
            assert_eq!(start.elapsed(), Duration::from_secs(600));
        });
    }

    /// Without a hold the same wait lets the clock jump (what the hold is for).
    #[test]
    fn without_a_hold_the_clock_jumps() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let start = tokio::time::Instant::now();
            let _sleeper = tokio::spawn(tokio::time::sleep(Duration::from_secs(600)));
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                let _ = tx.send(());
            });
            rx.await.unwrap();
            assert_eq!(start.elapsed(), Duration::from_secs(600));
        });
    }

    /// A call never answered stops the clock for `stall` of real time at most: then its
    /// own timeout fires.
    #[test]
    fn a_stuck_call_lets_go_after_the_stall_bound() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let hold = ClockHold::new(Duration::from_millis(100));
            let _guard = hold.enter();
            let never = std::future::pending::<()>();
            let timed_out = tokio::time::timeout(Duration::from_secs(2), never).await;
            assert!(timed_out.is_err());
        });
    }
}
