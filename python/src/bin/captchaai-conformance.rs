//! `captchaai-conformance`, as the wheel ships it: the same entry point as
//! `conformance/src/main.rs`.

fn main() -> std::process::ExitCode {
    captchaai_conformance::cli::main()
}
