//! Build script: the version `captchaai-mock --version` prints, with the commit
//! (see `build-support/version.rs`).

#[path = "../build-support/version.rs"]
mod version;

fn main() {
    version::emit();
}
