//! The command line: dispatch only. The shared argument groups are in [`args`], building the
//! release from them in `release.rs`, what the verbs share at run time (cluster session,
//! default namespace, color, warnings) in `session.rs`, then one file per verb.
use std::process::ExitCode;

use clap::Parser;

pub mod apply;
pub mod arena;
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
#[derive(Debug)]
pub enum Command {
    /// `runnerctl render`
    Render(render::RenderArgs),
    /// `runnerctl diff`
    Diff(diff::DiffArgs),
    /// `runnerctl apply`
    Apply(apply::ApplyArgs),
    /// `runnerctl status`
    Status(status::StatusArgs),
    /// `runnerctl history`
    History(history::HistoryArgs),
    /// `runnerctl rollback`
    Rollback(rollback::RollbackArgs),
    /// `runnerctl uninstall`
    Uninstall(uninstall::UninstallArgs),
    /// `runnerctl doctor`
    Doctor(doctor::DoctorArgs),
    /// `runnerctl job-pod`
    JobPod(job_pod::JobPodArgs),
    /// `runnerctl ci-example`
    CiExample(ci_example::CiExampleArgs),
    /// `runnerctl completion`
    Completion(completion::CompletionArgs),
    /// `runnerctl values`
    Values(values::ValuesArgs),
}

/// The subcommands in help order: name and one-line summary.
const SUBCOMMANDS: [(&str, &str); 12] = [
    (
        "render",
        "Print the objects a release renders to (no cluster needed)",
    ),
    (
        "diff",
        "Show what apply would change on the cluster (server-side dry-run)",
    ),
    (
        "apply",
        "Apply the release with server-side apply, prune what is gone, wait until ready",
    ),
    ("status", "Show the release's objects and their readiness"),
    (
        "history",
        "List the release's revisions: when, who, what changed, how it ended",
    ),
    (
        "rollback",
        "Apply an earlier revision again (default: the one before the latest)",
    ),
    ("uninstall", "Delete the release's objects"),
    (
        "doctor",
        "Check what would keep the runner from working, before or after install",
    ),
    (
        "job-pod",
        "Print the pod the runner creates for a CI job, with its Pod Security level",
    ),
    (
        "ci-example",
        "Print a .gitlab-ci.yml whose build job matches the runner's build mode and tags",
    ),
    (
        "completion",
        "Print the shell completion script (bash, zsh, fish, powershell)",
    ),
    (
        "values",
        "Print the default values with their comments, or their JSON Schema",
    ),
];

/// Subcommand `I` of [`SUBCOMMANDS`], its arguments `A` added only when clap needs them (the
/// one being run, help, completions): a run does not build every subcommand's flags.
fn subcommand<A: clap::Args, const I: usize>() -> clap::Command {
    fn with_args<A: clap::Args, const I: usize>(cmd: clap::Command) -> clap::Command {
        A::augment_args(cmd)
            .about(SUBCOMMANDS[I].1)
            .long_about(None)
    }
    let (name, about) = SUBCOMMANDS[I];
    clap::Command::new(name)
        .about(about)
        .long_about(None)
        .defer(with_args::<A, I>)
}

impl clap::Subcommand for Command {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        cmd.subcommands([
            subcommand::<render::RenderArgs, 0>(),
            subcommand::<diff::DiffArgs, 1>(),
            subcommand::<apply::ApplyArgs, 2>(),
            subcommand::<status::StatusArgs, 3>(),
            subcommand::<history::HistoryArgs, 4>(),
            subcommand::<rollback::RollbackArgs, 5>(),
            subcommand::<uninstall::UninstallArgs, 6>(),
            subcommand::<doctor::DoctorArgs, 7>(),
            subcommand::<job_pod::JobPodArgs, 8>(),
            subcommand::<ci_example::CiExampleArgs, 9>(),
            subcommand::<completion::CompletionArgs, 10>(),
            subcommand::<values::ValuesArgs, 11>(),
        ])
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        SUBCOMMANDS.iter().any(|(n, _)| *n == name)
    }
}

impl clap::FromArgMatches for Command {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        use clap::FromArgMatches as F;
        let Some((name, mut sub)) = matches.remove_subcommand() else {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "a subcommand is required\n",
            ));
        };
        let m = &mut sub;
        Ok(match name.as_str() {
            "render" => Command::Render(F::from_arg_matches_mut(m)?),
            "diff" => Command::Diff(F::from_arg_matches_mut(m)?),
            "apply" => Command::Apply(F::from_arg_matches_mut(m)?),
            "status" => Command::Status(F::from_arg_matches_mut(m)?),
            "history" => Command::History(F::from_arg_matches_mut(m)?),
            "rollback" => Command::Rollback(F::from_arg_matches_mut(m)?),
            "uninstall" => Command::Uninstall(F::from_arg_matches_mut(m)?),
            "doctor" => Command::Doctor(F::from_arg_matches_mut(m)?),
            "job-pod" => Command::JobPod(F::from_arg_matches_mut(m)?),
            "ci-example" => Command::CiExample(F::from_arg_matches_mut(m)?),
            "completion" => Command::Completion(F::from_arg_matches_mut(m)?),
            "values" => Command::Values(F::from_arg_matches_mut(m)?),
            other => {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidSubcommand,
                    format!("unrecognized subcommand '{other}'\n"),
                ));
            }
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
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

    /// Each subcommand name parses to its own variant (the table and the match agree).
    #[test]
    fn every_subcommand_parses_to_its_variant() {
        use super::{Cli, Command, SUBCOMMANDS};
        use clap::Parser;
        let name = |c: &Command| match c {
            Command::Render(_) => "render",
            Command::Diff(_) => "diff",
            Command::Apply(_) => "apply",
            Command::Status(_) => "status",
            Command::History(_) => "history",
            Command::Rollback(_) => "rollback",
            Command::Uninstall(_) => "uninstall",
            Command::Doctor(_) => "doctor",
            Command::JobPod(_) => "job-pod",
            Command::CiExample(_) => "ci-example",
            Command::Completion(_) => "completion",
            Command::Values(_) => "values",
        };
        for (verb, _) in SUBCOMMANDS {
            let mut args = vec!["runnerctl", verb];
            if verb == "completion" {
                args.push("bash");
            }
            let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{verb}: {e}"));
            assert_eq!(name(&cli.command), verb);
        }
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(names, SUBCOMMANDS.map(|(n, _)| n.to_string()));
    }
}
