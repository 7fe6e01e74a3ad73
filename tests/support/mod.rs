//! Helpers shared by the test binaries: the repository's files and the runnerctl binary
//! here; the cluster tests' helpers in [`cluster`], the fake GitLab in [`fake_gitlab`].
#![allow(dead_code)]

pub mod cluster;
pub mod fake_gitlab;
pub mod kubectl;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root (the tests belong to the command's package, `src/cli`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A file under values/examples/.
pub fn example(name: &str) -> PathBuf {
    root().join("values/examples").join(name)
}

/// Run the runnerctl binary with `args` (and `stdin`), without any kubeconfig around.
pub fn runnerctl(args: &[&str], stdin: Option<&str>, dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnerctl"));
    cmd.args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("RUNNERCTL_NAMESPACE")
        .env("NO_COLOR", "1")
        .current_dir(dir.unwrap_or(&root()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("runnerctl starts");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    child.wait_with_output().expect("runnerctl finishes")
}

/// stdout and stderr as text.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
