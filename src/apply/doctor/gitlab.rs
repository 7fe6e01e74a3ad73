//! `gitlab-tls` and `gitlab-registration`: GitLab as the runner will meet it.
//!
//! The name resolves (here, from where doctor runs: the runner resolves it with the cluster's
//! DNS), a TCP connection opens, and TLS completes with a certificate the runner trusts: the
//! system roots (as GitLab Runner uses, via rustls-native-certs) plus, with
//! `certsSecretName`, the `<host>.crt` entry of that Secret, which the runner reads from its
//! `certs/` directory. Then GitLab's runner API: `POST /api/v4/runners/verify` with the
//! token (200: valid, with the runner's id and the token's expiry; 403: invalid). No
//! `system_id` is sent, so GitLab records no runner manager for doctor.
use std::time::Duration;

use super::{Check, Status, str_value};
use crate::apply::Engine;
use crate::gitlab::{Client, Error as GitlabError, Expiry, Token};
pub use crate::gitlab::{GitlabCa, GitlabEndpoint};
use crate::render::Release;
use crate::secret::secret_text;

impl Engine {
    /// The `<host>.crt` entry of the `certsSecretName` Secret (GET secret), if configured.
    pub(super) async fn gitlab_ca(
        &self,
        release: &Release,
        gitlab: Option<&GitlabEndpoint>,
    ) -> GitlabCa {
        let values = release.values.as_json();
        let (Some(name), Some(g)) = (str_value(values, "/certsSecretName"), gitlab) else {
            return GitlabCa::default();
        };
        let ns = str_value(values, "/namespace").unwrap_or(&release.namespace);
        let key = format!("{}.crt", g.host);
        let got = match self.cluster.resolve("v1", "Secret").await {
            Ok(Some(kind)) => self.cluster.get(&kind, Some(ns), name).await,
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        let problem = GitlabCa::unusable;
        match got {
            Ok(Some(secret)) => match secret_text(&secret, &key) {
                Some(pem) => GitlabCa::from_pem(pem, format!("Secret {ns}/{name} key {key}")),
                None => {
                    let keys: Vec<&str> = secret["data"]
                        .as_object()
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    problem(format!(
                        "Secret {ns}/{name} (certsSecretName) has no key {key}, the file the runner reads for {} (keys: {})",
                        g.host,
                        keys.join(", ")
                    ))
                }
            },
            Ok(None) => problem(format!(
                "Secret {ns}/{name} (certsSecretName) does not exist yet: the runner pod cannot start without it"
            )),
            Err(e) => problem(format!(
                "cannot read Secret {ns}/{name} (certsSecretName): {}",
                super::said(&e)
            )),
        }
    }
}

/// `gitlab-tls`: DNS, TCP, then TLS with the trust the runner will have.
pub async fn check_reachable(g: &GitlabEndpoint, ca: &GitlabCa, timeout: Duration) -> Check {
    const ID: &str = "gitlab-tls";
    let at = g.authority();
    let trust = match &ca.from {
        Some(from) => format!("system roots and {from}"),
        None => "system roots".into(),
    };
    let ca_note: Vec<String> = ca.problem.iter().cloned().collect();
    match crate::gitlab::reach(g, ca, timeout).await {
        Err(GitlabError::Dns(m)) => Check::new(ID, Status::Failed, format!("gitlabUrl: {m}"))
            .details(ca_note)
            .fix("check gitlabUrl's host name (doctor resolves it from here; the runner resolves it with the cluster's DNS)"),
        Err(GitlabError::Tcp(m)) => Check::new(ID, Status::Failed, format!("gitlabUrl {at}: {m}"))
            .details(ca_note)
            .fix("check gitlabUrl's port and that firewalls let the cluster reach GitLab"),
        Err(GitlabError::Tls(m)) => {
            let fix = if m.contains("unknown authority") {
                "put the CA that signed GitLab's certificate into a Secret under the key <gitlab host>.crt and set certsSecretName to it"
            } else {
                "check GitLab's certificate (names, validity) with: openssl s_client -connect <host>:<port>"
            };
            Check::new(ID, Status::Failed, format!("TLS with {at} fails: {m} (trusting {trust})"))
                .details(ca_note)
                .fix(fix)
        }
        Err(e) => Check::new(ID, Status::Failed, format!("gitlabUrl {at}: {e}")),
        Ok(()) if !g.tls() => Check::new(
            ID,
            Status::Warning,
            format!("{at} answers over plain http: tokens and job logs travel unencrypted"),
        )
        .details(ca_note)
        .fix("use an https gitlabUrl"),
        Ok(()) if !ca_note.is_empty() => Check::new(
            ID,
            Status::Warning,
            format!("{at} answers TLS with a certificate the system roots trust, but certsSecretName is not usable"),
        )
        .details(ca_note)
        .fix("create the Secret certsSecretName names, with the key <gitlab host>.crt, or unset certsSecretName"),
        Ok(()) => Check::new(ID, Status::Ok, format!("{at} resolves and answers TLS with a certificate trusted by {trust}")),
    }
}

/// `gitlab-registration`: the token as GitLab sees it (`POST /api/v4/runners/verify`), and its
/// expiry: a warning `warn_days` before, a failure once expired.
pub async fn check_registration(client: &Client, token: Option<&str>, warn_days: u32) -> Check {
    const ID: &str = "gitlab-registration";
    let Some(token) = token else {
        return Check::new(
            ID,
            Status::Skipped,
            "no runner authentication token to ask GitLab about (a registration token is used when the runner starts)",
        );
    };
    let last_contact = "last contact: GitLab tells it only to a user token (GET /api/v4/runners/:id, contacted_at) or in Settings > CI/CD > Runners".to_string();
    match client.verify(&Token::new(token)).await {
        Ok(v) => {
            let who = v.id.map_or("a runner".to_string(), |id| format!("runner #{id}"));
            let expiry = Expiry::of(
                v.token_expires_at.as_deref(),
                warn_days,
                k8s_openapi::jiff::Timestamp::now(),
            );
            let (status, fix) = match &expiry {
                Expiry::Expired { .. } => (
                    Status::Failed,
                    Some("rotate it: runnerctl token rotate (or create a new runner token in GitLab and set runnerToken)"),
                ),
                Expiry::Soon { .. } => (
                    Status::Warning,
                    Some("rotate it before it expires: runnerctl token rotate"),
                ),
                _ => (Status::Ok, None),
            };
            let mut check = Check::new(ID, status, format!("GitLab accepts the token: {who}; {expiry}"))
                .details(vec![last_contact]);
            if let Some(fix) = fix {
                check = check.fix(fix);
            }
            check.expiry = Some(expiry);
            check
        }
        Err(e) if e.status() == Some(403) => Check::new(
            ID,
            Status::Failed,
            "GitLab rejects the token (403 Forbidden): the runner was deleted in GitLab, its token was reset, or it expired",
        )
        .fix("create a runner in GitLab (Settings > CI/CD > Runners > New runner) and set runnerToken to its glrt- token"),
        Err(GitlabError::Status { status, .. }) => Check::new(
            ID,
            Status::Warning,
            format!("POST /api/v4/runners/verify answered {status}; expected 200 (valid) or 403 (invalid)"),
        )
        .fix("check gitlabUrl points at GitLab itself (not a proxy page) and GitLab's version"),
        Err(e) => Check::new(ID, Status::Failed, format!("cannot ask GitLab: {e}"))
            .fix("see the gitlab-tls check"),
    }
}
