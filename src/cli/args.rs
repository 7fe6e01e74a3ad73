//! The argument groups the verbs share, each declared once: the release and its namespace
//! (every verb), the value flags, the cluster flags, the wait flags, and the groups built from
//! them for render, diff and apply.
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

/// Release name and namespace, as in `helm upgrade --install RELEASE -n NAMESPACE`; every verb
/// takes them.
#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// Release name; objects are named after it (`<release>-gitlab-runner` unless it already
    /// contains `gitlab-runner`).
    #[arg(default_value = ReleaseArgs::DEFAULT_RELEASE)]
    pub release: String,
    /// Release namespace [default: the kubeconfig context's namespace; inside a pod without a
    /// kubeconfig, the service account's; else `default`].
    #[arg(short = 'n', long, env = "RUNNERCTL_NAMESPACE")]
    pub namespace: Option<String>,
}

impl ReleaseArgs {
    /// The release name when none is given.
    pub const DEFAULT_RELEASE: &str = "gitlab-runner";
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
    /// Unknown keys are errors instead of warnings: values keys, and runners.config keys
    /// GitLab Runner ignores.
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
    /// How CI jobs build container images (same as --set runnerctl.buildMode=MODE, and
    /// applied after every other value flag): dind (privileged, Docker without TLS), dind-tls
    /// (privileged, Docker over TLS), buildkit-rootless (nothing privileged), none (no
    /// builds, locked-down job pods).
    #[arg(long, value_name = "MODE", value_parser = clap::builder::PossibleValuesParser::new(runnerctl::render::build_mode::BuildMode::NAMES))]
    pub build_mode: Option<String>,
}

/// What a release renders from: its name and namespace, `--create-namespace` and the value
/// flags (render, diff and apply).
#[derive(Debug, Clone, Args)]
pub struct ManifestArgs {
    /// Release name and namespace.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Also manage a Namespace object for the release namespace (with Pod Security
    /// Admission labels that allow the runner's job pods).
    #[arg(long)]
    pub create_namespace: bool,
    /// Value flags.
    #[command(flatten)]
    pub values: ValueArgs,
}

/// Output flags of the verbs that print objects without a cluster (render, job-pod).
#[derive(Debug, Clone, Args)]
pub struct PrintArgs {
    /// Output format.
    #[arg(short = 'o', long, default_value = "yaml", value_parser = super::render::output_format())]
    pub output: runnerctl::render::OutputFormat,
    /// Print secret values (tokens, secret environment values) instead of ***.
    #[arg(long)]
    pub show_secrets: bool,
}

/// Where the cluster is, like kubectl: `--kubeconfig`, `--context`, else `$KUBECONFIG`,
/// `~/.kube/config`, the in-cluster service account.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file [default: $KUBECONFIG, ~/.kube/config, in-cluster config].
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: the current context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Print the number of API requests (retries among them) and the wall time on stderr
    /// when done.
    #[arg(long)]
    pub stats: bool,
    /// How long one API request may wait for its answer before it is given up: 30s, 1m. A
    /// request that fails for a passing reason (no answer, connection lost, 429, 5xx) gets up
    /// to 5 tries, and none starts past --timeout (5 minutes for verbs without one).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,
}

impl ClusterArgs {
    /// How long a verb without `--timeout` may go on retrying failed API requests: no retry
    /// starts after this much time (each request may still take `--request-timeout`).
    pub const RETRY_DEADLINE: Duration = Duration::from_secs(5 * 60);

    /// The connection options these flags name.
    pub fn client_options(&self) -> runnerctl::k8s::ClientOptions {
        runnerctl::k8s::ClientOptions::default()
            .kubeconfig(self.kubeconfig.clone())
            .context(self.context.clone())
    }
}

/// An installed release and its cluster (status, history).
#[derive(Debug, Clone, Args)]
pub struct InstalledArgs {
    /// The installed release.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What `diff` and `apply` share: the release, its values, the cluster, secret display.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The release and its values.
    #[command(flatten)]
    pub manifest: ManifestArgs,
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

/// `--force-unlock` (apply, uninstall): the release's lock.
#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// Take the release's lock even if another run holds it. Only for a lock left by a run
    /// that was killed (an abandoned lock also expires by itself 30 s after its last renewal).
    #[arg(long)]
    pub force_unlock: bool,
}

/// What the verbs that write a plan share (apply, rollback): asking, stopping at the plan,
/// conflicts and immutable fields, the wait, the lock and the history.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// Apply without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Stop after printing the plan.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over fields owned by other field managers instead of failing.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Delete and recreate objects whose immutable fields change (e.g. a Deployment selector).
    #[arg(long)]
    pub recreate: bool,
    /// `--wait`, `--timeout`.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// `--force-unlock`.
    #[command(flatten)]
    pub lock: LockArgs,
    /// `--history-max`.
    #[command(flatten)]
    pub history: HistoryArgs,
}

impl WriteArgs {
    /// The engine options these flags ask for.
    pub fn engine_options(&self) -> runnerctl::apply::EngineOptions {
        runnerctl::apply::EngineOptions::default()
            .force_conflicts(self.force_conflicts)
            .recreate(self.recreate)
    }
}

/// `--history-max` (apply, rollback): how many revisions of the release are kept.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// How many revisions of the release to keep (each apply that changes something and each
    /// rollback records one; the oldest go first); 0 keeps them all.
    #[arg(long, default_value_t = runnerctl::apply::DEFAULT_HISTORY_MAX, value_name = "N")]
    pub history_max: usize,
}

/// `--wait[=BOOL]` and `--timeout` (apply, uninstall). Each verb says in its help what it
/// waits for (`mut_arg("wait", ...)`).
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Wait until done.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub wait: bool,
    /// How long the whole command may take, waiting included: 30s, 5m, 1h. No failed API
    /// request is retried past it (one request may still take --request-timeout).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
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

/// `--token-warning-days` (doctor, status).
#[derive(Debug, Args)]
pub struct TokenWarningArgs {
    /// Warn when the runner token expires within this many days (GitLab's
    /// `token_expires_at`); an expired token fails.
    #[arg(long, value_name = "DAYS", default_value_t = runnerctl::gitlab::DEFAULT_WARNING_DAYS)]
    pub token_warning_days: u32,
}
