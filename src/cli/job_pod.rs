//! `runnerctl job-pod`: the pod the runner will create for a CI job, before anything is
//! installed. No cluster needed.
use std::process::ExitCode;

use clap::Args;

use super::args::{ManifestArgs, PrintArgs};
use super::session;
use runnerctl::k8s::ClientOptions;
use runnerctl::render::OutputFormat as Format;
use runnerctl::render::pod_security::Level;

/// Arguments of `runnerctl job-pod`.
#[derive(Debug, Args)]
#[command(after_help = "\
The pod is derived from the rendered runners.config (with the build mode merged in) the way
GitLab Runner's Kubernetes executor builds job pods: the init-permissions, build, helper and
one service container, each with its security context, the config's volumes and environment.
Images a job chooses (image:, services:) come from the config or the build mode; otherwise
they show as *.invalid placeholders. The header names the Pod Security level the pod needs
and why no stricter level admits it; the annotation runnerctl.io/pod-security-level says the
same for machines.

Examples:
  runnerctl job-pod -n gitlab-runner -f values.yaml
  runnerctl job-pod --build-mode none -o json
  runnerctl job-pod -f values/examples/multi-runner.yaml --runner deploy
  runnerctl job-pod --build-mode dind-tls | kubectl apply --dry-run=server -f -")]
pub struct JobPodArgs {
    /// The release and its values.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// The runner whose job pod to show: its `name` in runners.config. Needed when the
    /// config has several [[runners]].
    #[arg(long, value_name = "NAME")]
    pub runner: Option<String>,
    /// Output flags.
    #[command(flatten)]
    pub print: PrintArgs,
}

/// Run `runnerctl job-pod`.
pub fn run(args: JobPodArgs) -> anyhow::Result<ExitCode> {
    let (release, manifest) = session::render(&args.manifest, &ClientOptions::default())?;
    let jobs = manifest
        .jobs_of(args.runner.as_deref())
        .map_err(runner_choice)?;
    let mut pod = manifest.job_pod_of(jobs, args.print.show_secrets);
    let assessment = &jobs.job_pod.assessment;
    let annotations = &mut pod["metadata"]["annotations"];
    annotations["runnerctl.io/pod-security-level"] = assessment.level.as_str().into();
    annotations["runnerctl.io/preview-of"] = format!("job pod of release {}", release.name).into();
    let text = match args.print.output {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&pod)?),
        Format::Yaml => {
            let mode = jobs
                .build_mode
                .map_or("none set (runners.config as written)".to_string(), |m| {
                    m.to_string()
                });
            let mut out = format!(
                "# Job pod of runner {}: build mode {mode}.\n# Pod Security level needed: {}",
                jobs.runner_label(),
                assessment.level
            );
            match assessment.level.stricter() {
                Some(stricter) => {
                    out.push_str(&format!(". Not {stricter}, because:\n"));
                    for reason in assessment.reasons_against(stricter) {
                        out.push_str(&format!("#   {reason}\n"));
                    }
                }
                None => out.push_str(" (the strictest level).\n"),
            }
            if assessment.level == Level::Privileged {
                out.push_str("# Run only on clusters and namespaces where that is acceptable.\n");
            }
            out.push_str(&runnerctl::render::to_yaml(&pod));
            out
        }
    };
    session::print(&text)?;
    Ok(ExitCode::from(super::EXIT_OK))
}

/// The error for `--runner`: the release's runners, and the flag that picks one.
pub(super) fn runner_choice(e: runnerctl::render::RunnerChoice) -> anyhow::Error {
    use runnerctl::render::RunnerChoice;
    match e {
        RunnerChoice::NoneChosen(_) => anyhow::anyhow!("{e} with --runner NAME"),
        RunnerChoice::Unknown { .. } => anyhow::anyhow!("--runner: {e}"),
    }
}
