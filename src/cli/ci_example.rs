//! `runnerctl ci-example`: a `.gitlab-ci.yml` that matches the release's runner. No cluster
//! needed.
use std::process::ExitCode;

use clap::Args;

use super::args::ManifestArgs;
use super::session;
use runnerctl::k8s::ClientOptions;

/// Arguments of `runnerctl ci-example`.
#[derive(Debug, Args)]
#[command(after_help = "\
The job builds and pushes the project's image to its GitLab registry the way the build mode
allows: docker build with a docker:dind service (dind, dind-tls), buildctl-daemonless.sh in
moby/buildkit:rootless (buildkit-rootless), or no build at all (none). Without a build mode
the mode is inferred from the runner config and the header says so. The job carries the
runner's tags (runners.tags) and the variables the mode needs.

Examples:
  runnerctl ci-example -f values.yaml > .gitlab-ci.yml
  runnerctl ci-example build-runner -n ci-build -f build-runner.yaml --tags build
  runnerctl ci-example -f values/examples/multi-runner.yaml --runner build")]
pub struct CiExampleArgs {
    /// The release and its values.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// The tags the job carries, comma separated [default: runners.tags]. With a glrt-
    /// runner authentication token the runner's tags are set in GitLab, not in the values.
    #[arg(long, value_name = "TAG,...")]
    pub tags: Option<String>,
    /// The runner whose jobs the example is for: its `name` in runners.config. Needed when
    /// the config has several [[runners]].
    #[arg(long, value_name = "NAME")]
    pub runner: Option<String>,
}

/// Run `runnerctl ci-example`.
pub fn run(args: CiExampleArgs) -> anyhow::Result<ExitCode> {
    let (_, manifest) = session::render(&args.manifest, &ClientOptions::default())?;
    let mut jobs = manifest
        .jobs_of(args.runner.as_deref())
        .map_err(super::job_pod::runner_choice)?
        .clone();
    if let Some(tags) = &args.tags {
        jobs.tags = runnerctl::render::split_tags(tags);
    }
    let text = runnerctl::render::ci_example::ci_example(&jobs);
    session::print(&text)?;
    Ok(ExitCode::from(super::EXIT_OK))
}
