//! `captchaai-conformance`, as the wheel ships it: the same entry point and allocator as
//! `conformance/src/main.rs`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // As `conformance/src/main.rs`: no transparent huge pages (mimalloc asks for them).
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    captchaai_conformance::cli::main()
}
