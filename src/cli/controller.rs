//! `runnerctl controller`: run the controller that reconciles GitLabRunner resources, or print
//! its CustomResourceDefinition.
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::args::ClusterArgs;
use runnerctl::controller::ControllerOptions;

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
