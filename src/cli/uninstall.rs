//! `runnerctl uninstall`.
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Args};

use super::diff::{InstalledArgs, parse_duration};
use crate::apply::UninstallOptions;

/// Arguments of `runnerctl uninstall`.
#[derive(Debug, Args)]
#[command(after_help = "\
Deletes the release's objects (the members of its ApplySet) in reverse install order, then
the ApplySet parent, and waits until they are gone. The namespace is kept unless
--delete-namespace, and even then only if runnerctl created it (--create-namespace).

Exit codes: 0 uninstalled, 1 error (not installed, cluster error, timeout).")]
pub struct UninstallArgs {
    /// The installed release and the cluster.
    #[command(flatten)]
    pub target: InstalledArgs,
    /// Also delete the namespace, if runnerctl created it.
    #[arg(long)]
    pub delete_namespace: bool,
    /// Wait until everything is gone.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub wait: bool,
    /// How long to wait: 30s, 5m, 1h.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Run `runnerctl uninstall`.
pub fn run(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    let (s, set) = args.target.connect()?;
    let opts = UninstallOptions {
        delete_namespace: args.delete_namespace,
        wait: args.wait,
        timeout: args.timeout,
    };
    s.rt.block_on(s.engine.uninstall(&set, &opts, |r| eprintln!("{r}")))?;
    Ok(ExitCode::from(super::EXIT_OK))
}
