//! `runnerctl apply`.
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;

use super::args::{LockArgs, PlanArgs, WaitArgs};
use super::session::{Session, print_plan};
use crate::apply::{EngineOptions, Lock, WaitOptions};

/// Arguments of `runnerctl apply`.
#[derive(Debug, Args)]
#[command(mut_arg("wait", |a| a.help("Wait until the workloads are ready")))]
#[command(after_help = "\
Prints the diff and summary (as `runnerctl diff`), asks for confirmation on a terminal, then
applies with server-side apply (field manager runnerctl): the Namespace first, then the rest in
install order, writing only objects whose dry-run differs from the live object. Objects the
release no longer renders are pruned (ApplySet inventory, KEP-3659) after every write
succeeded. Then waits until the workloads are ready (--wait=false to skip).

Not on a terminal (CI), apply proceeds without asking, like kubectl apply and helm upgrade:
pipelines run non-interactively and review belongs to `runnerctl diff` in the merge request.

Ownership: runnerctl changes only objects of this release (members of its ApplySet). An
existing object of the same name is adopted only when helm created it for the same release
name and namespace, or with --adopt; anything else is an error naming its owner, and nothing
is written. A namespace that existed before is never relabelled nor deleted, even with
--create-namespace (a warning prints the `kubectl label` command when its Pod Security level
does not admit the job pods). Adopted objects lose the fields runnerctl does not render.
Fields owned by any other field manager are a conflict unless --force-conflicts.

Requests that fail for a passing reason (connection refused or reset, 429, 5xx) are retried
with backoff, and said so on stderr.

Exit codes: 0 applied (and ready), 1 error, conflict, failed or timed-out wait, or declined.

Example:
  runnerctl apply -n gitlab-runner --create-namespace --set gitlabUrl=https://gitlab.example.com \\
    --set runnerToken=glrt-XXXX --set rbac.create=true --yes")]
pub struct ApplyArgs {
    /// What to plan and where.
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Stop after printing the plan.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over fields owned by other field managers instead of failing.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Delete and recreate objects whose immutable fields change (e.g. a Deployment selector).
    #[arg(long)]
    pub recreate: bool,
    /// `--wait`, `--timeout`.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// `--force-unlock`.
    #[command(flatten)]
    pub lock: LockArgs,
    /// After a successful apply, delete helm's record of a release of the same name
    /// (its `sh.helm.release.v1.*` Secrets) so `helm list` no longer shows it. For moving a
    /// helm release to runnerctl: its objects are adopted by the apply, not recreated.
    #[arg(long)]
    pub forget_helm_release: bool,
}

fn confirm() -> anyhow::Result<bool> {
    eprint!("Apply these changes? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Run `runnerctl apply`: plan, show, confirm and apply under the release's lock, then wait.
pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let opts = EngineOptions::default()
        .force_conflicts(args.force_conflicts)
        .recreate(args.recreate)
        .adopt(args.plan.adopt);
    let p = &args.plan;
    let s = Session::connect(&p.cluster, opts)?;
    if args.dry_run {
        print_plan(&s.plan(&p.manifest)?, p.show_secrets)?;
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    let release = &p.manifest.release;
    s.locked(release, args.wait.timeout, args.lock.force_unlock, |lock| {
        apply_locked(&s, &args, lock)
    })
}

/// The part of `apply` that runs under the lock.
fn apply_locked(s: &Session, args: &ApplyArgs, lock: Option<&Lock>) -> anyhow::Result<ExitCode> {
    let p = &args.plan;
    let plan = s.plan(&p.manifest)?;
    print_plan(&plan, p.show_secrets)?;
    let changes = plan.summary().has_changes();
    if changes
        && !args.yes
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
        && !confirm()?
    {
        eprintln!("runnerctl: not applied");
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    if let Some(lock) = lock {
        s.rt.block_on(lock.confirm())?;
    }
    let report = s.rt.block_on(s.engine.apply(&plan, |r| {
        if r.action != crate::apply::Action::Unchanged {
            eprintln!("{r}");
        }
    }))?;
    if !changes {
        eprintln!("runnerctl: no changes");
    }
    if args.forget_helm_release {
        s.rt.block_on(
            s.engine
                .forget_helm_release(&plan.applyset, |r| eprintln!("{r}")),
        )?;
    }
    if !args.wait.wait {
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    let wopts = WaitOptions {
        timeout: args.wait.timeout,
        ..Default::default()
    };
    let waited =
        s.rt.block_on(s.engine.wait(&report.objects(), &wopts, |o, r| match r {
            crate::apply::Readiness::Ready => eprintln!("{o} ready"),
            other => eprintln!("{o}: {other}"),
        }))?;
    if !waited.is_ready() {
        eprint!("{waited}");
        let what = if waited.timed_out {
            format!("timed out after {}s", args.wait.timeout.as_secs())
        } else {
            "failed".into()
        };
        anyhow::bail!(
            "wait {what}: {} object(s) not ready",
            waited.not_ready.len()
        );
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
