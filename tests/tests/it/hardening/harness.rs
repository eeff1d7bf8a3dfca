//! Item 7 and the harness's low items: its signals stop the client program's process group,
//! report files never overwrite each other or a scenario, a closed output stream never
//! panics, and its TLS folder is private and removed.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use super::support::{Proc, alive, mock_command, real_now, temp_dir};

/// The harness binary run from the workspace root, with `args`.
fn harness(args: &[&str]) -> Command {
    let mut cmd = Command::new(crate::bins::conformance());
    cmd.args(args)
        .current_dir(crate::bins::workspace())
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

const POLL_ONLY: &str = "scenarios/strategies/poll-only.toml";

/// Reads a file `sh` writes, once it holds a line.
fn wait_for_file(path: &Path, within: Duration) -> Option<String> {
    let deadline = real_now() + within;
    while real_now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return Some(text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// SIGTERM or SIGINT to the harness once left its `--client-cmd` process group running with
/// parent 1. The harness now stops the group and exits non-zero.
#[test]
fn a_signal_to_the_harness_stops_the_client_program() {
    for (sig, code) in [("TERM", 143), ("INT", 130)] {
        let dir = temp_dir();
        let pid_file = dir.path().join("sleep.pid");
        let client = format!("sleep 300 & echo $! > '{}'; wait", pid_file.display());
        let mut run = Proc::spawn(&mut harness(&["run", POLL_ONLY, "--client-cmd", &client]));
        let pid: u32 = wait_for_file(&pid_file, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("the client program started: {}", run.stderr()))
            .trim()
            .parse()
            .expect("a pid");
        assert!(alive(pid));
        run.signal(sig);
        let status = run
            .wait(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("the harness still runs 10 s after SIG{sig}"));
        assert_eq!(status.code(), Some(code), "SIG{sig}: {}", run.stderr());
        let deadline = real_now() + Duration::from_secs(5);
        while alive(pid) && real_now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            !alive(pid),
            "SIG{sig}: the client's child {pid} was left running"
        );
    }
}

/// `--junit` and `--json` naming one file (under two spellings, or through a link), or a
/// scenario file of the run, are refused before anything is written.
#[test]
fn report_files_never_overwrite_each_other_or_a_scenario() {
    let dir = temp_dir();
    let scenario = dir.path().join("poll-only.toml");
    let original = std::fs::read_to_string(crate::bins::workspace().join(POLL_ONLY)).unwrap();
    std::fs::write(&scenario, &original).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&scenario, &link).unwrap();
    let report = dir.path().join("report.xml");
    let alias = dir.path().join("alias");
    std::os::unix::fs::symlink(dir.path(), &alias).unwrap();
    let same_report = alias.join("report.xml");
    let s = |p: &PathBuf| p.display().to_string();
    let cases: [(&str, [String; 4]); 3] = [
        (
            "one report file twice",
            [
                "--junit".into(),
                s(&report),
                "--json".into(),
                s(&same_report),
            ],
        ),
        (
            "the scenario as a report",
            ["--junit".into(), s(&report), "--json".into(), s(&scenario)],
        ),
        (
            "a link to the scenario",
            ["--json".into(), s(&link), "--junit".into(), s(&report)],
        ),
    ];
    for (what, flags) in cases {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let out = harness(&[&["run", &s(&scenario)][..], &flags].concat())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains("same file"), "{what}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(&scenario).unwrap(),
            original,
            "{what}: the scenario is intact"
        );
        assert!(!report.exists(), "{what}: nothing written");
    }
}

/// A pipe whose reading end is closed: every write to it fails.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Stdio::from(writer)
}

/// `check` with a closed stderr once panicked (exit 101). No write error panics, in either
/// binary: the exit code says what happened.
#[test]
fn a_closed_output_stream_never_panics() {
    let dir = temp_dir();
    let invalid = dir.path().join("invalid.toml");
    std::fs::write(&invalid, "name = 3\n").unwrap();
    let invalid = invalid.display().to_string();

    let out = harness(&["check", &invalid])
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "check, stderr closed");

    for args in [
        vec!["schema"],
        vec!["checks"],
        vec!["list"],
        vec!["check", POLL_ONLY],
        vec!["run", POLL_ONLY, "--format", "json"],
    ] {
        let out = harness(&args).stdout(closed_pipe()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}, stdout closed: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }

    let out = mock_command(&["--config", &invalid], &[])
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "the mock, stderr closed");
    let out = mock_command(&["--help"], &[])
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(101),
        "the mock's help, stdout closed"
    );
}

/// The harness's TLS folder (`--client-cmd ... --tls`) once had a predictable name in /tmp
/// and the default permissions. It is created private and removed at the end.
#[test]
fn the_harness_tls_folder_is_private_and_removed() {
    let tmp = temp_dir();
    let seen = tmp.path().join("seen.txt");
    let client = format!(
        "stat -c '%a %n' \"$(dirname \"$SSL_CERT_FILE\")\" > '{}'; exit 3",
        seen.display()
    );
    let out = harness(&["run", POLL_ONLY, "--client-cmd", &client, "--tls"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = std::fs::read_to_string(&seen).expect("the client ran");
    let (mode, folder) = seen.trim().split_once(' ').expect("mode and path");
    assert_eq!(mode, "700", "{seen}");
    assert!(
        folder.starts_with(&tmp.path().display().to_string()),
        "{seen}"
    );
    assert!(!Path::new(folder).exists(), "left behind: {folder}");
}
