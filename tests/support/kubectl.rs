//! The one kubectl runner of the tests that drive a real control plane: a module of
//! `tests/support` and included with `#[path = ...] mod kubectl;` by `xtask/tests/testenv.rs`.
//! Standard library only, so both packages can include it.
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Run `kubectl args...` against `kubeconfig`, feeding `stdin` if given; returns its output
/// whatever the exit code (the caller decides what a failure means).
pub fn run(kubeconfig: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs (is it on PATH?)");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("kubectl's stdin")
            .write_all(input.as_bytes())
            .expect("write kubectl's stdin");
    }
    child.wait_with_output().expect("kubectl finishes")
}
