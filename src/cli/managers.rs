//! `runnerctl managers`: the runner managers GitLab knows for the release's runner, tied to
//! its pods; `--prune` deletes the stale ones.
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::InstalledArgs;
use super::session::Session;
use runnerctl::gitlab::Token;

/// The environment variable that holds the GitLab access token `managers` lists with.
pub const ACCESS_TOKEN_ENV: &str = "GITLAB_TOKEN";

/// Output formats of `managers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManagersFormat {
    /// One line per manager.
    Text,
    /// A JSON document.
    Json,
}

/// Arguments of `runnerctl managers`.
#[derive(Debug, Args)]
#[command(after_help = "\
Lists the runner managers GitLab knows for the release's runner (GET
/api/v4/runners/:id/managers; the runner's id comes from POST /api/v4/runners/verify with its
token), and ties each to a live runner pod: runnerctl's entrypoint gives every runner pod the
system id r_ + the first 12 hex characters of sha256(pod name), so a manager whose id matches
no live pod belongs to a pod that is gone. Such a manager is stale when GitLab does not see it
online either; --prune deletes the stale ones (DELETE /api/v4/runners/managers with the runner
token and the system id: that manager only, never the runner). A runner pod that stops
gracefully unregisters its own manager (see docs/guide/lifecycle.md): stale managers come from
pods that were killed, or from before runnerctl.

Listing needs a GitLab access token (personal, group or project, scope read_api or api) with
access to the runner, taken from the environment variable GITLAB_TOKEN, never from a flag;
it is never printed.

Exit codes: 0 listed (and pruned), 1 error (no GITLAB_TOKEN, GitLab refused, cluster error).

Example:
  GITLAB_TOKEN=glpat-... runnerctl managers gitlab-runner -n gitlab-runner --prune")]
pub struct ManagersArgs {
    /// The installed release and its cluster.
    #[command(flatten)]
    pub installed: InstalledArgs,
    /// With several [[runners]]: the one whose managers to list.
    #[arg(long, value_name = "NAME")]
    pub runner: Option<String>,
    /// Delete the stale managers.
    #[arg(long)]
    pub prune: bool,
    /// How long a request to GitLab may take.
    #[arg(long, default_value = "10s", value_parser = super::args::parse_duration)]
    pub gitlab_timeout: std::time::Duration,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: ManagersFormat,
}

/// Run `runnerctl managers`.
pub fn run(args: ManagersArgs) -> anyhow::Result<ExitCode> {
    let access = std::env::var(ACCESS_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(Token::new)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{ACCESS_TOKEN_ENV} is not set: listing runner managers needs a GitLab access \
                 token (personal, group or project; scope read_api, or api to --prune) in the \
                 environment variable {ACCESS_TOKEN_ENV}"
            )
        })?;
    let (s, set) = Session::for_installed(&args.installed)?;
    let key = args
        .runner
        .as_deref()
        .map(|r| runnerctl::apply::token_key(Some(r)));
    let report = s.rt.block_on(s.engine.managers(
        &set,
        key.as_deref(),
        &access,
        args.prune,
        args.gitlab_timeout,
    ))?;
    match args.output {
        ManagersFormat::Text => print!("{report}"),
        ManagersFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
