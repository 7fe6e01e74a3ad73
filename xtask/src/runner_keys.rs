//! `cargo xtask runner-keys [--check]`: regenerate `src/render/runner_keys.json`, the keys
//! GitLab Runner decodes per section of a `[[runners]]` entry, from the `toml:"..."` tags of
//! the runner's config structs at a pinned version of its Go module.
//!
//! The Go program next to this file (`runner_keys.go`) is written to a temporary directory and
//! run with `go run`: it downloads the pinned module (`go mod download`) and reads the structs
//! with `go/parser` and `go/ast`; nothing of the runner is compiled.
//!
//! The pin: the chart's default image is runner v18.9.0, but the Go module proxy serves no
//! tagged version of `gitlab.com/gitlab-org/gitlab-runner` (its tags `v18.x` lack the `/v18`
//! module path suffix, so `@v18.9.0` and `@v18.9.0+incompatible` are refused), and here it
//! serves only its `@latest` pseudo-version. That is pinned below; its `VERSION` file is
//! recorded in the data file. Change [`MODULE_VERSION`] and rerun to move the pin.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The runner's Go module.
pub const MODULE: &str = "gitlab.com/gitlab-org/gitlab-runner";
/// The pinned version of [`MODULE`] (a pseudo-version of its main branch, VERSION 19.4.0).
pub const MODULE_VERSION: &str = "v1.11.1-0.20260903214710-fc1f1862bd91";
/// The generated file, relative to the workspace root.
pub const OUTPUT: &str = "src/render/runner_keys.json";

const PROGRAM: &str = include_str!("runner_keys.go");
const GO_MOD: &str = "module runnerkeys\n\ngo 1.22\n";

/// Runs the task: writes [`OUTPUT`], or with `--check` fails when it is out of date.
pub fn main(args: &[String], root: &Path) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask runner-keys [--check]"),
    };
    let generated = generate()?;
    let output = root.join(OUTPUT);
    if check {
        let current = std::fs::read_to_string(&output)
            .with_context(|| format!("reading {}", output.display()))?;
        if current != generated {
            bail!("{OUTPUT} is out of date: run `cargo xtask runner-keys`");
        }
        eprintln!("xtask: {OUTPUT} is up to date ({MODULE}@{MODULE_VERSION})");
        return Ok(());
    }
    std::fs::write(&output, &generated).with_context(|| format!("writing {}", output.display()))?;
    eprintln!("xtask: wrote {OUTPUT} from {MODULE}@{MODULE_VERSION}");
    Ok(())
}

/// The data file's text: the Go program's output.
fn generate() -> Result<String> {
    let dir = TempDir::new()?;
    std::fs::write(dir.0.join("main.go"), PROGRAM)?;
    std::fs::write(dir.0.join("go.mod"), GO_MOD)?;
    let output = Command::new("go")
        .args(["run", "."])
        .arg(format!("{MODULE}@{MODULE_VERSION}"))
        .current_dir(&dir.0)
        // The program needs nothing but the standard library and the pinned module.
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running `go run` (is Go installed?)")?;
    if !output.status.success() {
        bail!("the runner-keys Go program failed ({})", output.status);
    }
    String::from_utf8(output.stdout).context("the Go program's output is not UTF-8")
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("xtask-runner-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
