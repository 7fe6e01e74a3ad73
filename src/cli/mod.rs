//! The command line: dispatch only. The shared argument groups are in [`args`], building the
//! release from them in `release.rs`, what the verbs share at run time (cluster session,
//! default namespace, color, warnings) in `session.rs`, then one file per verb.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod apply;
pub mod args;
pub mod ci_example;
pub mod completion;
pub mod diff;
pub mod doctor;
pub mod error;
pub mod history;
pub mod job_pod;
mod release;
pub mod render;
pub mod rollback;
mod session;
pub mod status;
pub mod uninstall;
pub mod values;

/// Exit code: success, and for `diff --exit-code` no changes.
pub const EXIT_OK: u8 = 0;
/// Exit code: an error (bad input, cluster error, failed wait).
pub const EXIT_ERROR: u8 = 1;
/// Exit code: `diff --exit-code` found changes.
pub const EXIT_CHANGES: u8 = 2;

const AFTER_HELP: &str = "\
Exit codes: 0 success (diff: no changes), 1 error, 2 changes found (diff --exit-code).

Examples:
  runnerctl render -n gitlab-runner --set gitlabUrl=https://gitlab.example.com --set runnerToken=glrt-XXXX
  runnerctl render -f values.yaml -o json
";

/// Install and keep a GitLab Runner (Kubernetes executor) on a cluster, without helm.
///
/// Takes the official gitlab-runner chart's values and flags, renders the same objects,
/// shows a diff against the live cluster and applies with server-side apply.
#[derive(Debug, Parser)]
#[command(name = "runnerctl", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the objects a release renders to (no cluster needed).
    Render(render::RenderArgs),
    /// Show what apply would change on the cluster (server-side dry-run).
    Diff(diff::DiffArgs),
    /// Apply the release with server-side apply, prune what is gone, wait until ready.
    Apply(apply::ApplyArgs),
    /// Show the release's objects and their readiness.
    Status(status::StatusArgs),
    /// List the release's revisions: when, who, what changed, how it ended.
    History(history::HistoryArgs),
    /// Apply an earlier revision again (default: the one before the latest).
    Rollback(rollback::RollbackArgs),
    /// Delete the release's objects.
    Uninstall(uninstall::UninstallArgs),
    /// Check what would keep the runner from working, before or after install.
    Doctor(doctor::DoctorArgs),
    /// Print the pod the runner creates for a CI job, with its Pod Security level.
    JobPod(job_pod::JobPodArgs),
    /// Print a .gitlab-ci.yml whose build job matches the runner's build mode and tags.
    CiExample(ci_example::CiExampleArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell).
    Completion(completion::CompletionArgs),
    /// Print the default values with their comments, or their JSON Schema.
    Values(values::ValuesArgs),
}

/// Run a parsed command line; errors are returned for `main` to print once.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Render(args) => render::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Apply(args) => apply::run(args),
        Command::JobPod(args) => job_pod::run(args),
        Command::CiExample(args) => ci_example::run(args),
        Command::Status(args) => status::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Uninstall(args) => uninstall::run(args),
        Command::History(args) => history::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Completion(args) => completion::run(args),
        Command::Values(args) => values::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks (ids, `mut_arg` targets, defaults) on every subcommand.
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
