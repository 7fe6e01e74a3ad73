//! `runnerctl diff`.
use std::process::ExitCode;

use clap::Args;

use super::args::PlanArgs;
use super::session::{Session, print_plan};
use crate::apply::EngineOptions;

/// Arguments of `runnerctl diff`.
#[derive(Debug, Args)]
#[command(after_help = "\
Shows what `runnerctl apply` would change: a server-side dry-run apply (field manager
runnerctl) of every rendered object, compared with the live object; objects the release no
longer renders show as deletions. Secret values are masked unless --show-secrets.

Exit codes: 0 no changes (or changes without --exit-code), 1 error, 2 changes (--exit-code).

Example:
  runnerctl diff -n gitlab-runner --set gitlabUrl=https://gitlab.example.com --set runnerToken=glrt-XXXX --exit-code")]
pub struct DiffArgs {
    /// What to plan and where.
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Exit with 2 when there are changes.
    #[arg(long)]
    pub exit_code: bool,
}

/// Run `runnerctl diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let p = &args.plan;
    let s = Session::connect(&p.cluster, EngineOptions::default().adopt(p.adopt))?;
    let (plan, _) = s.plan(&p.manifest)?;
    print_plan(&plan, p.show_secrets)?;
    if args.exit_code && plan.summary().has_changes() {
        return Ok(ExitCode::from(super::EXIT_CHANGES));
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
