//! `runnerctl rollback`: apply an earlier revision's objects again.
use std::process::ExitCode;

use clap::Args;

use super::apply::{Execution, execute};
use super::args::{ClusterArgs, ReleaseArgs, WriteArgs};
use super::session::{Session, print_plan};
use runnerctl::apply::{Operation, RevisionContent, rollback_target};

/// Arguments of `runnerctl rollback`.
#[derive(Debug, Args)]
#[command(mut_arg("wait", |a| a.help("Wait until the workloads are ready")))]
#[command(mut_arg("yes", |a| a.help("Roll back without asking")))]
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
    /// Print Secret values (tokens) in the diff instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// `--yes`, `--dry-run`, `--force-conflicts`, `--recreate`, the wait, the lock, the history.
    #[command(flatten)]
    pub write: WriteArgs,
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
    let s = Session::connect(
        &args.cluster,
        args.write.engine_options(),
        args.write.wait.timeout,
    )?;
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
    if args.write.dry_run {
        plan_target()?;
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    s.locked(&args.release, args.write.lock.force_unlock, |lock| {
        let (plan, target) = plan_target()?;
        let how = Execution {
            write: &args.write,
            show_secrets: args.show_secrets,
            rollback_on_failure: false,
            question: "Roll back?",
        };
        let operation = Operation::Rollback {
            to: target.info.revision,
        };
        let content = RevisionContent::of_plan(&plan, &target.content.values);
        execute(&s, lock, &how, &plan, operation, content, || Ok(()))
    })
}
