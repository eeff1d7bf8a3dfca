//! `captchaai-mock`: the standalone mock server. Everything but the allocator lives in the
//! library's `cli` module; `captchaai-mock --help` lists the flags.

use std::process::ExitCode;

// mimalloc instead of glibc malloc: the request path allocates and frees a
// journal entry (a dozen small strings) per request, often on different
// worker threads; glibc spent about a fifth of the request path's
// instructions there (callgrind, BENCHMARKS.md). The library leaves the
// allocator to whoever embeds it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages for this process: mimalloc asks for them, and the kernel
    // then zeroes (and, when memory is fragmented, compacts for) 2 MiB at a time whenever
    // the journals grow, under the journal's lock: stalls of tens of milliseconds for every
    // pingback in flight (BENCHMARKS.md, "Receiver replicas"). Best effort: a kernel
    // without the flag runs as before.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    captchaai_mock::cli::main()
}
