//! `runnerctl diff`, and the cluster flags and helpers shared by the cluster subcommands.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;

use super::{ReleaseArgs, ValueArgs};
use crate::apply::{ApplySet, DiffOptions, Engine, EngineOptions, Plan};

/// Where the cluster is, like kubectl: `--kubeconfig`, `--context`, else `$KUBECONFIG`,
/// `~/.kube/config`, the in-cluster service account.
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file [default: $KUBECONFIG, ~/.kube/config, in-cluster config].
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: the current context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Print the number of API requests and the wall time on stderr when done.
    #[arg(long)]
    pub stats: bool,
}

/// What `diff` and `apply` share: the release, its values, the cluster, secret display.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Release name and namespace.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Value flags.
    #[command(flatten)]
    pub values: ValueArgs,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Print Secret values (tokens) in the diff instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// Take over existing objects of the same name that are not part of the release (they
    /// then belong to it and are deleted with it). Without it, only objects helm created for
    /// the same release name and namespace are adopted; anything else is an error.
    #[arg(long)]
    pub adopt: bool,
}

/// What `status` and `uninstall` share: an installed release and the cluster.
#[derive(Debug, Args)]
pub struct InstalledArgs {
    /// Release name.
    #[arg(default_value = "gitlab-runner")]
    pub release: String,
    /// Release namespace [default: the kubeconfig context's namespace, else `default`].
    #[arg(short = 'n', long, env = "RUNNERCTL_NAMESPACE")]
    pub namespace: Option<String>,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

impl InstalledArgs {
    /// Connect and name the release's ApplySet (namespace from the flag, else the kubeconfig's).
    pub(crate) fn connect(&self) -> anyhow::Result<(Session, crate::apply::ApplySet)> {
        let s = Session::connect(&self.cluster, EngineOptions::default())?;
        let ns = self
            .namespace
            .clone()
            .unwrap_or_else(|| s.default_namespace.clone());
        let set = crate::apply::ApplySet::for_release(&self.release, &ns);
        Ok((s, set))
    }
}

/// A runtime and a connected engine, plus the start time for `--stats`.
pub(crate) struct Session {
    pub rt: tokio::runtime::Runtime,
    pub engine: Engine,
    pub default_namespace: String,
    started: Instant,
    stats: bool,
}

impl Session {
    /// Connect with the cluster flags.
    pub(crate) fn connect(cluster: &ClusterArgs, opts: EngineOptions) -> anyhow::Result<Session> {
        let started = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let copts = crate::k8s::ClientOptions {
            kubeconfig: cluster.kubeconfig.clone(),
            context: cluster.context.clone(),
        };
        let client = rt.block_on(crate::k8s::client(&copts))?;
        let default_namespace = client.default_namespace().to_string();
        Ok(Session {
            rt,
            engine: Engine::new(client, opts)
                .with_retry_notice(std::sync::Arc::new(|m| eprintln!("runnerctl: {m}"))),
            default_namespace,
            started,
            stats: cluster.stats,
        })
    }

    /// Print `--stats` if asked.
    fn finish(&self) {
        if self.stats {
            eprintln!(
                "runnerctl: stats: {} API requests, {} ms",
                self.engine.requests(),
                self.started.elapsed().as_millis()
            );
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Render the release from the flags and plan it against the cluster.
pub(crate) fn plan_release(
    s: &Session,
    release: &ReleaseArgs,
    values: &ValueArgs,
) -> anyhow::Result<Plan> {
    let ns = s.default_namespace.clone();
    let (rel, mut warnings) = super::build_release(release, values, || ns)?;
    let manifest = crate::render::render(&rel)?;
    warnings.extend(manifest.warnings.iter().cloned());
    super::print_warnings(&warnings);
    let applyset = ApplySet::for_release(&rel.name, &rel.namespace);
    let plan = s.rt.block_on(s.engine.plan(&applyset, &manifest.objects))?;
    super::print_warnings(&plan.warnings);
    Ok(plan)
}

/// Colors on stdout: only on a terminal, never with `NO_COLOR` set (non-empty).
pub(crate) fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Print the plan's diffs and summary line on stdout.
pub(crate) fn print_plan(plan: &Plan, show_secrets: bool) -> anyhow::Result<()> {
    let opts = DiffOptions {
        show_secrets,
        color: stdout_color(),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(plan.diff(&opts).as_bytes())?;
    writeln!(out, "{}", plan.summary())?;
    out.flush()?;
    Ok(())
}

/// Parse `5m`, `30s`, `1h`, `1m30s`, `90` (seconds).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h"))?;
        num.clear();
        total += n * match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => {
                return Err(format!(
                    "invalid duration {s:?}: unit {ch:?} is not s, m or h"
                ));
            }
        };
    }
    if !num.is_empty() {
        return Err(format!(
            "invalid duration {s:?}: a number needs a unit (s, m, h)"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// Arguments of `runnerctl diff`.
#[derive(Debug, Args)]
#[command(after_help = "\
Shows what `runnerctl apply` would change: a server-side dry-run apply (field manager
runnerctl) of every rendered object, compared with the live object; objects the release no
longer renders show as deletions. Secret values are masked unless --show-secrets.

Exit codes: 0 no changes (or changes without --exit-code), 1 error, 2 changes (--exit-code).

Example:
  runnerctl diff -n gitlab-runner --set gitlabUrl=https://gitlab.example.com --set runnerToken=glrt-XXXX --exit-code")]
pub struct DiffArgs {
    /// What to plan and where.
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Exit with 2 when there are changes.
    #[arg(long)]
    pub exit_code: bool,
}

/// Run `runnerctl diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let p = &args.plan;
    let s = Session::connect(&p.cluster, EngineOptions::default().adopt(p.adopt))?;
    let plan = plan_release(&s, &p.release, &p.values)?;
    print_plan(&plan, p.show_secrets)?;
    if args.exit_code && plan.summary().has_changes() {
        return Ok(ExitCode::from(super::EXIT_CHANGES));
    }
    Ok(ExitCode::from(super::EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("1m30").is_err());
    }
}
