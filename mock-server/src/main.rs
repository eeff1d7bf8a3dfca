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
    captchaai_mock::cli::main()
}
