//! SIGTERM and SIGINT: the harness stops what its runs left outside the process (client
//! programs' process groups, TLS folders: [`crate::cleanup`]) and exits at once with 128 + the
//! signal's number (143, 130). Nothing is graded and no report is written: a run cut short
//! proves nothing.
//!
//! The handlers live on a thread with a runtime of their own (each scenario's run has its
//! own runtime), registered before any command starts a child, so no signal can arrive
//! before them.

use super::output::complain;

/// Registers the handlers and waits until they are in place.
pub(super) fn install() {
    let (ready, registered) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready.send(false);
                return;
            };
            runtime.block_on(wait_and_exit(ready));
        });
    let installed = spawned.is_ok() && registered.recv().unwrap_or(false);
    if !installed {
        complain(
            "cannot install the SIGTERM and SIGINT handlers: a signal would leave client \
             programs running",
        );
    }
}

#[cfg(unix)]
async fn wait_and_exit(ready: std::sync::mpsc::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        let _ = ready.send(false);
        return;
    };
    let _ = ready.send(true);
    let (code, name) = tokio::select! {
        _ = interrupt.recv() => (130, "SIGINT"),
        _ = terminate.recv() => (143, "SIGTERM"),
    };
    let stopped = crate::cleanup::stop_everything();
    complain(&format!(
        "stopped by {name}: nothing graded{}",
        match stopped {
            0 => String::new(),
            1 => "; stopped the client program".to_owned(),
            n => format!("; stopped {n} client programs"),
        }
    ));
    std::process::exit(code);
}

#[cfg(not(unix))]
async fn wait_and_exit(ready: std::sync::mpsc::Sender<bool>) {
    let _ = ready.send(true);
    let _ = tokio::signal::ctrl_c().await;
    crate::cleanup::stop_everything();
    complain("stopped by Ctrl-C: nothing graded");
    std::process::exit(130);
}
