//! `runnerctl controller`: run the controller that reconciles GitLabRunner resources, or print
//! its CustomResourceDefinition.
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::apply::{Execution, execute};
use super::args::{ClusterArgs, InstalledArgs, ReleaseArgs, WaitArgs, WriteArgs};
use super::session::{Session, print_plan};
use runnerctl::apply::{Operation, RevisionContent, UninstallOptions};
use runnerctl::controller::ControllerOptions;
use runnerctl::controller::install::{RELEASE, objects};

/// Arguments of `runnerctl controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ControllerAction,
}

/// `runnerctl controller` subcommands.
#[derive(Debug, Subcommand)]
pub enum ControllerAction {
    /// Reconcile GitLabRunner resources until stopped (in a cluster, or from here)
    Run(RunArgs),
    /// Print the GitLabRunner CustomResourceDefinition (YAML), for kubectl apply or Git
    Crd,
    /// Install the controller: CRD, least RBAC, Deployment, metrics Service (diff first)
    Install(InstallArgs),
    /// Uninstall the controller (refused while GitLabRunners exist)
    Uninstall(UninstallArgs),
    /// Print a GitLabRunner manifest for a release installed with runnerctl apply
    Export(ExportArgs),
}

/// Arguments of `runnerctl controller install`.
#[derive(Debug, Args)]
#[command(mut_arg("wait", |a| a.help("Wait until the controller's Deployment is ready")))]
#[command(mut_arg("yes", |a| a.help("Install without asking")))]
#[command(after_help = "\
Installs the controller's objects as runnerctl installs a runner (an ApplySet release named
runnerctl-controller): the GitLabRunner CRD, a ServiceAccount, a ClusterRole with the least the
controller needs (GitLabRunners and their status; the kinds the chart renders; pods read; the
runner's own permissions, which whoever creates the runner's Role must hold) and its binding,
a Role for the leader election Lease, the Deployment (running `runnerctl controller run` from
--image) and a metrics Service on port 8080. The diff comes first, then the question (--yes
skips it), the lock, the wait, a revision. Running it again upgrades.

Uninstall with `runnerctl controller uninstall`.

Example:
  runnerctl controller install --image registry.example.com/runnerctl:0.1.0 --create-namespace --yes")]
pub struct InstallArgs {
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The controller's namespace.
    #[arg(short = 'n', long, default_value = runnerctl::controller::install::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The image with the runnerctl binary the controller's pod runs.
    #[arg(long, required = true)]
    pub image: String,
    /// Create the namespace (Pod Security restricted) if it does not exist.
    #[arg(long)]
    pub create_namespace: bool,
    /// `--yes`, `--dry-run`, `--force-conflicts`, the wait, the lock, the history.
    #[command(flatten)]
    pub write: WriteArgs,
}

/// Arguments of `runnerctl controller uninstall`.
#[derive(Debug, Args)]
#[command(after_help = "\
Deletes the controller's objects (release runnerctl-controller), the CRD included. Refused
while GitLabRunner resources exist: deleting the CRD would delete them, and without the
controller their finalizer would hold them forever. Delete them first (the controller
uninstalls each runner, draining it), or pass --force to go on anyway.")]
pub struct UninstallArgs {
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The controller's namespace.
    #[arg(short = 'n', long, default_value = runnerctl::controller::install::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Uninstall even though GitLabRunners exist.
    #[arg(long)]
    pub force: bool,
    /// `--wait`, `--timeout`.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Arguments of `runnerctl controller export`.
#[derive(Debug, Args)]
#[command(after_help = "\
Prints a GitLabRunner manifest for a release installed with `runnerctl apply`: the values of
its latest revision, only where they differ from the defaults, without tokens. Applied in the
release's namespace under the release's name, the controller takes the release over (same
ApplySet). The token moves to a Secret the manifest names with runners.secret
(<release>-runner-token): stderr says how to create it from the token Secret the release has
now. The token itself is never printed.

Example:
  runnerctl controller export gitlab-runner -n gitlab-runner > gitlab-runner.yaml")]
pub struct ExportArgs {
    /// The installed release and its cluster.
    #[command(flatten)]
    pub installed: InstalledArgs,
}

/// Arguments of `runnerctl controller run`.
#[derive(Debug, Args)]
#[command(after_help = "\
Keeps every GitLabRunner resource (runnerctl.io/v1alpha1) installed as `runnerctl apply`
would: the release is named like the resource, in its namespace; the values are the
defaults, then spec.valuesFrom (ConfigMap and Secret keys, in order), then spec.values, then
spec.buildMode. The same engine does the work (server-side apply, ApplySet prune, ownership,
the drain before RBAC and token go). Objects runnerctl renders are watched: a change to one is
corrected at once; a Ready runner is looked at again every 30 minutes. Deleting a
GitLabRunner uninstalls it (the runner drains first) behind the finalizer runnerctl.io/uninstall.

The status carries the conditions Ready, Reconciling and Stalled (a wrong spec: reason and
message), observedGeneration, lastAppliedRevision, runnerPods and runningJobs.

Outside a cluster it uses the usual cluster flags (--kubeconfig, --context); in a pod, its
service account. SIGTERM or Ctrl-C stops it after the reconciles under way.

Exit codes: 0 stopped by a signal, 1 error (the CRD is missing, lost the leader Lease).")]
pub struct RunArgs {
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Watch GitLabRunners in this namespace only [default: every namespace].
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Reconciles at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Serve /metrics, /healthz and /readyz here.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub metrics_address: SocketAddr,
    /// Elect a leader on Lease runnerctl-controller in this namespace (for several replicas).
    #[arg(long, value_name = "NAMESPACE")]
    pub leader_election_namespace: Option<String>,
}

/// Run `runnerctl controller`.
pub fn run(args: ControllerArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        ControllerAction::Crd => {
            print!(
                "{}",
                runnerctl::render::to_yaml(&runnerctl::controller::crd())
            );
            Ok(ExitCode::from(super::EXIT_OK))
        }
        ControllerAction::Run(a) => run_controller(a),
        ControllerAction::Install(a) => install(a),
        ControllerAction::Uninstall(a) => uninstall(a),
        ControllerAction::Export(a) => export(a),
    }
}

fn run_controller(args: RunArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let client = rt.block_on(runnerctl::k8s::client(&args.cluster.client_options()))?;
    let opts = ControllerOptions::default()
        .namespace(args.namespace)
        .concurrency(args.concurrency)
        .metrics_address(Some(args.metrics_address))
        .leader_election_namespace(args.leader_election_namespace);
    eprintln!(
        "runnerctl: controller running; metrics on http://{}/metrics",
        args.metrics_address
    );
    rt.block_on(runnerctl::controller::run(client, opts))?;
    Ok(ExitCode::from(super::EXIT_OK))
}

fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let s = Session::connect(
        &args.cluster,
        args.write.engine_options(),
        args.write.wait.timeout,
    )?;
    let release = ReleaseArgs {
        release: RELEASE.into(),
        namespace: Some(args.namespace.clone()),
    };
    let set = s.applyset(&release);
    let objects = objects(&args.namespace, &args.image, args.create_namespace);
    let plan = || -> anyhow::Result<_> {
        let plan = s.rt.block_on(s.engine.plan(&set, &objects))?;
        print_plan(&plan, false)?;
        Ok(plan)
    };
    if args.write.dry_run {
        plan()?;
        return Ok(ExitCode::from(super::EXIT_OK));
    }
    s.locked(&release, args.write.lock.force_unlock, |lock| {
        let plan = plan()?;
        let how = Execution {
            write: &args.write,
            show_secrets: false,
            rollback_on_failure: false,
            question: "Install the controller?",
        };
        let content = RevisionContent::of_plan(&plan, &serde_json::json!({"image": args.image}));
        execute(&s, lock, &how, &plan, Operation::Apply, content, || Ok(()))
    })
}

fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    let s = Session::connect(&args.cluster, Default::default(), args.wait.timeout)?;
    let runners = s.rt.block_on(runnerctl::controller::list_runners(
        s.engine.cluster().client(),
    ))?;
    if !runners.is_empty() && !args.force {
        anyhow::bail!(
            "{} GitLabRunner(s) still exist ({}): delete them first (the controller uninstalls \
             each runner), or pass --force (deleting the CRD deletes them, and without the \
             controller their finalizer holds them)",
            runners.len(),
            runners.join(", ")
        );
    }
    let release = ReleaseArgs {
        release: RELEASE.into(),
        namespace: Some(args.namespace.clone()),
    };
    let set = s.applyset(&release);
    s.locked(&release, false, |_| {
        let opts = UninstallOptions::default()
            .wait(args.wait.wait)
            .timeout(s.time_left());
        s.rt.block_on(s.engine.uninstall(&set, &opts, |r| eprintln!("{r}")))?;
        Ok(ExitCode::from(super::EXIT_OK))
    })
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let (s, set) = Session::for_installed(&args.installed)?;
    let history = s.rt.block_on(s.engine.history(&set))?;
    let latest = history
        .iter()
        .max_by_key(|r| r.info.revision)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "release {} in {} has no revision to take the values from",
                set.release,
                set.namespace
            )
        })?;
    let (manifest, moved) =
        runnerctl::controller::export(&set.release, &set.namespace, &latest.content.values);
    print!("{}", runnerctl::render::to_yaml(&manifest));
    if let Some((secret, from)) = moved {
        eprintln!(
            "runnerctl: the manifest reads the token from Secret {secret}; create it from the \
             release's token Secret {from} before applying (copy every runner-token key):\n  \
             kubectl -n {ns} get secret {from} -o jsonpath='{{.data.runner-token}}' | base64 -d > token && \
             kubectl -n {ns} create secret generic {secret} --from-file=runner-token=token && rm token",
            ns = set.namespace,
        );
    }
    Ok(ExitCode::from(super::EXIT_OK))
}
