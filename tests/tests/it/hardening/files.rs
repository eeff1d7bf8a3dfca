//! The mock's TLS folder: private, fresh, removed on exit, and its file never written through
//! a link someone planted.

use std::{os::unix::fs::PermissionsExt as _, time::Duration};

use super::support::{Mock, mock_command, temp_dir};

/// `--tls` without `--tls-dir` once wrote the CA into `/tmp/captchaai-mock-<pid>` (a name
/// anyone can guess, left behind). Now the folder is created private, with a random name,
/// and removed when the mock exits.
#[test]
fn the_tls_folder_is_private_and_removed_on_exit() {
    let tmp = temp_dir();
    let tmp_path = tmp.path().display().to_string();
    let mut mock = Mock::spawn(mock_command(
        &["--bind", "127.0.0.1:0", "--tls"],
        &[("TMPDIR", &tmp_path)],
    ))
    .unwrap_or_else(|r| panic!("{r:?}"));
    let ca = mock.ca.clone().expect("the CA path is printed");
    let folder = ca.parent().expect("a folder").to_owned();
    assert!(folder.starts_with(tmp.path()), "{}", folder.display());
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", folder.display());
    assert!(
        !folder
            .display()
            .to_string()
            .ends_with(&mock.proc.pid().to_string()),
        "not named after the process id: {}",
        folder.display()
    );
    mock.proc.signal("TERM");
    let status = mock.proc.wait(Duration::from_secs(15)).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", mock.proc.stderr());
    assert!(!folder.exists(), "left behind: {}", folder.display());
}

/// With `--tls-dir`, a link planted where the CA goes is replaced, never followed.
#[test]
fn a_planted_link_is_never_followed() {
    let dir = temp_dir();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("captchaai-mock-ca.pem")).unwrap();
    let tls_dir = dir.path().display().to_string();
    let mock = Mock::start(&["--tls", "--tls-dir", &tls_dir]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
    let ca = mock.ca.clone().expect("the CA path is printed");
    let meta = std::fs::symlink_metadata(&ca).unwrap();
    assert!(meta.file_type().is_file(), "a file of its own: {meta:?}");
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
}
