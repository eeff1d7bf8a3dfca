//! The `captchaai-mock` binary's extras: `--version` with the commit, the hidden
//! `completions` and `man` commands for packagers, and a port in use answered with what to do.

use std::{process::Command, time::Duration};

use crate::support::child::{BIN, TempDir, run_bounded};

fn run(args: &[&str]) -> (i32, String, String) {
    let (status, out, err) = run_bounded(
        Command::new(BIN)
            .args(args)
            .env_remove("CAPTCHAAI_MOCK_BIND")
            .env_remove("CAPTCHAAI_MOCK_ADMIN_TOKEN"),
        Duration::from_secs(20),
    );
    let code = status.and_then(|s| s.code()).expect("exits by itself");
    (code, out, err)
}

/// `git rev-parse --short=12 HEAD` of this checkout, when git and `.git` are there.
fn head_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    let expected = match head_commit() {
        Some(c) => format!(
            "captchaai-mock {} (commit {c})\n",
            env!("CARGO_PKG_VERSION")
        ),
        None => format!("captchaai-mock {}\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(out, expected);
}

#[test]
fn completions_and_man_pages_describe_the_flags() {
    for (shell, marker) in [
        ("bash", "complete -F _captchaai__mock"),
        ("zsh", "#compdef captchaai-mock"),
        ("fish", "complete -c captchaai-mock"),
    ] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(out.contains("time-scale"), "{shell} completes the flags");
        assert!(
            out.contains("captchaai") && out.contains("2captcha"),
            "{shell} completes --dialect's values"
        );
    }
    let (code, out, _) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(out.contains(".TH captchaai-mock 1"), "{out}");
    assert!(out.contains("time\\-scale"), "{out}");

    let dir = TempDir::new("man");
    let target = dir.0.join("man1");
    let (code, _, err) = run(&["man", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(target.join("captchaai-mock.1")).unwrap();
    assert!(page.contains(".TH captchaai-mock 1"));

    // A command takes no serving flags: refused, not ignored.
    let (code, _, err) = run(&["--seed", "3", "man"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn an_address_in_use_is_answered_with_a_free_port_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for tls in [false, true] {
        let mut args = vec!["--bind", addr.as_str()];
        if tls {
            args.push("--tls");
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
        assert!(
            err.contains(&format!("binding {addr}")) && err.contains("--bind 127.0.0.1:0"),
            "tls {tls}: {err}"
        );
        assert!(!out.contains("listening"), "{out}");
    }
}
