//! `runnerctl doctor`.
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{ClusterArgs, ManifestArgs, TokenWarningArgs};
use super::session::{self, Session};
use runnerctl::apply::EngineOptions;
use runnerctl::apply::doctor::DoctorOptions;

/// Output formats of `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// One line per check, with details and a fix under it.
    Text,
    /// A JSON document: {checks: [{id, status, summary, details, fix}], requests, millis}.
    Json,
}

/// Arguments of `runnerctl doctor`.
#[derive(Debug, Args)]
#[command(after_help = "\
Checks what would keep the runner from working, before or after install, with the same
release, value and cluster flags as apply. One line per check (ok, warning, failed, skipped),
with a one-line fix under each failure:

  kubernetes-version   GET /version: a version runnerctl supports (1.33 to 1.37)
  permissions          a SelfSubjectAccessReview per verb, kind and namespace apply touches
                       (and per permission a rendered Role grants; the lock's Lease optional)
  job-namespace        the namespace where job pods run exists, or apply creates it
  job-pod-admission    a server-side dry-run create of the job pod (`runnerctl job-pod`)
                       there: Pod Security and other admission answer for real
  job-rbac             the rendered Role grants, where jobs run, what GitLab Runner needs
                       (attach or exec by FF_USE_LEGACY_KUBERNETES_EXECUTION_STRATEGY, services,
                       events with FF_PRINT_POD_EVENTS, namespaces with namespace_per_job);
                       without rendered RBAC, a SubjectAccessReview for the service account
  token                glrt- token with registration-only values, whitespace around the
                       token, legacy registration token
  gitlab-tls           gitlabUrl resolves and answers TLS with a certificate the runner
                       trusts (system roots, plus certsSecretName's <host>.crt)
  runner-deployment    installed: the Deployment is ready, else why (pods, events)
  runner-log           installed: the runner's last log lines against known failures
  gitlab-registration  POST /api/v4/runners/verify: GitLab accepts the token; its expiry
                       (token_expires_at, in -o json as `expiry`) warns --token-warning-days
                       before (default 14) and fails once passed

--offline skips gitlab-tls and gitlab-registration. Tokens are never printed.

Exit codes: 0 no check failed (warnings allowed), 1 a check failed or an error.

Examples:
  runnerctl doctor -n gitlab-runner -f values.yaml
  runnerctl doctor -n gitlab-runner -f values.yaml --offline -o json")]
pub struct DoctorArgs {
    /// The release and its values.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Skip the checks that reach GitLab (name, TLS, runner API).
    #[arg(long)]
    pub offline: bool,
    /// Lines of the runner's log to scan.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub log_lines: i64,
    /// `--token-warning-days`.
    #[command(flatten)]
    pub token: TokenWarningArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: DoctorFormat,
}

/// Run `runnerctl doctor`: exit 1 when a check failed.
pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let s = Session::connect_untimed(&args.cluster, EngineOptions::default())?;
    let (release, manifest) = session::render(&args.manifest, &args.cluster.client_options())?;
    let opts = DoctorOptions::default()
        .offline(args.offline)
        .log_lines(args.log_lines.max(1))
        .token_warning_days(args.token.token_warning_days);
    let checklist = s.rt.block_on(s.engine.doctor(&release, &manifest, &opts));
    match args.output {
        DoctorFormat::Text => print!("{checklist}"),
        DoctorFormat::Json => println!("{}", serde_json::to_string_pretty(&checklist)?),
    }
    Ok(ExitCode::from(if checklist.failed() {
        super::EXIT_ERROR
    } else {
        super::EXIT_OK
    }))
}
