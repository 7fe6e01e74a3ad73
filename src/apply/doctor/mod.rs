//! `doctor`: the setup's "verify" and "troubleshooting" steps as one checklist.
//!
//! Before install (whether or not the release exists): the server's Kubernetes version, the
//! caller's permissions for everything apply will do, the job namespace and its Pod Security
//! admission (a server-side dry-run create of the job pod), the rendered Role against GitLab's
//! permission table, the token, and GitLab's address and TLS certificate. After install: the
//! runner Deployment's readiness with reasons, the runner's recent log against
//! [`SIGNATURES`], and the token as GitLab sees it.
//!
//! Files: `access.rs` (what apply needs, asked of the server), `job_rbac.rs` (what the
//! runner needs in the job namespace, GitLab's table), `job_namespace.rs` (existence and
//! admission), `token.rs`, `gitlab.rs` (DNS, TLS, runner API), `signatures.rs` (known log
//! lines), `runner.rs` (the installed runner).
//!
//! Every check is data ([`Check`]); request failures become failed or warning checks, so a
//! checklist is always complete. Tokens never appear in a check: messages name keys.
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Engine;
use crate::render::{Manifest, Release};

mod access;
mod gitlab;
mod job_namespace;
mod job_rbac;
mod runner;
mod signatures;
mod token;

pub use access::{Access, required_access};
pub use gitlab::{GitlabCa, GitlabEndpoint, check_reachable, check_registration};
pub use job_rbac::{Permission, needed_job_permissions, rules_allow};
pub use signatures::{SIGNATURES, Signature, scan_log};
pub use token::{Tokens, check_token};

/// The Kubernetes minor versions runnerctl supports: those of its k8s-openapi types
/// (1.33 to 1.37); 1.37 is the test control plane's.
pub const SUPPORTED_MINORS: std::ops::RangeInclusive<u32> = 33..=37;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Not run (offline, or nothing to check).
    Skipped,
    /// Works, but worth a look.
    Warning,
    /// Will not work as configured.
    Failed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Warning => "warning",
            Status::Failed => "failed",
        })
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// A stable name, e.g. `permissions`.
    pub id: &'static str,
    /// The outcome.
    pub status: Status,
    /// One line: what was found.
    pub summary: String,
    /// More lines (missing permissions, pod reasons, matched log lines), masked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// One line: what would fix it (failures and warnings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The token's expiry, for `gitlab-registration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<crate::gitlab::Expiry>,
}

impl Check {
    /// A check with no details and no fix.
    pub fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            id,
            status,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
            expiry: None,
        }
    }

    /// With a fix.
    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    /// With details.
    #[must_use]
    pub fn details(mut self, details: Vec<String>) -> Check {
        self.details = details;
        self
    }
}

/// The outcome of [`Engine::doctor`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checklist {
    /// One entry per check, in the order they ran.
    pub checks: Vec<Check>,
    /// API requests sent to the cluster.
    pub requests: u64,
    /// Wall time, in milliseconds.
    pub millis: u128,
}

impl Checklist {
    /// Some check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Failed)
    }

    /// How many checks came out `status`.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

impl std::fmt::Display for Checklist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &self.checks {
            writeln!(f, "{:<7}  {:<width$}  {}", c.status, c.id, c.summary)?;
            for d in &c.details {
                writeln!(f, "{:<7}  {:<width$}    {d}", "", "")?;
            }
            if let Some(fix) = &c.fix {
                writeln!(f, "{:<7}  {:<width$}    fix: {fix}", "", "")?;
            }
        }
        let warnings = self.count(Status::Warning);
        writeln!(
            f,
            "{} ok, {warnings} warning{}, {} failed, {} skipped",
            self.count(Status::Ok),
            if warnings == 1 { "" } else { "s" },
            self.count(Status::Failed),
            self.count(Status::Skipped)
        )
    }
}

/// What [`Engine::doctor`] does beyond the cluster checks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// Skip the checks that reach GitLab (DNS, TLS, runner API).
    pub offline: bool,
    /// How many lines of the runner's log to scan.
    pub log_lines: i64,
    /// The longest a network step (DNS, connect, TLS, HTTP) may take.
    pub network_timeout: Duration,
    /// Warn when the runner token expires within this many days.
    pub token_warning_days: u32,
}

setters!(DoctorOptions {
    /// Set whether the checks that reach GitLab are skipped.
    offline: bool,
    /// Set how many lines of the runner's log are scanned.
    log_lines: i64,
    /// Set the longest a network step may take.
    network_timeout: Duration,
    /// Set how many days before its expiry a token is warned about.
    token_warning_days: u32,
});

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            offline: false,
            log_lines: 200,
            network_timeout: Duration::from_secs(10),
            token_warning_days: crate::gitlab::DEFAULT_WARNING_DAYS,
        }
    }
}

/// `runner.<key>` of the values tree, e.g. `str_value(v, "/runners/secret")`.
pub(crate) fn str_value<'a>(values: &'a serde_json::Value, pointer: &str) -> Option<&'a str> {
    values
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A failed request in a line: the server's message and code, else the transport error.
pub(crate) fn said(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

impl Engine {
    /// Run every check for `release` rendered as `manifest`. Never fails: what cannot be
    /// checked is a failed or warning check that says why.
    pub async fn doctor(
        &self,
        release: &Release,
        manifest: &Manifest,
        opts: &DoctorOptions,
    ) -> Checklist {
        let started = Instant::now();
        let before = self.requests();
        let mut checks = vec![self.check_version().await];
        checks.push(self.check_permissions(release, manifest).await);
        let (ns_check, ns_exists) = self.check_job_namespace(release, manifest).await;
        checks.push(ns_check);
        checks.push(self.check_job_pod_admission(manifest, &ns_exists).await);
        checks.push(self.check_job_rbac(release, manifest).await);
        let tokens = self.tokens(release).await;
        if manifest.runners.len() > 1 {
            for r in &manifest.runners {
                checks.push(self.check_runner_token(release, r).await);
            }
        } else {
            checks.push(check_token(release.values.as_json(), &tokens));
        }
        let gitlab = GitlabEndpoint::from_values(release.values.as_json());
        let ca = self.gitlab_ca(release, gitlab.as_ref()).await;
        match (&gitlab, opts.offline) {
            (_, true) => checks.push(Check::new(
                "gitlab-tls",
                Status::Skipped,
                "offline: GitLab's name and certificate not checked",
            )),
            (None, false) => checks.push(
                Check::new("gitlab-tls", Status::Failed, "gitlabUrl is not a valid URL")
                    .fix("set gitlabUrl to your GitLab's address, e.g. https://gitlab.example.com"),
            ),
            (Some(g), false) => checks.push(check_reachable(g, &ca, opts.network_timeout).await),
        }
        checks.extend(self.check_runner(release, manifest, opts).await);
        let mut runner_tokens = Vec::new();
        match (&gitlab, opts.offline) {
            (_, true) => checks.push(Check::new(
                "gitlab-registration",
                Status::Skipped,
                "offline: the token is not checked with GitLab",
            )),
            (None, false) => checks.push(Check::new(
                "gitlab-registration",
                Status::Skipped,
                "no valid gitlabUrl to ask",
            )),
            (Some(g), false) => {
                let client =
                    crate::gitlab::Client::new(g.clone(), ca.clone(), opts.network_timeout);
                if manifest.runners.len() > 1 {
                    // Several runners: every token, each named by its runner.
                    for r in &manifest.runners {
                        let name = r.name.as_deref().unwrap_or("?");
                        let token = self.runner_token(release, &r.token).await;
                        let mut c =
                            check_registration(&client, token.as_deref(), opts.token_warning_days)
                                .await;
                        c.summary = format!("runner {name}: {}", c.summary);
                        checks.push(c);
                        runner_tokens.extend(token);
                    }
                } else {
                    checks.push(
                        check_registration(&client, tokens.runner(), opts.token_warning_days).await,
                    );
                }
            }
        }
        // Whatever a check holds, no known secret leaves doctor.
        let mut secrets = manifest.secrets.clone();
        if let Some(raw) = tokens.raw() {
            secrets.add(raw);
        }
        for t in &runner_tokens {
            secrets.add(t);
        }
        for c in &mut checks {
            c.summary = secrets.mask_str(&c.summary);
            for d in &mut c.details {
                *d = secrets.mask_str(d);
            }
        }
        Checklist {
            checks,
            requests: self.requests() - before,
            millis: started.elapsed().as_millis(),
        }
    }

    /// `kubernetes-version`: `GET /version` within [`SUPPORTED_MINORS`].
    async fn check_version(&self) -> Check {
        const ID: &str = "kubernetes-version";
        let v = match self.cluster.version().await {
            Ok(v) => v,
            Err(e) => {
                return Check::new(
                    ID,
                    Status::Failed,
                    format!("cannot read the server's version: {}", said(&e)),
                )
                .fix("check the kubeconfig's server address and that the cluster is up");
            }
        };
        let git = v
            .get("gitVersion")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        let minor = v
            .get("minor")
            .and_then(serde_json::Value::as_str)
            .map(|m| m.trim_end_matches('+'))
            .and_then(|m| m.parse::<u32>().ok());
        let major = v.get("major").and_then(serde_json::Value::as_str);
        let range = format!(
            "1.{} to 1.{}",
            SUPPORTED_MINORS.start(),
            SUPPORTED_MINORS.end()
        );
        match (major, minor) {
            (Some("1"), Some(m)) if SUPPORTED_MINORS.contains(&m) => Check::new(
                ID,
                Status::Ok,
                format!("server {git} (runnerctl supports {range})"),
            ),
            (Some("1"), Some(m)) if m > *SUPPORTED_MINORS.end() => Check::new(
                ID,
                Status::Warning,
                format!("server {git} is newer than runnerctl was tested with ({range})"),
            )
            .fix("use a runnerctl release that supports this Kubernetes version"),
            _ => Check::new(
                ID,
                Status::Failed,
                format!("server {git} is not supported (runnerctl supports {range})"),
            )
            .fix(format!("upgrade the cluster to Kubernetes {range}")),
        }
    }
}

/// The tests' release `gitlab-runner` in namespace `ci`, with `sets` over a GitLab URL and a
/// token, rendered.
#[cfg(test)]
pub(crate) fn rendered(sets: &[&str], create_namespace: bool) -> (Release, Manifest) {
    let mut b = crate::ValuesBuilder::new()
        .set("gitlabUrl=https://gitlab.example.com")
        .set("runnerToken=glrt-test-doctor");
    for s in sets {
        b = b.set(*s);
    }
    let release = Release {
        name: "gitlab-runner".into(),
        namespace: "ci".into(),
        values: b.build().unwrap().0,
        create_namespace,
        api_versions: vec![],
    };
    let m = crate::render(&release).unwrap();
    (release, m)
}
