//! The `runnerctl` command (the package `runnerctl-cli`, over the `runnerctl` library):
//! dispatch only. The shared argument groups are in [`args`], building the release from them
//! in `release.rs`, what the verbs share at run time (cluster session, default namespace,
//! color, warnings) in `session.rs`, then one file per verb.
#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::Parser;

pub mod apply;
pub mod args;
pub mod ci_example;
pub mod completion;
pub mod controller;
pub mod diff;
pub mod doctor;
pub mod error;
pub mod history;
pub mod job_pod;
pub mod managers;
mod release;
pub mod render;
pub mod rollback;
mod session;
pub mod status;
pub mod token;
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

/// Declares [`Command`], [`SUBCOMMANDS`], clap's parsing of them and [`run`] from one list:
/// variant, its module and arguments, name, one-line summary.
macro_rules! subcommands {
    ($($variant:ident($module:ident::$args:ident) = $name:literal, $about:literal;)*) => {
        /// The subcommands.
        #[derive(Debug)]
        pub enum Command {
            $(
                #[doc = concat!("`runnerctl ", $name, "`")]
                $variant($module::$args),
            )*
        }

        /// The subcommands in help order: name and one-line summary.
        const SUBCOMMANDS: [(&str, &str); [$($name),*].len()] = [$(($name, $about)),*];

        impl clap::Subcommand for Command {
            fn augment_subcommands(cmd: clap::Command) -> clap::Command {
                cmd.subcommands([$({
                    // The arguments are added only when clap needs them (the one being run,
                    // help, completions): a run does not build every subcommand's flags.
                    fn with_args(cmd: clap::Command) -> clap::Command {
                        <$module::$args as clap::Args>::augment_args(cmd)
                            .about($about)
                            .long_about(None)
                    }
                    clap::Command::new($name)
                        .about($about)
                        .long_about(None)
                        .defer(with_args)
                }),*])
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
                let Some((name, mut sub)) = matches.remove_subcommand() else {
                    return Err(clap::Error::raw(
                        clap::error::ErrorKind::MissingSubcommand,
                        "a subcommand is required\n",
                    ));
                };
                Ok(match name.as_str() {
                    $($name => Command::$variant(clap::FromArgMatches::from_arg_matches_mut(
                        &mut sub,
                    )?),)*
                    other => {
                        return Err(clap::Error::raw(
                            clap::error::ErrorKind::InvalidSubcommand,
                            format!("unrecognized subcommand '{other}'\n"),
                        ));
                    }
                })
            }

            fn update_from_arg_matches(
                &mut self,
                matches: &clap::ArgMatches,
            ) -> Result<(), clap::Error> {
                *self = Self::from_arg_matches(matches)?;
                Ok(())
            }
        }

        /// Run a parsed command line; errors are returned for `main` to print once.
        pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
            match cli.command {
                $(Command::$variant(args) => $module::run(args),)*
            }
        }
    };
}

subcommands! {
    Render(render::RenderArgs) = "render",
        "Print the objects a release renders to (no cluster needed)";
    Diff(diff::DiffArgs) = "diff",
        "Show what apply would change on the cluster (server-side dry-run)";
    Apply(apply::ApplyArgs) = "apply",
        "Apply the release with server-side apply, prune what is gone, wait until ready";
    Status(status::StatusArgs) = "status",
        "Show the release's objects and their readiness";
    History(history::HistoryArgs) = "history",
        "List the release's revisions: when, who, what changed, how it ended";
    Rollback(rollback::RollbackArgs) = "rollback",
        "Apply an earlier revision again (default: the one before the latest)";
    Uninstall(uninstall::UninstallArgs) = "uninstall",
        "Delete the release's objects";
    Token(token::TokenArgs) = "token",
        "Rotate the runner token: a new one from GitLab, stored first, then a graceful rollout";
    Controller(controller::ControllerArgs) = "controller",
        "Run the controller that keeps GitLabRunner resources installed, or print its CRD";
    Managers(managers::ManagersArgs) = "managers",
        "List the runner managers GitLab knows, tied to the runner pods; --prune the stale ones";
    Doctor(doctor::DoctorArgs) = "doctor",
        "Check what would keep the runner from working, before or after install";
    JobPod(job_pod::JobPodArgs) = "job-pod",
        "Print the pod the runner creates for a CI job, with its Pod Security level";
    CiExample(ci_example::CiExampleArgs) = "ci-example",
        "Print a .gitlab-ci.yml whose build job matches the runner's build mode and tags";
    Completion(completion::CompletionArgs) = "completion",
        "Print the shell completion script (bash, zsh, fish, powershell)";
    Values(values::ValuesArgs) = "values",
        "Print the default values with their comments, or their JSON Schema";
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
            Command::Token(_) => "token",
            Command::Managers(_) => "managers",
            Command::Controller(_) => "controller",
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
            if verb == "token" {
                args.push("rotate");
            }
            if verb == "controller" {
                args.push("crd");
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
