//! `runnerctl status`.
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{InstalledArgs, TokenWarningArgs};
use super::session::Session;
use runnerctl::apply::StatusOptions;

/// Output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// One line per object.
    Text,
    /// A JSON document.
    Json,
}

/// Arguments of `runnerctl status`.
#[derive(Debug, Args)]
#[command(after_help = "\
Lists the release's objects (the members of its ApplySet) and their readiness, then the
runner: its pods, which of them are draining (stopping: no new jobs, finishing the running
ones) and the grace left, and per pod the CI job pods running on it with the oldest job's
age. Job pods are found in the job namespaces by GitLab Runner's labels
(manager.runner.gitlab.com/id-short, else manager.runner.gitlab.com/name).

Then it asks GitLab about each runner token in the Secret the runner reads (POST
/api/v4/runners/verify, through the CA the runner trusts): the runner's id and the token's
expiry, a warning --token-warning-days before it (default 14). --offline skips GitLab.

Exit codes: 0 shown, 1 error (not installed, cluster error) or a token GitLab rejects or that
has expired (the report is printed first).")]
pub struct StatusArgs {
    /// The installed release and its cluster.
    #[command(flatten)]
    pub installed: InstalledArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: StatusFormat,
    /// Do not ask GitLab about the token.
    #[arg(long)]
    pub offline: bool,
    /// `--token-warning-days`.
    #[command(flatten)]
    pub token: TokenWarningArgs,
}

/// Run `runnerctl status`.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (s, set) = Session::for_installed(&args.installed)?;
    let opts = StatusOptions::default()
        .gitlab(!args.offline)
        .token_warning_days(args.token.token_warning_days);
    let report = s.rt.block_on(s.engine.status_with(&set, &opts))?;
    match args.output {
        StatusFormat::Text => print!("{report}"),
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::from(if report.token_failed() {
        super::EXIT_ERROR
    } else {
        super::EXIT_OK
    }))
}
