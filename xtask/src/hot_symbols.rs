//! `cargo xtask hot-symbols`: writes `link/hot-symbols.txt`, the functions a release build of
//! `runnerctl` runs for `--version` and for a render of the seed release, in the order
//! callgrind first lists them. build.rs hands the file to lld (`--symbol-ordering-file`), which
//! places those functions next to each other: a render then faults in a few contiguous pages
//! of code instead of pages spread over the whole binary.
//!
//! The names are mangled symbols whose hashes follow how the dependencies were built: the
//! binary `cargo build --release` or `cargo install --path .` makes has them all, the one
//! `cargo bench` leaves in target/release (dev-dependencies' features unified in) only some.
//! lld skips a name the binary does not have, so a stale list costs speed, never a build;
//! run this again after dependency or compiler upgrades. Needs valgrind and nm.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The file, relative to the workspace root.
pub const FILE: &str = "link/hot-symbols.txt";

/// The runs whose functions are hot: the floor every command pays, then the main job.
const RUNS: &[&[&str]] = &[
    &["--version"],
    &[
        "render",
        "gitlab-runner",
        "-n",
        "gitlab-runner",
        "--create-namespace",
        "-f",
        "values/examples/seed.yaml",
    ],
];

/// Run `cargo xtask hot-symbols`.
pub fn main(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask hot-symbols  (writes {FILE}; needs valgrind and nm)");
    }
    let root = crate::testenv::workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--bin", "runnerctl"])
        .current_dir(&root)
        .status()
        .context("running cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join("release").join("runnerctl");
    let defined = text_symbols(&bin)?;
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let out_file = std::env::temp_dir().join(format!("runnerctl-hot-{}.out", std::process::id()));
    for run in RUNS {
        let status = Command::new("valgrind")
            .args(["--tool=callgrind", "--demangle=no", "--dump-instr=no"])
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .arg(&bin)
            .args(*run)
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running valgrind (apt-get install valgrind)")?;
        if !status.success() {
            bail!("runnerctl {} under callgrind failed", run.join(" "));
        }
        let profile = std::fs::read_to_string(&out_file).context("reading callgrind's output")?;
        let _ = std::fs::remove_file(&out_file);
        for name in functions(&profile) {
            if defined.contains(name) && seen.insert(name.to_owned()) {
                order.push(name.to_owned());
            }
        }
    }
    let path = root.join(FILE);
    std::fs::create_dir_all(path.parent().expect("FILE has a folder"))?;
    std::fs::write(&path, order.join("\n") + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: {} functions in {}", order.len(), path.display());
    Ok(())
}

/// The function names a callgrind profile defines, in the order it first names them (`fn=`
/// and `cfn=` lines name a function in full the first time, then by its number alone).
fn functions(profile: &str) -> Vec<&str> {
    profile
        .lines()
        .filter_map(|line| {
            line.strip_prefix("fn=")
                .or_else(|| line.strip_prefix("cfn="))
        })
        .filter_map(|rest| rest.split_once(") ").map(|(_, name)| name))
        .collect()
}

/// The code symbols `bin` defines (nm types t, T, w, W).
fn text_symbols(bin: &Path) -> Result<HashSet<String>> {
    let out = Command::new("nm")
        .arg("--defined-only")
        .arg(bin)
        .output()
        .context("running nm (binutils)")?;
    if !out.status.success() {
        bail!("nm {} failed", bin.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (_, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            matches!(kind, "t" | "T" | "w" | "W").then(|| name.to_owned())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_named_once_in_first_order() {
        let profile = "\
fl=(1) src/main.rs
fn=(1) main
0 10
cfn=(2) _ZN3foo3bar17h0123456789abcdefE
calls=1 0
0 5
cfn=(2)
calls=1 0
fn=(3) _RNvCs1_3baz4quux
fn=(2)
";
        assert_eq!(
            functions(profile),
            [
                "main",
                "_ZN3foo3bar17h0123456789abcdefE",
                "_RNvCs1_3baz4quux"
            ]
        );
    }
}
