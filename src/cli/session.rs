//! What the verbs share at run time: the one default-namespace rule, rendering the release
//! with its warnings printed, the stdout color decision, and for the cluster verbs the
//! session (tokio runtime, connected [`Engine`], `--stats` when done).
use std::cell::Cell;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::args::{ClusterArgs, InstalledArgs, ManifestArgs, ReleaseArgs};
use runnerctl::apply::{ApplySet, DiffOptions, Engine, EngineOptions, Lock, LockOptions, Plan};
use runnerctl::k8s::ClientOptions;

/// The release namespace: `-n`, else the one rule every verb uses (the kubeconfig context's
/// namespace, else in a pod the service account's, else `default`). `render` passes
/// `ClientOptions::default()`, the cluster verbs their `--kubeconfig`/`--context`.
pub(crate) fn namespace(release: &ReleaseArgs, client: &ClientOptions) -> String {
    release
        .namespace
        .clone()
        .unwrap_or_else(|| runnerctl::k8s::default_namespace(client))
}

/// Build the release from the flags and render it; the values' and the render's warnings go
/// to stderr.
pub(crate) fn render(
    what: &ManifestArgs,
    client: &ClientOptions,
) -> anyhow::Result<(runnerctl::Release, runnerctl::Manifest)> {
    let (release, mut warnings) = what.release(namespace(&what.release, client))?;
    let manifest = runnerctl::render::render(&release)?;
    warnings.extend(manifest.warnings.iter().cloned());
    print_warnings(&warnings);
    Ok((release, manifest))
}

/// Write `text` to stdout and flush it.
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Print warnings on stderr, one per line.
pub(crate) fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("runnerctl: warning: {w}");
    }
}

/// Colors on stdout: only on a terminal, never with `NO_COLOR` set (non-empty).
pub(crate) fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Print the plan's diffs and summary line on stdout (diff, apply).
pub(crate) fn print_plan(plan: &Plan, show_secrets: bool) -> anyhow::Result<()> {
    let opts = DiffOptions::default()
        .show_secrets(show_secrets)
        .color(stdout_color());
    let mut out = std::io::stdout().lock();
    out.write_all(plan.diff(&opts).as_bytes())?;
    writeln!(out, "{}", plan.summary())?;
    for restart in &plan.restarts {
        writeln!(out, "{restart}")?;
    }
    out.flush()?;
    Ok(())
}

/// A runtime and a connected engine, plus the start time for `--stats` (printed on drop) and
/// the command's time budget (its `--timeout`), which bounds the retries of API requests.
pub(crate) struct Session {
    /// The runtime the engine's futures run on.
    pub rt: tokio::runtime::Runtime,
    /// The engine, connected to the cluster the flags name.
    pub engine: Engine,
    client: ClientOptions,
    started: Instant,
    /// When the budget started: the command's start, or the user's answer to a question.
    clock: Cell<Instant>,
    budget: Duration,
    stats: bool,
}

impl Session {
    /// Connect with the cluster flags. `budget` is how long the command may take (its
    /// `--timeout`, or [`ClusterArgs::RETRY_DEADLINE`] for verbs without one): no failed
    /// request is retried past it.
    pub(crate) fn connect(
        cluster: &ClusterArgs,
        mut opts: EngineOptions,
        budget: Duration,
    ) -> anyhow::Result<Session> {
        let started = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let client = cluster.client_options();
        let kube = rt.block_on(runnerctl::k8s::client(&client))?;
        opts.retry = opts.retry.request_timeout(cluster.request_timeout);
        let engine = Engine::new(kube, opts)
            .with_retry_notice(std::sync::Arc::new(|m| eprintln!("runnerctl: {m}")));
        engine.set_deadline(Some(started + budget));
        Ok(Session {
            rt,
            engine,
            client,
            started,
            clock: Cell::new(started),
            budget,
            stats: cluster.stats,
        })
    }

    /// Connect for a verb without `--timeout` (diff, status, history, doctor): failed
    /// requests are retried for at most [`ClusterArgs::RETRY_DEADLINE`].
    pub(crate) fn connect_untimed(
        cluster: &ClusterArgs,
        opts: EngineOptions,
    ) -> anyhow::Result<Session> {
        Session::connect(cluster, opts, ClusterArgs::RETRY_DEADLINE)
    }

    /// Connect for a verb that reads an installed release (status, history): the session and
    /// the release's ApplySet.
    pub(crate) fn for_installed(installed: &InstalledArgs) -> anyhow::Result<(Session, ApplySet)> {
        let s = Session::connect_untimed(&installed.cluster, EngineOptions::default())?;
        let set = s.applyset(&installed.release);
        Ok((s, set))
    }

    /// Start the budget again (after the command waited for the user's answer).
    pub(crate) fn restart_clock(&self) {
        let now = Instant::now();
        self.clock.set(now);
        self.engine.set_deadline(Some(now + self.budget));
    }

    /// What is left of the budget (for a wait that must end with it).
    pub(crate) fn time_left(&self) -> Duration {
        self.budget.saturating_sub(self.clock.get().elapsed())
    }

    /// The ApplySet of an installed release (status, uninstall).
    pub(crate) fn applyset(&self, release: &ReleaseArgs) -> ApplySet {
        ApplySet::for_release(&release.release, &namespace(release, &self.client))
    }

    /// Take the release's lock, waiting for another run for what is left of the command's
    /// budget (saying so on stderr). `None` when the release namespace does not exist yet.
    pub(crate) fn lock(
        &self,
        release: &ReleaseArgs,
        force_unlock: bool,
    ) -> anyhow::Result<Option<Lock>> {
        let wait = self.time_left();
        let opts = LockOptions::default().wait(wait).force_unlock(force_unlock);
        let set = self.applyset(release);
        let locked = self.rt.block_on(self.engine.lock(&set, &opts, |holder| {
            eprintln!(
                "runnerctl: waiting for the release's lock, held by {holder} (up to {}s)",
                wait.as_secs()
            )
        }));
        match locked {
            // An identity that may not create Leases (e.g. namespace `edit` rights only) still
            // works, without the protection against concurrent runs.
            Err(e) if e.status_code() == Some(403) => {
                print_warnings(&[format!(
                    "cannot take the release's lock ({e}); concurrent runs are not prevented \
                     (grant create/get/patch/delete on leases.coordination.k8s.io)"
                )]);
                Ok(None)
            }
            other => Ok(other?),
        }
    }

    /// Run `work` holding the release's lock, then give the lock back (also when `work`
    /// fails). A failure to give it back is a warning: the lease expires by itself.
    pub(crate) fn locked<T>(
        &self,
        release: &ReleaseArgs,
        force_unlock: bool,
        work: impl FnOnce(Option<&Lock>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let lock = self.lock(release, force_unlock)?;
        let result = work(lock.as_ref());
        if let Some(lock) = lock
            && let Err(e) = self.rt.block_on(lock.release())
        {
            eprintln!("runnerctl: warning: could not release the lock: {e}");
        }
        result
    }

    /// Render the release from the flags and plan it against the cluster (diff, apply).
    /// Also returns the merged values (for a revision record or a plan file).
    pub(crate) fn plan(&self, what: &ManifestArgs) -> anyhow::Result<(Plan, serde_json::Value)> {
        let (release, manifest) = render(what, &self.client)?;
        let applyset = ApplySet::for_release(&release.name, &release.namespace);
        let plan = self
            .rt
            .block_on(self.engine.plan_manifest(&applyset, &manifest))?;
        print_warnings(&plan.warnings);
        Ok((plan, release.values.as_json().clone()))
    }
}

impl Drop for Session {
    /// Print `--stats` if asked.
    fn drop(&mut self) {
        if self.stats {
            eprintln!(
                "runnerctl: stats: {} API requests ({} retries), {} ms",
                self.engine.requests(),
                self.engine.cluster().retries(),
                self.started.elapsed().as_millis()
            );
        }
    }
}
