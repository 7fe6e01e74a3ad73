//! `runnerctl diff`.
use std::process::ExitCode;

use clap::Args;

use super::args::PlanArgs;
use super::session::{Session, print_plan};
use runnerctl::apply::{EngineOptions, PlanFile, SecretsInPlan};

/// Write a plan file; one holding secret values is readable by its owner only.
fn write_plan(path: &std::path::Path, file: &PlanFile) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mode = match file.secrets {
        SecretsInPlan::Included => 0o600,
        SecretsInPlan::Masked => 0o644,
    };
    let mut text = serde_json::to_string_pretty(file)?;
    text.push('\n');
    let what = || format!("cannot write the plan to {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(what)?;
    // The mode applies to a new file only: an existing one is made private too.
    if file.secrets == SecretsInPlan::Included {
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .with_context(what)?;
    }
    f.write_all(text.as_bytes()).with_context(what)?;
    eprintln!(
        "runnerctl: wrote the plan to {} ({})",
        path.display(),
        match file.secrets {
            SecretsInPlan::Included => "with secret values in clear: keep it secret",
            SecretsInPlan::Masked => "secret values masked",
        }
    );
    Ok(())
}

/// Arguments of `runnerctl diff`.
#[derive(Debug, Args)]
#[command(after_help = "\
Shows what `runnerctl apply` would change: a server-side dry-run apply (field manager
runnerctl) of every rendered object, compared with the live object; objects the release no
longer renders show as deletions. Secret values are masked unless --show-secrets.

With --out FILE, the plan is also written to FILE for review; `runnerctl apply --plan FILE`
applies exactly that plan later, or refuses if the live objects changed since.

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
    /// Also write the plan to FILE, for `runnerctl apply --plan FILE` after review: every
    /// object's desired state, the live resourceVersion it was compared against, what is
    /// pruned. Secret values are masked unless --show-secrets (the file says which).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// Run `runnerctl diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let p = &args.plan;
    let s = Session::connect_untimed(&p.cluster, EngineOptions::default().adopt(p.adopt))?;
    let (plan, values) = s.plan(&p.manifest)?;
    print_plan(&plan, p.show_secrets)?;
    if let Some(path) = &args.out {
        write_plan(path, &PlanFile::new(&plan, &values, p.show_secrets))?;
    }
    if args.exit_code && plan.summary().has_changes() {
        return Ok(ExitCode::from(super::EXIT_CHANGES));
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
