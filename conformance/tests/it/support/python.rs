//! The Python peers: the example receivers of `examples/receivers/`, and the virtualenv with
//! the official CaptchaAI SDK (`scripts/setup-python-peer.sh`).

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use super::root;

/// A Python receiver on a free port, killed on drop.
pub(crate) struct Receiver {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
}

impl Receiver {
    /// Starts `examples/receivers/SCRIPT` and waits for the address it listens on.
    pub(crate) fn start(script: &str, args: &[&str]) -> Receiver {
        let path = root().join("examples/receivers").join(script);
        let mut all = vec![path.to_str().unwrap()];
        all.extend(args);
        Receiver::start_program(&all)
    }

    /// Starts `python3 ARGS` (a program that prints `listening on http://...` once ready).
    pub(crate) fn start_program(args: &[&str]) -> Receiver {
        let script = args.first().copied().unwrap_or_default();
        let mut child = Command::new("python3")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is installed (the README's test command needs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{script} did not start: {line:?}"))
            .to_owned();
        Receiver { child, base }
    }

    /// The flags that grade it: `--receiver` (with the secret, if any), `--results-url`,
    /// `--register-url`.
    pub(crate) fn args(&self, secret: Option<&str>) -> Vec<String> {
        let url = match secret {
            Some(s) => format!("{}/pingback?token={s}", self.base),
            None => format!("{}/pingback", self.base),
        };
        vec![
            "--receiver".into(),
            url,
            "--results-url".into(),
            format!("{}/results/{{id}}", self.base),
            "--register-url".into(),
            format!("{}/register/{{id}}", self.base),
        ]
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The virtualenv's Python, with the official SDK installed (the test fails, and says what
/// to run, when it is not).
pub(crate) fn venv_python() -> PathBuf {
    let py = root().join(".venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import captchaai"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the official CaptchaAI SDK is not installed: run scripts/setup-python-peer.sh (it creates .venv with captchaai==1.0.1)"
    );
    py
}
