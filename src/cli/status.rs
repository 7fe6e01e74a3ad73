//! `runnerctl status`.
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::InstalledArgs;
use super::session::Session;

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

Exit codes: 0 shown, 1 error (not installed, cluster error).")]
pub struct StatusArgs {
    /// The installed release and its cluster.
    #[command(flatten)]
    pub installed: InstalledArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: StatusFormat,
}

/// Run `runnerctl status`.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (s, set) = Session::for_installed(&args.installed)?;
    let report = s.rt.block_on(s.engine.status(&set))?;
    match args.output {
        StatusFormat::Text => print!("{report}"),
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
