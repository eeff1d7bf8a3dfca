//! Accounts: their thread slots (how many tasks they solve at once, and the `queue` busy
//! mode's exact FIFO), their balance (charged in the 2captcha dialect), and the pingback
//! hosts they registered (2captcha's `add_pingback`).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};

use super::{
    MockState, World, fate,
    tasks::{Claim, Task},
};
use crate::{
    clock::SimTime,
    codes::Code,
    config::{AccountConfig, BusyMode, Config},
    model::{Dialect, Submission},
    url::{host_of, registration_covers},
};

/// One API key's account.
#[derive(Debug)]
pub(super) struct Account {
    pub(super) key: String,
    threads: u32,
    balance: f64,
    /// Free-at time of each busy slot, with the task holding it.
    slots: BinaryHeap<Reverse<(SimTime, u64)>>,
    /// A forced task released its thread early: free times need recomputing.
    pub(super) slots_dirty: bool,
    pingback_hosts: Vec<String>,
}

impl Account {
    pub(super) fn new(a: AccountConfig) -> Account {
        Account {
            key: a.key,
            threads: a.threads,
            balance: a.balance,
            slots: BinaryHeap::new(),
            slots_dirty: false,
            pingback_hosts: Vec::new(),
        }
    }

    /// Drops slots that are free at `now` and returns how many are busy.
    fn busy(&mut self, now: SimTime, tasks: &HashMap<u64, Task>) -> usize {
        if self.slots_dirty {
            // A forced task released its thread early: recompute free times.
            let entries: Vec<(SimTime, u64)> = self
                .slots
                .drain()
                .map(|Reverse((t, id))| {
                    (tasks.get(&id).map_or(t, |task| task.finish_at.min(t)), id)
                })
                .collect();
            self.slots = entries.into_iter().map(Reverse).collect();
            self.slots_dirty = false;
        }
        while let Some(Reverse((free_at, _))) = self.slots.peek() {
            if *free_at <= now {
                self.slots.pop();
            } else {
                break;
            }
        }
        self.slots.len()
    }
}

impl World {
    /// Admits a submission to one of its account's threads, or refuses it with the code the
    /// service answers: an unregistered pingback host or no funds (2captcha), no plan, every
    /// thread busy (unless the busy mode queues). Returns when the task starts and finishes,
    /// and charges the account (2captcha, solvable tasks only).
    pub(super) fn take_thread(
        &mut self,
        cfg: &Config,
        account: u32,
        sub: &Submission,
        claim: Claim,
    ) -> Result<(SimTime, SimTime), Code> {
        let Claim {
            id,
            now,
            early,
            solve,
            unsolvable,
        } = claim;
        let World {
            accounts,
            tasks,
            counters,
            ..
        } = self;
        let acct = &mut accounts[account as usize];
        if cfg.dialect == Dialect::TwoCaptcha {
            if let Some(url) = &sub.pingback
                && !acct
                    .pingback_hosts
                    .iter()
                    .any(|h| registration_covers(h, host_of(url)))
            {
                return Err(Code::IpAddres);
            }
            // Admission cannot depend on the task's hidden fate: every submit
            // needs the price; only solved tasks are charged (below).
            if acct.balance < sub.kind.price() {
                return Err(Code::ZeroBalance);
            }
        }
        if acct.threads == 0 {
            return Err(Code::KeyDoesNotExist);
        }
        let busy = acct.busy(now, tasks);
        let (started_at, finish_at) = if early {
            // The early race needs the result now: the task is done at once.
            (now, now)
        } else if busy < acct.threads as usize {
            (now, solve.map_or(SimTime::NEVER, |d| now.saturating_add(d)))
        } else {
            match cfg.busy_threads {
                BusyMode::ZeroBalance | BusyMode::NoSlot => {
                    counters.busy_rejections += 1;
                    return Err(if cfg.busy_threads == BusyMode::NoSlot {
                        Code::NoSlotAvailable
                    } else {
                        Code::ZeroBalance
                    });
                }
                BusyMode::Queue => {
                    let Reverse((free_at, _)) = acct.slots.pop().unwrap_or(Reverse((now, 0)));
                    let start = free_at.max(now);
                    (
                        start,
                        match (start.is_never(), solve) {
                            (true, _) | (_, None) => SimTime::NEVER,
                            (false, Some(d)) => start.saturating_add(d),
                        },
                    )
                }
            }
        };
        if !early {
            acct.slots.push(Reverse((finish_at, id)));
        }
        if cfg.dialect == Dialect::TwoCaptcha && !unsolvable {
            acct.balance -= sub.kind.price();
        }
        Ok((started_at, finish_at))
    }

    /// A thread that was to free at `was_free_at` frees at `free_at` instead:
    /// the queued task that was to take it starts then, and the one behind
    /// that when it finishes, and so on. Ties (two threads freeing at the same
    /// moment) go to the earliest submitted task, as the queue is first come,
    /// first served.
    pub(super) fn advance_queue(
        &mut self,
        cfg: &Config,
        account: u32,
        mut was_free_at: SimTime,
        mut free_at: SimTime,
        now: SimTime,
    ) {
        let mut queued: Vec<(SimTime, u64)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.account == account && t.started_at > now)
            .map(|(&id, t)| (t.started_at, id))
            .collect();
        queued.sort_unstable();
        while free_at < was_free_at {
            let Some(pos) = queued.iter().position(|&(start, _)| start == was_free_at) else {
                return;
            };
            let (_, next) = queued.remove(pos);
            let Some(t) = self.tasks.get_mut(&next) else {
                return;
            };
            let (_, solve) = fate(cfg, next, t.kind);
            was_free_at = t.finish_at;
            t.started_at = free_at;
            t.finish_at = solve.map_or(SimTime::NEVER, |d| free_at.saturating_add(d));
            free_at = t.finish_at;
            if !t.finish_at.is_never() {
                let expires = t.finish_at.saturating_add(cfg.result_ttl());
                let has_pb = t.pingback.as_ref().is_some_and(|p| !p.fired);
                self.expiry.push(Reverse((expires, next)));
                if has_pb {
                    self.finish_queue.push(Reverse((t.finish_at, next)));
                }
            }
        }
    }
}

impl MockState {
    /// `(threads, working_threads)` of an account.
    pub(crate) fn threads(&self, account: u32) -> (u32, u32) {
        let now = self.0.clock.now();
        let mut w = self.world();
        let World {
            accounts, tasks, ..
        } = &mut *w;
        let a = &mut accounts[account as usize];
        let busy = a.busy(now, tasks) as u32;
        (a.threads, busy.min(a.threads))
    }

    /// Balance of an account.
    pub(crate) fn balance(&self, account: u32) -> f64 {
        self.world().accounts[account as usize].balance
    }

    /// 2captcha `add_pingback`.
    pub(crate) fn add_pingback_host(&self, account: u32, addr: &str) {
        let host = host_of(addr).to_owned();
        let mut w = self.world();
        let hosts = &mut w.accounts[account as usize].pingback_hosts;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }

    /// 2captcha `get_pingback`.
    pub(crate) fn pingback_hosts(&self, account: u32) -> Vec<String> {
        self.world().accounts[account as usize]
            .pingback_hosts
            .clone()
    }

    /// 2captcha `del_pingback` (`all` clears every host).
    pub(crate) fn del_pingback_host(&self, account: u32, addr: &str) {
        let mut w = self.world();
        let hosts = &mut w.accounts[account as usize].pingback_hosts;
        if addr == "all" {
            hosts.clear();
        } else {
            let host = host_of(addr);
            hosts.retain(|h| h != host);
        }
    }
}
