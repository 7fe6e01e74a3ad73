//! `runnerctl render`: print the objects a release renders to. No cluster needed.
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{ManifestArgs, PrintArgs};
use super::session;
use runnerctl::k8s::ClientOptions;
use runnerctl::render::OutputFormat;

/// Output formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Multi-document YAML, a `# Source:` line before each object.
    Yaml,
    /// One JSON v1/List.
    Json,
}

/// Arguments of `runnerctl render`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  runnerctl render -n gitlab-runner --create-namespace \\
    --set gitlabUrl=https://gitlab.example.com --set runnerToken=glrt-XXXX \\
    --set rbac.create=true --set runners.privileged=true
  runnerctl render my-runner -f values.yaml -o json --show-secrets

Secret values print as *** unless --show-secrets. Warnings go to stderr.")]
pub struct RenderArgs {
    /// The release and its values.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// Output flags.
    #[command(flatten)]
    pub print: PrintArgs,
}

/// Run `runnerctl render`.
pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    // No cluster flags: the default namespace comes from the default kubeconfig, as for the
    // cluster verbs without --kubeconfig/--context.
    let (release, manifest) = session::render(&args.manifest, &ClientOptions::default())?;
    let format = match args.print.output {
        Format::Yaml => OutputFormat::Yaml,
        Format::Json => OutputFormat::Json,
    };
    let text = manifest.to_text(format, args.print.show_secrets);
    session::print(&text)?;
    // The process ends here: its memory goes back to the system at once, without walking
    // these trees to free them piece by piece.
    std::mem::forget((release, manifest, text));
    Ok(ExitCode::from(super::EXIT_OK))
}
