//! The command line: one file per subcommand; this file holds the shared flags.
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub mod apply;
pub mod diff;
pub mod error;
pub mod render;
pub mod status;
pub mod uninstall;

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
    /// Delete the release's objects.
    Uninstall(uninstall::UninstallArgs),
}

/// Release name and namespace, as in `helm upgrade --install RELEASE -n NAMESPACE`.
#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// Release name; objects are named after it (`<release>-gitlab-runner` unless it already
    /// contains `gitlab-runner`).
    #[arg(default_value = "gitlab-runner")]
    pub release: String,
    /// Release namespace [default: the kubeconfig context's namespace, else `default`].
    #[arg(short = 'n', long, env = "RUNNERCTL_NAMESPACE")]
    pub namespace: Option<String>,
    /// Also manage a Namespace object for the release namespace (with Pod Security
    /// Admission labels that allow the runner's job pods).
    #[arg(long)]
    pub create_namespace: bool,
}

/// The value flags, same as helm's; merged in helm's order: -f files, --set-json, --set,
/// --set-string, --set-file.
#[derive(Debug, Clone, Default, Args)]
pub struct ValueArgs {
    /// A values file (YAML) as for the official chart; repeatable, later files win; `-` reads stdin.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<String>,
    /// Set values: `a.b=c,d={x,y},e[0].f=g` (true/false/null and integers are typed).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Set values, keeping every value a string.
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// Set a value from a file's contents: `runners.config=config.toml`.
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    pub set_file: Vec<String>,
    /// Set a value from JSON: `tolerations=[{"key":"a","operator":"Exists"}]`.
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    pub set_json: Vec<String>,
    /// Unknown values keys are errors instead of warnings.
    #[arg(long)]
    pub strict: bool,
    /// An API version the cluster offers, for objects gated on it (e.g.
    /// `monitoring.coreos.com/v1` for ServiceMonitor); repeatable, like helm's.
    #[arg(
        long = "api-versions",
        value_name = "GROUP/VERSION",
        value_delimiter = ','
    )]
    pub api_versions: Vec<String>,
}

/// Read a `-f` file (`-` = stdin) with a message that names it.
fn read_input(path: &str) -> anyhow::Result<(String, String)> {
    use anyhow::Context as _;
    if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading values from stdin")?;
        return Ok(("<stdin>".to_string(), text));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read values file {path}"))?;
    Ok((path.to_string(), text))
}

/// The namespace of the kubeconfig's current context, else `default` (like kubectl and helm).
pub fn kubeconfig_namespace() -> String {
    ::kube::config::Kubeconfig::read()
        .ok()
        .and_then(|kc| {
            let current = kc.current_context.clone()?;
            kc.contexts
                .into_iter()
                .find(|c| c.name == current)?
                .context?
                .namespace
        })
        .unwrap_or_else(|| "default".to_string())
}

/// Merge the value flags in helm's order and build the [`Release`](crate::Release) to render.
/// Returns the warnings about the values (unknown or deprecated keys) for the caller to print.
pub fn build_release(
    release: &ReleaseArgs,
    values: &ValueArgs,
    namespace_default: impl FnOnce() -> String,
) -> anyhow::Result<(crate::Release, Vec<String>)> {
    use anyhow::Context as _;
    let mut builder = crate::ValuesBuilder::new().strict(values.strict);
    for path in &values.values {
        let (name, text) = read_input(path)?;
        builder = builder.values_file(name, text);
    }
    for expr in &values.set_json {
        builder = builder.set_json(expr.clone());
    }
    for expr in &values.set {
        builder = builder.set(expr.clone());
    }
    for expr in &values.set_string {
        builder = builder.set_string(expr.clone());
    }
    for arg in &values.set_file {
        let (key, path) = crate::values::parse_set_file_arg(arg)?;
        let content = std::fs::read_to_string(&path)
            .with_context(|| format!("--set-file {arg}: cannot read {path}"))?;
        builder = builder.set_file(key, content);
    }
    let (merged, warnings) = builder.build()?;
    let release = crate::Release {
        name: release.release.clone(),
        namespace: release.namespace.clone().unwrap_or_else(namespace_default),
        values: merged,
        create_namespace: release.create_namespace,
        api_versions: values.api_versions.clone(),
    };
    Ok((
        release,
        warnings.into_iter().map(|w| w.to_string()).collect(),
    ))
}

/// Print warnings on stderr, one per line.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("runnerctl: warning: {w}");
    }
}

/// Run a parsed command line; errors are returned for `main` to print once.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Render(args) => render::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Status(args) => status::run(args),
        Command::Uninstall(args) => uninstall::run(args),
    }
}
