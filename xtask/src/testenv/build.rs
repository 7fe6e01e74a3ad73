//! Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok from the
//! Go module proxy, once per pinned version, into `<cache>/<k8s version>/bin`.
//!
//! `k8s.io/kubernetes` is not meant to be imported: its go.mod requires every `k8s.io/*`
//! staging module at v0.0.0 and points it at `./staging/...`, which only exists in its own
//! repository. So each program is built from a small generated wrapper module that names
//! it with a `tool` directive and pins the staging modules to their release with
//! `replace` directives (etcd's server module has the same kind of sibling replaces).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::paths::Paths;
use super::pins;

/// The programs `up` runs, all found in the bin dir once built.
pub const PROGRAMS: &[&str] = &[
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
];

/// One wrapper module: a name (its directory), its go.mod, and what to build from it.
struct Wrapper {
    name: &'static str,
    go_mod: String,
    packages: Vec<&'static str>,
    /// The binary's file name when one package is built and go would name it badly.
    output: Option<&'static str>,
    ldflags: String,
}

/// Builds the binaries unless the stamp says the bin dir already holds this build.
pub fn ensure_built(paths: &Paths) -> Result<()> {
    if is_built(paths) {
        return Ok(());
    }
    fs::create_dir_all(paths.version_dir())?;
    // Two `up`s at once (two terminals, two engineers) build once: the second waits here.
    let lock = fs::File::create(paths.version_dir().join("build.lock"))?;
    if lock.try_lock().is_err() {
        eprintln!("testenv: another process is building the control plane; waiting for it");
        lock.lock().context("locking the build directory")?;
    }
    if is_built(paths) {
        return Ok(());
    }
    check_go()?;
    let started = Instant::now();
    let log_path = paths.version_dir().join("build.log");
    eprintln!(
        "testenv: building the control plane (Kubernetes {}, etcd {}, kwok {}) into {}",
        pins::KUBERNETES,
        pins::ETCD,
        pins::KWOK,
        paths.bin_dir().display()
    );
    eprintln!(
        "testenv: this happens once per pinned version; 20 to 40 minutes on 2 cores; log: {}",
        log_path.display()
    );
    let mut log = fs::File::create(&log_path)?;
    let _ = fs::remove_file(paths.stamp_file());
    fs::create_dir_all(paths.bin_dir())?;

    for wrapper in wrappers(paths, &mut log)? {
        let dir = paths.src_dir().join(wrapper.name);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("go.mod"), &wrapper.go_mod)?;
        let step = Instant::now();
        run_go(&dir, &mut log, &log_path, &["mod", "tidy"], wrapper.name)?;
        let mut args = vec!["build", "-trimpath"];
        let ldflags = format!("-ldflags={}", wrapper.ldflags);
        args.push(&ldflags);
        let out = match wrapper.output {
            Some(name) => format!("-o={}", paths.bin_dir().join(name).display()),
            None => format!("-o={}/", paths.bin_dir().display()),
        };
        args.push(&out);
        args.extend(wrapper.packages.iter().copied());
        run_go(&dir, &mut log, &log_path, &args, wrapper.name)?;
        eprintln!(
            "testenv: built {} in {:.0?}",
            wrapper.packages.join(" "),
            step.elapsed()
        );
    }
    for p in PROGRAMS {
        if !paths.bin_dir().join(p).is_file() {
            bail!(
                "the build finished but {} is missing",
                paths.bin_dir().join(p).display()
            );
        }
    }
    fs::write(paths.stamp_file(), pins::stamp())?;
    eprintln!("testenv: control plane built in {:.0?}", started.elapsed());
    Ok(())
}

fn is_built(paths: &Paths) -> bool {
    fs::read_to_string(paths.stamp_file()).is_ok_and(|s| s == pins::stamp())
        && PROGRAMS.iter().all(|p| paths.bin_dir().join(p).is_file())
}

fn check_go() -> Result<()> {
    let out = Command::new("go").arg("version").output().context(
        "running `go version`: Go is needed to build the test control plane (https://go.dev/doc/install)",
    )?;
    if !out.status.success() {
        bail!(
            "`go version` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Runs one go command in `dir` at low priority, its output appended to the build log.
fn run_go(
    dir: &Path,
    log: &mut fs::File,
    log_path: &Path,
    args: &[&str],
    module: &str,
) -> Result<()> {
    writeln!(log, "\n$ (cd {}; go {})", dir.display(), args.join(" "))?;
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "10", "go"]).args(args).current_dir(dir);
    // Never fetch another Go toolchain behind the user's back, unless they asked for one.
    if std::env::var_os("GOTOOLCHAIN").is_none() {
        cmd.env("GOTOOLCHAIN", "local");
    }
    let status = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .status()
        .context("running go")?;
    if !status.success() {
        let tail = super::proc::tail(log_path, 30);
        bail!(
            "`go {}` failed for the {module} wrapper module ({}):\n{tail}\n(full log: {})",
            args.join(" "),
            dir.join("go.mod").display(),
            log_path.display()
        );
    }
    Ok(())
}

fn wrappers(paths: &Paths, log: &mut fs::File) -> Result<Vec<Wrapper>> {
    let go = pins::GO_LANGUAGE;
    let header = "// Generated by `cargo xtask testenv`; rewritten on every build.\n";

    let etcd = Wrapper {
        name: "etcd",
        go_mod: format!(
            "{header}module runnerctl.invalid/testenv/etcd\n\ngo {go}\n\ntool go.etcd.io/etcd/server/v3\n\n\
             require go.etcd.io/etcd/server/v3 {v}\n\n\
             // etcd's server module points its sibling modules at ../ with replace directives,\n\
             // which only work inside etcd's repository: pin their releases instead.\n\
             replace (\n\
             \tgo.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 {v}\n\
             \tgo.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 {v}\n\
             \tgo.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 {v}\n\
             \tgo.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 {v}\n)\n",
            v = pins::ETCD
        ),
        packages: vec!["go.etcd.io/etcd/server/v3"],
        // The main package is the module root: go would name the binary "server".
        output: Some("etcd"),
        ldflags: "-s -w".into(),
    };

    let kwok = Wrapper {
        name: "kwok",
        go_mod: format!(
            "{header}module runnerctl.invalid/testenv/kwok\n\ngo {go}\n\ntool sigs.k8s.io/kwok/cmd/kwok\n\n\
             require sigs.k8s.io/kwok {}\n",
            pins::KWOK
        ),
        packages: vec!["sigs.k8s.io/kwok/cmd/kwok"],
        output: None,
        ldflags: "-s -w".into(),
    };

    let staging = staging_modules(paths, log)?;
    let mut replaces = String::new();
    for m in &staging {
        replaces.push_str(&format!("\t{m} => {m} {}\n", pins::STAGING));
    }
    let k8s_programs = [
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-scheduler",
    ];
    let k8s = Wrapper {
        name: "k8s",
        go_mod: format!(
            "{header}// k8s.io/kubernetes requires every k8s.io/* staging module at v0.0.0 and points it at\n\
             // ./staging; the replace block pins each one to the matching release instead.\n\
             module runnerctl.invalid/testenv/k8s\n\ngo {go}\n\ngodebug default=go1.26\n\n\
             tool (\n{tools})\n\nrequire k8s.io/kubernetes {k}\n\nreplace (\n{replaces})\n",
            tools = k8s_programs
                .iter()
                .map(|p| format!("\t{p}\n"))
                .collect::<String>(),
            k = pins::KUBERNETES,
        ),
        packages: k8s_programs.to_vec(),
        output: None,
        ldflags: k8s_version_ldflags(),
    };
    Ok(vec![etcd, kwok, k8s])
}

/// What `hack/lib/version.sh` stamps into a release build, so that `/version` and
/// `kubectl version` report v1.37.2 rather than v0.0.0-master.
fn k8s_version_ldflags() -> String {
    let v = pins::KUBERNETES;
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    let mut flags = String::from("-s -w");
    for pkg in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        flags.push_str(&format!(
            " -X {pkg}.gitVersion={v} -X {pkg}.gitMajor={major} -X {pkg}.gitMinor={minor} -X {pkg}.gitTreeState=clean"
        ));
    }
    flags
}

/// The staging modules that `k8s.io/kubernetes`'s go.mod requires at v0.0.0: read from the
/// go.mod of the pinned release itself, so a version bump needs no list edit.
fn staging_modules(paths: &Paths, log: &mut fs::File) -> Result<Vec<String>> {
    let module = format!("k8s.io/kubernetes@{}", pins::KUBERNETES);
    fs::create_dir_all(paths.src_dir())?;
    writeln!(log, "\n$ go mod download -json {module}")?;
    let out = Command::new("go")
        .args(["mod", "download", "-json", &module])
        .current_dir(paths.src_dir())
        .env(
            "GOTOOLCHAIN",
            std::env::var("GOTOOLCHAIN").unwrap_or_else(|_| "local".into()),
        )
        .output()
        .context("running go mod download")?;
    log.write_all(&out.stdout)?;
    log.write_all(&out.stderr)?;
    let json = String::from_utf8_lossy(&out.stdout);
    let go_mod_path = json_string_field(&json, "GoMod");
    let Some(go_mod_path) = go_mod_path.filter(|_| out.status.success()) else {
        bail!(
            "`go mod download -json {module}` failed:\n{}{}",
            json,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let go_mod = fs::read_to_string(PathBuf::from(&go_mod_path))
        .with_context(|| format!("reading {go_mod_path}"))?;
    let staging: Vec<String> = go_mod
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next()) {
                (Some(m), Some("v0.0.0")) if m.starts_with("k8s.io/") => Some(m.to_string()),
                _ => None,
            }
        })
        .collect();
    if staging.is_empty() {
        bail!("found no staging modules (k8s.io/* v0.0.0) in {go_mod_path}");
    }
    Ok(staging)
}

/// The value of `"field": "..."` in go's -json output (no escapes in the fields we read).
fn json_string_field(json: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\": \"");
    let start = json.find(&key)? + key.len();
    let end = json[start..].find('"')? + start;
    Some(json[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_string_field_of_go_json() {
        let json = "{\n\t\"Path\": \"k8s.io/kubernetes\",\n\t\"GoMod\": \"/m/k8s.io/kubernetes/@v/v1.37.2.mod\"\n}";
        assert_eq!(
            json_string_field(json, "GoMod").as_deref(),
            Some("/m/k8s.io/kubernetes/@v/v1.37.2.mod")
        );
        assert_eq!(json_string_field(json, "Error"), None);
    }

    #[test]
    fn version_ldflags_name_the_pinned_release() {
        let f = k8s_version_ldflags();
        assert!(f.contains(&format!(
            "k8s.io/component-base/version.gitVersion={}",
            pins::KUBERNETES
        )));
        assert!(f.contains("gitMinor=37"), "{f}");
    }
}
