//! `runnerctl render`: print the objects a release renders to. No cluster needed.
use std::process::ExitCode;

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use super::args::{ManifestArgs, PrintArgs};
use super::session;
use runnerctl::k8s::ClientOptions;
use runnerctl::render::OutputFormat;

/// `-o`: the library's output formats by name, each with its description in `--help`.
pub(crate) fn output_format() -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new(
        OutputFormat::ALL.map(|f| PossibleValue::new(f.name()).help(f.description())),
    )
    .map(|name| name.parse().expect("one of the possible values"))
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
    let (_, manifest) = session::render(&args.manifest, &ClientOptions::default())?;
    session::print(&manifest.to_text(args.print.output, args.print.show_secrets))?;
    Ok(ExitCode::from(super::EXIT_OK))
}
