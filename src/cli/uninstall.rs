//! `runnerctl uninstall`.
use std::process::ExitCode;

use clap::Args;

use super::args::{ClusterArgs, LockArgs, ReleaseArgs, WaitArgs};
use super::session::Session;
use runnerctl::apply::{EngineOptions, UninstallOptions};

/// Arguments of `runnerctl uninstall`.
#[derive(Debug, Args)]
#[command(mut_arg("wait", |a| a.help("Wait until everything is gone")))]
#[command(after_help = "\
Deletes the runner's Deployment first and waits, with progress on stderr, until the runner
has drained: each runner pod gets the graceful stop signal, takes no new job, finishes the CI
jobs it runs and exits. Only then go the objects the runner needs to clean up after its jobs
(Role, RoleBinding, ServiceAccount, Secrets, ConfigMap), in reverse install order, then the
ApplySet parent and the release's history, and runnerctl waits until they are gone.

--timeout bounds it all. When it passes with jobs still running, runnerctl names them, keeps
RBAC and the token so the runner can still clean up its job pods, and exits 1: run uninstall
again once they have finished. --no-drain deletes everything at once (the old behaviour): jobs
still running then lose the permissions their runner needs to clean up after them.

The namespaces are kept unless --delete-namespace, and even then only those runnerctl created
(--create-namespace): the release namespace and the job namespace.

Exit codes: 0 uninstalled, 1 error (not installed, cluster error, timeout).")]
pub struct UninstallArgs {
    /// The installed release.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Also delete the namespaces runnerctl created (release and job namespace).
    #[arg(long)]
    pub delete_namespace: bool,
    /// Do not wait for the runner to finish its jobs before deleting its RBAC and token.
    #[arg(long)]
    pub no_drain: bool,
    /// `--wait`, `--timeout`.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// `--force-unlock`.
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Run `runnerctl uninstall`.
pub fn run(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    let s = Session::connect(&args.cluster, EngineOptions::default(), args.wait.timeout)?;
    let set = s.applyset(&args.release);
    s.locked(&args.release, args.lock.force_unlock, |_| {
        // The wait gets what the lock left of the command's --timeout.
        let opts = UninstallOptions::default()
            .delete_namespace(args.delete_namespace)
            .wait(args.wait.wait)
            .timeout(s.time_left())
            .drain(!args.no_drain);
        s.rt.block_on(s.engine.uninstall(&set, &opts, |r| eprintln!("{r}")))?;
        Ok(ExitCode::from(super::EXIT_OK))
    })
}
