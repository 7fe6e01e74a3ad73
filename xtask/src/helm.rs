//! The pinned helm the migration tests install a release with (the product never needs
//! helm). Built once from the Go module proxy with `go install` into the test cache,
//! `<cache>/tools/helm-<version>/bin/helm`, and handed to the tests as `RUNNERCTL_TEST_HELM`.
//!
//! Why v3.22.0: the newest helm v3 release the module proxy serves; v3 is what users of the
//! official chart run today (`helm upgrade --install`), and v3 writes objects with
//! client-side updates (field manager `helm`), which is what runnerctl must take over.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::testenv::Paths;
use crate::tools::Tool;

/// The helm release.
pub const HELM: &str = "v3.22.0";

/// The pinned helm binary, built into the cache first if needed.
pub fn ensure(paths: &Paths) -> Result<PathBuf> {
    let tool = Tool {
        dir: &format!("helm-{HELM}"),
        bin: "helm",
        doing: &format!("building helm {HELM} (a few minutes)"),
        pinned: is_pinned,
    };
    tool.ensure(paths, |staging| {
        std::fs::create_dir_all(staging.join("bin"))?;
        let status = Command::new("go")
            .args(["install", "-trimpath", "-ldflags=-s -w"])
            .arg(format!("helm.sh/helm/v3/cmd/helm@{HELM}"))
            .env("GOBIN", staging.join("bin"))
            .env("GOFLAGS", "-mod=mod")
            .status()
            .context("running `go install` for helm (is Go installed?)")?;
        if !status.success() {
            bail!("`go install helm.sh/helm/v3/cmd/helm@{HELM}` failed ({status})");
        }
        Ok(())
    })
}

/// The binary runs, and Go's build record says it was built from the pinned module version
/// (helm's own `version` shows only what release builds inject).
fn is_pinned(bin: &Path) -> bool {
    let runs = Command::new(bin)
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success());
    runs && Command::new("go")
        .args(["version", "-m"])
        .arg(bin)
        .output()
        .is_ok_and(|out| {
            String::from_utf8_lossy(&out.stdout).lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 3 && f[0] == "mod" && f[1] == "helm.sh/helm/v3" && f[2] == HELM
            })
        })
}
