//! What a run leaves outside the process while it runs, registered so that nothing outlives
//! the harness: the process groups of `--client-cmd` programs and the mock's TLS folders.
//!
//! A run stops and removes its own when it ends (the client driver kills the group, the
//! folder is a `tempfile::TempDir`); the guards here only keep the registry in step. What the
//! registry is for is the exit that does not unwind: on SIGTERM or SIGINT the command line
//! (`cli::signals`) calls [`stop_everything`] and exits at once.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Mutex, MutexGuard},
};

struct Registry {
    groups: BTreeSet<i32>,
    dirs: BTreeSet<PathBuf>,
}

static LIVE: Mutex<Registry> = Mutex::new(Registry {
    groups: BTreeSet::new(),
    dirs: BTreeSet::new(),
});

fn live() -> MutexGuard<'static, Registry> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A process group registered while its leader runs; unregistered when dropped.
#[derive(Debug)]
pub(crate) struct GroupGuard(i32);

/// Registers the process group led by `pid` (a child spawned with `process_group(0)`).
/// Ids 0 and 1 are never registered: `killpg` on them would hit the harness or everything.
pub(crate) fn track_group(pid: u32) -> Option<GroupGuard> {
    let pgid = i32::try_from(pid).ok().filter(|p| *p > 1)?;
    live().groups.insert(pgid);
    Some(GroupGuard(pgid))
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        live().groups.remove(&self.0);
    }
}

/// A folder registered while it exists; unregistered when dropped (the `TempDir` beside it
/// removes it).
#[derive(Debug)]
pub(crate) struct DirGuard(PathBuf);

/// Registers a folder to remove should the harness exit without unwinding.
pub(crate) fn track_dir(path: PathBuf) -> DirGuard {
    live().dirs.insert(path.clone());
    DirGuard(path)
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        live().dirs.remove(&self.0);
    }
}

/// Kills every registered process group (SIGKILL: the harness is about to exit and will not
/// wait) and removes every registered folder; how many groups it signalled.
pub(crate) fn stop_everything() -> usize {
    let (groups, dirs) = {
        let mut r = live();
        (std::mem::take(&mut r.groups), std::mem::take(&mut r.dirs))
    };
    for pgid in &groups {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    groups.len()
}
