//! Project tasks: `cargo xtask testenv up|down|env|status`, `cargo xtask test`,
//! `cargo xtask runner-keys`, `cargo xtask man`, `cargo xtask bench fleet`.

mod bench;
mod check_jsonschema;
mod helm;
mod man;
mod runner_keys;
mod shellcheck;
mod testenv;
mod tools;

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use testenv::{Paths, Up};

const USAGE: &str = "\
usage: cargo xtask <task>

  test [-- CARGO_TEST_ARGS...]   start a private test control plane, run
                                 `cargo test --workspace --no-fail-fast [CARGO_TEST_ARGS]
                                 -- --include-ignored` against it, stop it; exits with the
                                 tests' status. Installs the pinned shellcheck, helm and
                                 check-jsonschema first (RUNNERCTL_SHELLCHECK for the script
                                 tests, RUNNERCTL_TEST_HELM for the migration tests,
                                 RUNNERCTL_CHECK_JSONSCHEMA for the ci-example tests).
                                 The test binaries: offline (no cluster needed), cluster.
                                 Example: cargo xtask test -- --test cluster
                                          cargo xtask test -- --test cluster history -- --nocapture
  shellcheck                     install the pinned shellcheck (if needed), print its path:
                                 export RUNNERCTL_SHELLCHECK=$(cargo xtask shellcheck)
  helm                           build the pinned helm (if needed), print its path:
                                 export RUNNERCTL_TEST_HELM=$(cargo xtask helm)
  check-jsonschema               install the pinned check-jsonschema (GitLab's CI schema
                                 included) if needed, print its path:
                                 export RUNNERCTL_CHECK_JSONSCHEMA=$(cargo xtask check-jsonschema)
  runner-keys [--check]          regenerate src/render/runner_keys.json (GitLab Runner's
                                 config keys per section) from the runner's Go module at
                                 the pinned version (needs Go and the Go module proxy);
                                 --check fails when the file is out of date
  man [DIR]                      man pages for runnerctl and each subcommand, from its
                                 clap definitions, into DIR (default target/man/)
  testenv up|down|env|status     the test control plane for trying runnerctl by hand
                                 (`cargo xtask testenv help` says more)
  bench fleet [--runners N] [--namespaces M] [--concurrency C] [--apply-releases K]
                                 the controller at scale on a private control plane: N
                                 GitLabRunners Ready, at rest, one change, deleted; then K
                                 releases by runnerctl apply and by helm; prints a table
                                 (`cargo xtask bench help` says more)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("testenv") => testenv::main(&args[1..]).map(|()| ExitCode::SUCCESS),
        Some("test") => test(&args[1..]),
        Some("runner-keys") => {
            runner_keys::main(&args[1..], &testenv::workspace_root()).map(|()| ExitCode::SUCCESS)
        }
        Some(tool @ ("helm" | "shellcheck" | "check-jsonschema")) => Paths::from_env()
            .and_then(|paths| match tool {
                "helm" => helm::ensure(&paths),
                "shellcheck" => shellcheck::ensure(&paths),
                _ => check_jsonschema::ensure(&paths),
            })
            .map(|bin| {
                println!("{}", bin.display());
                ExitCode::SUCCESS
            }),
        Some("man") => man::main(&args[1..]).map(|()| ExitCode::SUCCESS),
        Some("bench") => bench::main(&args[1..]).map(|()| ExitCode::SUCCESS),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Extra arguments of `cargo xtask test` go to `cargo test`; after a second `--`, to the
/// test binaries. A leading `--` (from `cargo xtask test -- ...`) is dropped.
fn split_test_args(args: &[String]) -> (&[String], &[String]) {
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[]),
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C, SIGTERM and SIGHUP set [`INTERRUPTED`] instead of ending xtask, so that what it
/// started is stopped first. A handler, unlike SIG_IGN, is reset to the default in the
/// programs we exec.
fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// `cargo xtask test`: the control plane up, every test including the cluster tests, the
/// control plane down whatever the tests did.
fn test(args: &[String]) -> Result<ExitCode> {
    let (cargo_args, harness_args) = split_test_args(args);

    // Ctrl-C reaches cargo test (same process group) but must not stop us before `down`.
    catch_signals();

    let started = Instant::now();
    let paths = Paths::from_env()?;
    // Before the control plane: a missing tool fails the run early, and never skips a test.
    let shellcheck = shellcheck::ensure(&paths)
        .context("the script tests need shellcheck; `cargo xtask test` installs a pinned one")?;
    let helm = helm::ensure(&paths)
        .context("the migration tests need helm; `cargo xtask test` builds a pinned one")?;
    let check_jsonschema = check_jsonschema::ensure(&paths).context(
        "the ci-example tests need check-jsonschema; `cargo xtask test` installs a pinned one",
    )?;
    let instance = paths.instance(&format!("test-{}", std::process::id()));
    let up = testenv::up(&paths, &instance, std::process::id()).context(
        "cluster tests need the test control plane; `cargo xtask test` does not skip them",
    )?;
    if up != Up::Started {
        bail!(
            "the private instance {} was unexpectedly running already",
            instance.name
        );
    }
    let up_time = started.elapsed();

    let status = if INTERRUPTED.load(Ordering::SeqCst) {
        None
    } else {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(testenv::workspace_root())
            // Every test binary runs, so one failure does not hide the others.
            .args(["test", "--workspace", "--no-fail-fast"])
            .args(cargo_args)
            .args(["--", "--include-ignored"])
            .args(harness_args)
            .env("KUBECONFIG", instance.kubeconfig())
            .env(
                "RUNNERCTL_TEST_LIMITED_KUBECONFIG",
                instance.limited_kubeconfig(),
            )
            .env("RUNNERCTL_SHELLCHECK", &shellcheck)
            .env("RUNNERCTL_TEST_HELM", &helm)
            .env("RUNNERCTL_CHECK_JSONSCHEMA", &check_jsonschema);
        eprintln!("xtask: running {cmd:?}");
        Some(cmd.status().context("running cargo test"))
    };

    if !matches!(&status, Some(Ok(s)) if s.success()) {
        keep_logs(&instance);
    }
    let down = testenv::down(&paths, &instance);
    eprintln!(
        "xtask: test run took {:.0}s (control plane up in {:.1}s)",
        started.elapsed().as_secs_f64(),
        up_time.as_secs_f64()
    );
    let status = match status {
        None => bail!("interrupted"),
        Some(status) => status?,
    };
    down.context("stopping the test control plane")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(130),
    })
}

/// Copies the control plane's logs to `target/testenv-logs/` before `down` removes them,
/// so a failed run can be looked into.
fn keep_logs(instance: &testenv::Instance) {
    let dest = testenv::workspace_root()
        .join("target")
        .join("testenv-logs");
    let _ = std::fs::remove_dir_all(&dest);
    if std::fs::create_dir_all(&dest).is_err() {
        return;
    }
    for component in testenv::COMPONENTS {
        let _ = std::fs::copy(
            instance.log_file(component),
            dest.join(format!("{component}.log")),
        );
    }
    eprintln!(
        "xtask: the control plane's logs are kept in {}",
        dest.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> (Vec<String>, Vec<String>) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (c, h) = split_test_args(&args);
        (c.to_vec(), h.to_vec())
    }

    #[test]
    fn extra_args_go_to_cargo_test_then_to_the_test_binaries() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(split(&[]), (v(&[]), v(&[])));
        assert_eq!(split(&["--", "cluster"]), (v(&["cluster"]), v(&[])));
        assert_eq!(
            split(&["--", "--test", "cluster", "--", "--nocapture"]),
            (v(&["--test", "cluster"]), v(&["--nocapture"]))
        );
        assert_eq!(
            split(&["-p", "runnerctl"]),
            (v(&["-p", "runnerctl"]), v(&[]))
        );
    }
}
