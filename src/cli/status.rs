//! `runnerctl status`.
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::diff::{ClusterArgs, Session};
use crate::apply::{ApplySet, EngineOptions};

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
Lists the release's objects (the members of its ApplySet) and their readiness.

Exit codes: 0 shown, 1 error (not installed, cluster error).")]
pub struct StatusArgs {
    /// Release name.
    #[arg(default_value = "gitlab-runner")]
    pub release: String,
    /// Release namespace [default: the kubeconfig context's namespace, else `default`].
    #[arg(short = 'n', long, env = "RUNNERCTL_NAMESPACE")]
    pub namespace: Option<String>,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: StatusFormat,
}

/// Run `runnerctl status`.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let s = Session::connect(&args.cluster, EngineOptions::default())?;
    let ns = args.namespace.clone().unwrap_or_else(|| s.default_namespace.clone());
    let report = s.rt.block_on(s.engine.status(&ApplySet::for_release(&args.release, &ns)))?;
    match args.output {
        StatusFormat::Text => print!("{report}"),
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
