//! `captchaai-mock`, as the wheel ships it: the same entry point and allocator as
//! `mock-server/src/main.rs`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    captchaai_mock::cli::main()
}
