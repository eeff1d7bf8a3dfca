//! `captchaai-conformance`: run scenario files against a CaptchaAI client and
//! pingback receiver, grade them, report.
//!
//! Exit codes: 0 when every scenario is OK or NON-STRICT, 1 when any check
//! FAILED, 2 for bad usage or invalid scenario files.
//!
//! The command line lives in the library (`captchaai_conformance::cli`, where the reason is
//! written down); this is its entry point.

// mimalloc instead of glibc malloc: a run allocates and frees a few small strings per
// request on every side (mock, client, receiver, timeline), and glibc's malloc and free
// took about a fifth of a 100,000-task run's CPU time (BENCHMARKS.md, "Load"). The library
// leaves the allocator to whoever embeds it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // No transparent huge pages for this process: mimalloc asks for them, and the kernel
    // then zeroes 2 MiB pages each time mimalloc returns memory and takes it again, which
    // cost a third of a 100,000-task run's CPU time in the kernel (`clear_page_erms`).
    // Best effort: a kernel without the flag runs as before.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    captchaai_conformance::cli::main()
}
