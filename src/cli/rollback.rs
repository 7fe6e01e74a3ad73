//! `runnerctl rollback`: apply an earlier revision's objects again.
use std::process::ExitCode;

use clap::Args;

use super::apply::{Execution, execute};
use super::args::{ClusterArgs, HistoryArgs, LockArgs, ReleaseArgs, WaitArgs};
use super::session::{Session, print_plan};
use crate::apply::{EngineOptions, Operation, RevisionContent, rollback_target};

/// Arguments of `runnerctl rollback`.
#[derive(Debug, Args)]
#[command(mut_arg("wait", |a| a.help("Wait until the workloads are ready")))]
#[command(after_help = "\
Applies the objects of an earlier revision again (default: the one before the latest), the
way apply does: the diff and summary, confirmation on a terminal (--yes skips it; off a
terminal it proceeds), the release's lock, prune of what that revision did not have, the
wait. It records a new revision. A lone number is the revision of the default release
(`runnerctl rollback 3`). See `runnerctl history` for the revisions.

Exit codes: 0 rolled back (and ready), 1 error, failed or timed-out wait, or declined.

Example:
  runnerctl rollback gitlab-runner 2 -n gitlab-runner --yes")]
pub struct RollbackArgs {
    /// The release.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// The revision to roll back to [default: the one before the latest].
    #[arg(value_name = "REVISION")]
    pub revision: Option<u32>,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Roll back without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Stop after printing the plan.
    #[arg(long)]
    pub dry_run: bool,
    /// Print Secret values (tokens) in the diff instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// Take over fields owned by other field managers instead of failing.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Delete and recreate objects whose immutable fields change.
    #[arg(long)]
    pub recreate: bool,
    /// `--wait`, `--timeout`.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// `--force-unlock`.
    #[command(flatten)]
    pub lock: LockArgs,
    /// `--history-max`.
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// Run `runnerctl rollback`.
pub fn run(mut args: RollbackArgs) -> anyhow::Result<ExitCode> {
    // `rollback 3`: the one positional is a revision, of the default release.
    if args.revision.is_none()
        && let Ok(n) = args.release.release.parse::<u32>()
    {
        args.revision = Some(n);
        args.release.release = ReleaseArgs::DEFAULT_RELEASE.into();
    }
    let opts = EngineOptions::default()
        .force_conflicts(args.force_conflicts)
        .recreate(args.recreate);
    let s = Session::connect(&args.cluster, opts)?;
    let set = s.applyset(&args.release);
    let plan_target = || -> anyhow::Result<_> {
        let history = s.rt.block_on(s.engine.history(&set))?;
        let target = rollback_target(&set, &history, args.revision)?.clone();
        eprintln!(
            "runnerctl: rolling back release {} to revision {} ({}, {})",
            set.release, target.info.revision, target.info.time, target.info.operation
        );
        let plan = s.rt.block_on(s.engine.plan_revision(&set, &target))?;
        print_plan(&plan, args.show_secrets)?;
        Ok((plan, target))
    };
    if args.dry_run {
        plan_target()?;
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    s.locked(
        &args.release,
        args.wait.timeout,
        args.lock.force_unlock,
        |lock| {
            let (plan, target) = plan_target()?;
            let how = Execution {
                yes: args.yes,
                show_secrets: args.show_secrets,
                wait: &args.wait,
                history: &args.history,
                rollback_on_failure: false,
                question: "Roll back?",
            };
            let operation = Operation::Rollback {
                to: target.info.revision,
            };
            let content = RevisionContent::of_plan(&plan, &target.content.values);
            execute(&s, lock, &how, &plan, operation, content, || Ok(()))
        },
    )
}
