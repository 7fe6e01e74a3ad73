//! `runnerctl apply`.
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;

use super::args::{HistoryArgs, PlanArgs, ReleaseArgs, WaitArgs, WriteArgs};
use super::session::{Session, print_plan};
use runnerctl::apply::{
    EngineOptions, Lock, NewRevision, Operation, Outcome, Plan, PlanFile, RevisionContent,
    WaitOptions, change_lines, last_good,
};

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

History: each apply that changes something records a revision (a Secret
runnerctl.revision.<release>.v<N> in the release namespace; --history-max are kept); see
`runnerctl history` and `runnerctl rollback`. With --rollback-on-failure, a failed or
timed-out wait rolls back to the last good revision, and apply still exits 1.

Reviewed plans: `runnerctl diff ... --out plan.json` writes the plan; `runnerctl apply --plan
plan.json` applies exactly it (no value flags), after checking that every planned object is
still at the resourceVersion the plan saw, and refuses with nothing written, naming each object
that changed, when one moved. A plan written without --show-secrets cannot create or change an
object that holds a secret (the token Secret): those are sealed by a digest.

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
    /// `--yes`, `--dry-run`, `--force-conflicts`, `--recreate`, the wait, the lock, the history.
    #[command(flatten)]
    pub write: WriteArgs,
    /// Apply a plan written by `runnerctl diff --out FILE`, exactly as reviewed (the release,
    /// namespace and objects come from it; no value flags). Refused, with nothing written,
    /// when a planned object changed on the cluster since.
    #[arg(
        long = "plan",
        id = "plan_file",
        value_name = "FILE",
        conflicts_with_all = ["values", "set", "set_string", "set_file", "set_json", "strict", "api_versions", "create_namespace", "adopt"]
    )]
    pub plan_file: Option<std::path::PathBuf>,
    /// When the wait fails or times out, roll back to the last good revision (and still
    /// exit 1, reporting both); the rollback gets a --timeout of its own.
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// After a successful apply, delete helm's record of a release of the same name
    /// (its `sh.helm.release.v1.*` Secrets) so `helm list` no longer shows it. For moving a
    /// helm release to runnerctl: its objects are adopted by the apply, not recreated.
    #[arg(long)]
    pub forget_helm_release: bool,
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Run `runnerctl apply`: plan, show, confirm and apply under the release's lock, then wait.
pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let opts = args.write.engine_options().adopt(args.plan.adopt);
    let p = &args.plan;
    if args.rollback_on_failure && !args.write.wait.wait {
        anyhow::bail!(
            "--rollback-on-failure needs the wait (it rolls back when the wait fails): drop --wait=false"
        );
    }
    if let Some(path) = &args.plan_file {
        return apply_plan_file(&args, path, opts);
    }
    let s = Session::connect(&p.cluster, opts, args.write.wait.timeout)?;
    if args.write.dry_run {
        print_plan(&s.plan(&p.manifest)?.0, p.show_secrets)?;
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    let release = &p.manifest.release;
    s.locked(release, args.write.lock.force_unlock, |lock| {
        let (plan, values) = s.plan(&p.manifest)?;
        print_plan(&plan, p.show_secrets)?;
        let how = Execution {
            write: &args.write,
            show_secrets: p.show_secrets,
            rollback_on_failure: args.rollback_on_failure,
            question: "Apply these changes?",
        };
        let content = RevisionContent::of_plan(&plan, &values);
        execute(&s, lock, &how, &plan, Operation::Apply, content, || {
            if args.forget_helm_release {
                s.rt.block_on(
                    s.engine
                        .forget_helm_release(&plan.applyset, |r| eprintln!("{r}")),
                )?;
            }
            Ok(())
        })
    })
}

/// `apply --plan FILE`: check the file's plan against the live state, print it, and carry it
/// out as apply does; the revision records the plan's content.
fn apply_plan_file(
    args: &ApplyArgs,
    path: &std::path::Path,
    opts: EngineOptions,
) -> anyhow::Result<ExitCode> {
    let text = super::release::read_file(
        &format!("plan file {}", path.display()),
        &path.to_string_lossy(),
    )?;
    // serde's message may quote the text (a secret): only the place is said.
    let file: PlanFile = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "plan file {}:{}:{}: not a runnerctl plan ({:?} error)",
            path.display(),
            e.line(),
            e.column(),
            e.classify()
        )
    })?;
    let given = &args.plan.manifest.release;
    if given
        .namespace
        .as_ref()
        .is_some_and(|n| *n != file.namespace)
        || (given.release != ReleaseArgs::DEFAULT_RELEASE && given.release != file.release)
    {
        anyhow::bail!(
            "plan file {} is for release {} in namespace {}: drop the release and -n, or name those",
            path.display(),
            file.release,
            file.namespace
        );
    }
    let release = ReleaseArgs {
        release: file.release.clone(),
        namespace: Some(file.namespace.clone()),
    };
    let s = Session::connect(&args.plan.cluster, opts, args.write.wait.timeout)?;
    let show = |plan: &Plan| {
        for line in change_lines(plan) {
            println!("{line}");
        }
        println!("{}", plan.summary());
        for restart in &plan.restarts {
            println!("{restart}");
        }
    };
    if args.write.dry_run {
        show(&s.rt.block_on(s.engine.plan_from_file(&file))?);
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    s.locked(&release, args.write.lock.force_unlock, |lock| {
        let plan = s.rt.block_on(s.engine.plan_from_file(&file))?;
        show(&plan);
        let history = s.rt.block_on(s.engine.history(&plan.applyset))?;
        let how = Execution {
            write: &args.write,
            show_secrets: args.plan.show_secrets,
            rollback_on_failure: args.rollback_on_failure,
            question: "Apply this plan?",
        };
        let content = file.revision_content(&history);
        execute(&s, lock, &how, &plan, Operation::ApplyPlan, content, || {
            Ok(())
        })
    })
}

/// How a plan is carried out: what apply and rollback share.
pub(crate) struct Execution<'a> {
    /// `--yes`, the wait, the history, ...
    pub write: &'a WriteArgs,
    /// Show secret values in the rollback's diff.
    pub show_secrets: bool,
    /// Roll back to the last good revision when the wait fails.
    pub rollback_on_failure: bool,
    /// The confirmation question.
    pub question: &'static str,
}

/// Confirm (on a terminal, with changes, without --yes), apply the (printed) plan, run
/// `after_apply`, wait, and record a revision of `content` when anything changed. When the
/// wait fails: roll back if asked, and fail with exit code 1.
pub(crate) fn execute(
    s: &Session,
    lock: Option<&Lock>,
    how: &Execution<'_>,
    plan: &Plan,
    operation: Operation,
    content: RevisionContent,
    after_apply: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let changes = plan.summary().has_changes();
    if changes
        && !how.write.yes
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal()
        && !confirm(how.question)?
    {
        eprintln!("runnerctl: not applied");
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    if changes && !how.write.yes {
        // The time the user took to answer is not the command's: its budget starts again.
        s.restart_clock();
    }
    if let Some(lock) = lock {
        s.rt.block_on(lock.confirm())?;
    }
    let report = apply_and_say(s, plan)?;
    if !changes {
        eprintln!("runnerctl: no changes");
    }
    after_apply()?;
    let outcome = wait(s, &report, &how.write.wait)?;
    let recorded = changes
        .then(|| {
            let new = NewRevision {
                operation,
                summary: plan.summary(),
                changes: change_lines(plan),
                outcome: outcome.clone(),
                content,
            };
            record(s, plan, new, &how.write.history)
        })
        .flatten();
    let Outcome::Failed(why) = outcome else {
        return Ok(ExitCode::from(super::EXIT_OK));
    };
    if !(how.rollback_on_failure && changes) {
        anyhow::bail!("{why}");
    }
    let rolled = roll_back_after_failure(s, how, plan, recorded)?;
    anyhow::bail!("{why}; {rolled}")
}

/// Apply a plan, printing each object written.
fn apply_and_say(s: &Session, plan: &Plan) -> anyhow::Result<runnerctl::apply::Report> {
    Ok(s.rt.block_on(s.engine.apply(plan, |r| {
        if r.action != runnerctl::apply::Action::Unchanged {
            eprintln!("{r}");
        }
    }))?)
}

/// Wait (unless --wait=false) for the applied objects; the outcome to record. A failed wait
/// prints its report on stderr.
fn wait(
    s: &Session,
    report: &runnerctl::apply::Report,
    args: &WaitArgs,
) -> anyhow::Result<Outcome> {
    if !args.wait {
        return Ok(Outcome::Applied);
    }
    let wopts = WaitOptions::default().timeout(s.time_left());
    let waited =
        s.rt.block_on(s.engine.wait(&report.objects(), &wopts, |o, r| match r {
            runnerctl::apply::Readiness::Ready => eprintln!("{o} ready"),
            other => eprintln!("{o}: {other}"),
        }))?;
    if waited.is_ready() {
        return Ok(Outcome::Ready);
    }
    eprint!("{waited}");
    let what = if waited.timed_out {
        format!("timed out after {}s", args.timeout.as_secs())
    } else {
        "failed".into()
    };
    Ok(Outcome::Failed(format!(
        "wait {what}: {} object(s) not ready",
        waited.not_ready.len()
    )))
}

/// Record a revision; a failure is a warning (what was applied stays applied).
fn record(s: &Session, plan: &Plan, new: NewRevision, history: &HistoryArgs) -> Option<u32> {
    match s
        .rt
        .block_on(s.engine.record(&plan.applyset, new, history.history_max))
    {
        Ok(r) => {
            eprintln!("runnerctl: recorded revision {}", r.info.revision);
            Some(r.info.revision)
        }
        Err(e) => {
            eprintln!("runnerctl: warning: could not record the revision: {e}");
            None
        }
    }
}

/// After a failed wait: apply the last good revision before `failed` again, wait, record it.
/// Returns what happened, for the error message.
fn roll_back_after_failure(
    s: &Session,
    how: &Execution<'_>,
    plan: &Plan,
    failed: Option<u32>,
) -> anyhow::Result<String> {
    let set = &plan.applyset;
    let history = s.rt.block_on(s.engine.history(set))?;
    let Some(good) = last_good(&history, failed.unwrap_or(u32::MAX)) else {
        return Ok("no earlier good revision to roll back to".into());
    };
    let to = good.info.revision;
    eprintln!("runnerctl: rolling back to revision {to}");
    // The rollback is an operation of its own, with a --timeout of its own.
    s.restart_clock();
    let back = s.rt.block_on(s.engine.plan_revision(set, good))?;
    print_plan(&back, how.show_secrets)?;
    let report = apply_and_say(s, &back)?;
    let outcome = wait(s, &report, &how.write.wait)?;
    let new = NewRevision::of_plan(
        &back,
        Operation::Rollback { to },
        outcome.clone(),
        &good.content.values,
    );
    record(s, &back, new, &how.write.history);
    Ok(match outcome {
        Outcome::Failed(why) => format!("the rollback to revision {to} failed too: {why}"),
        _ => format!("rolled back to revision {to} ({outcome})"),
    })
}
