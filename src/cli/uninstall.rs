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
Deletes the release's objects (the members of its ApplySet) in reverse install order, then
the ApplySet parent, and waits until they are gone. The namespace is kept unless
--delete-namespace, and even then only if runnerctl created it (--create-namespace).

Exit codes: 0 uninstalled, 1 error (not installed, cluster error, timeout).")]
pub struct UninstallArgs {
    /// The installed release.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Also delete the namespace, if runnerctl created it.
    #[arg(long)]
    pub delete_namespace: bool,
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
            .timeout(s.time_left());
        s.rt.block_on(s.engine.uninstall(&set, &opts, |r| eprintln!("{r}")))?;
        Ok(ExitCode::from(super::EXIT_OK))
    })
}
