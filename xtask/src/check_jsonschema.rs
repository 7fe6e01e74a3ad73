//! The pinned `check-jsonschema` that `tests/offline/build_modes.rs` runs on
//! `runnerctl ci-example` output: a maintained JSON Schema validator that ships GitLab's
//! published CI schema (`--builtin-schema vendor.gitlab-ci`).
//!
//! Installed once from PyPI with its dependencies into the test cache,
//! `<cache>/tools/check-jsonschema-<version>/{lib,bin/check-jsonschema}` (the binary is a
//! small launcher that puts `lib` on the Python path), and handed to the tests as
//! `RUNNERCTL_CHECK_JSONSCHEMA`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::testenv::Paths;
use crate::tools::{Tool, pip_install};

/// The `check-jsonschema` release.
pub const VERSION: &str = "0.39.0";

/// The launcher: runs the package from the `lib` directory next to `bin`.
const LAUNCHER: &str = "#!/bin/sh\n\
here=$(cd \"$(dirname \"$0\")/..\" && pwd)\n\
PYTHONPATH=\"$here/lib\" exec python3 -m check_jsonschema \"$@\"\n";

/// The pinned launcher, installed into the cache first if needed.
pub fn ensure(paths: &Paths) -> Result<PathBuf> {
    let tool = Tool {
        dir: &format!("check-jsonschema-{VERSION}"),
        bin: "check-jsonschema",
        doing: &format!("installing check-jsonschema=={VERSION}"),
        pinned: is_pinned,
    };
    tool.ensure(paths, |staging| {
        let package = format!("check-jsonschema=={VERSION}");
        pip_install(&staging.join("lib"), &package, [&package])?;
        let bin = staging.join("bin");
        std::fs::create_dir_all(&bin)?;
        let launcher = bin.join("check-jsonschema");
        std::fs::write(&launcher, LAUNCHER)?;
        make_executable(&launcher)
    })
}

fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

/// The launcher runs and says it is the pinned version.
fn is_pinned(bin: &Path) -> bool {
    Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(VERSION)
        })
}
