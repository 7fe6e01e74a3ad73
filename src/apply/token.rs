//! The release's runner tokens as installed: where they are (the Secret the Deployment mounts,
//! keys `runner-token` and `runner-token-<runner>`), and how GitLab sees each
//! (`POST /api/v4/runners/verify`: valid, the runner's id, the expiry). Tokens are read to be
//! sent to GitLab only; they are never shown.
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::applyset::Members;
use super::drain::is_deployment;
use super::{Engine, ObjectRef};
use crate::gitlab::{Client, Expiry, GitlabCa, GitlabEndpoint, Token};
use crate::object::pointer;

/// The Secret key of the one runner's token.
pub const TOKEN_KEY: &str = "runner-token";

/// Where a release's runner reads its tokens and finds GitLab, from the live Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenPlace {
    /// The Secret the runner reads its token from.
    pub secret: ObjectRef,
    /// `gitlabUrl`, from the runner's `CI_SERVER_URL`.
    pub gitlab: Option<GitlabEndpoint>,
    /// The Secret with the CA the runner trusts for GitLab (`certsSecretName`).
    pub ca_secret: Option<String>,
    /// The Deployment.
    pub deployment: ObjectRef,
}

/// How GitLab sees one of the release's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    /// `Secret/ns/name`.
    pub secret: String,
    /// The key in it (`runner-token`, `runner-token-<runner>`).
    pub key: String,
    /// The runner's id in GitLab, when GitLab accepts the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<i64>,
    /// The token's expiry, when GitLab accepts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,
    /// Why it is not known to be valid: rejected, unreachable, unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// GitLab rejects it, or it has expired: the runner cannot work with it.
    pub failed: bool,
}

impl std::fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token: {} key {}: ", self.secret, self.key)?;
        if let Some(p) = &self.problem {
            return write!(f, "{p}");
        }
        if let Some(id) = self.runner_id {
            write!(f, "runner #{id}, ")?;
        }
        match &self.expiry {
            Some(e @ Expiry::Soon { .. }) => {
                write!(f, "{e}; rotate it: runnerctl token rotate")
            }
            Some(e @ Expiry::Expired { .. }) => write!(f, "{e}; the runner cannot work"),
            Some(e) => write!(f, "{e}"),
            None => Ok(()),
        }
    }
}

/// The runner container's env value `name` (a plain value).
pub(crate) fn env_value<'a>(deployment: &'a Value, name: &str) -> Option<&'a str> {
    pointer(deployment, "/spec/template/spec/containers/0/env")?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))?
        .get("value")?
        .as_str()
}

/// The `secretName` of a named volume of the Deployment's pod, or the first projected
/// secret's name for the `runner-secrets` volume.
fn volume_secret<'a>(deployment: &'a Value, volume: &str) -> Option<&'a str> {
    let v = pointer(deployment, "/spec/template/spec/volumes")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(volume))?;
    v.pointer("/secret/secretName")
        .or_else(|| v.pointer("/projected/sources/0/secret/name"))?
        .as_str()
}

/// Where the runner of these live objects (a release's members) reads its tokens.
pub(crate) fn token_place<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Option<TokenPlace> {
    let deployment = objects.into_iter().find(|v| is_deployment(v))?;
    let d = ObjectRef::of(deployment);
    let ns = d.namespace.clone();
    Some(TokenPlace {
        secret: ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: ns,
            name: volume_secret(deployment, "runner-secrets")?.to_string(),
        },
        gitlab: env_value(deployment, "CI_SERVER_URL").and_then(GitlabEndpoint::parse),
        ca_secret: volume_secret(deployment, "custom-certs").map(str::to_string),
        deployment: d,
    })
}

/// The runner-token keys of a Secret, in order: `runner-token`, then `runner-token-<name>`.
pub(crate) fn token_keys(secret: &Value) -> Vec<String> {
    let mut keys: Vec<String> = secret
        .get("data")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter(|k| *k == TOKEN_KEY || k.starts_with("runner-token-"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

impl Engine {
    /// A Secret, if it exists and can be read.
    pub(crate) async fn read_secret(&self, object: &ObjectRef) -> Option<Value> {
        let kind = self.cluster.resolve("v1", "Secret").await.ok()??;
        self.cluster
            .get(&kind, object.namespace.as_deref(), &object.name)
            .await
            .ok()?
    }

    /// A GitLab client as the runner of `place` reaches GitLab (its CA included).
    pub(crate) async fn gitlab_client(
        &self,
        place: &TokenPlace,
        timeout: Duration,
    ) -> Option<Client> {
        let g = place.gitlab.clone()?;
        let mut ca = GitlabCa::default();
        if let Some(name) = &place.ca_secret {
            let secret = ObjectRef {
                name: name.clone(),
                ..place.secret.clone()
            };
            let key = format!("{}.crt", g.host);
            if let Some(pem) = self
                .read_secret(&secret)
                .await
                .and_then(|s| crate::secret::secret_text(&s, &key))
            {
                ca = GitlabCa::from_pem(pem, format!("{secret} key {key}"));
            }
        }
        Some(Client::new(g, ca, timeout))
    }

    /// How GitLab sees each runner token of the release (members of an installed one):
    /// warning `warn_days` before expiry. Empty when the release has no runner.
    pub async fn token_status(
        &self,
        members: &Members,
        warn_days: u32,
        timeout: Duration,
    ) -> Vec<TokenStatus> {
        let Some(place) = token_place(members.iter().map(|(_, v)| v)) else {
            return Vec::new();
        };
        let status = |key: &str, problem: String| TokenStatus {
            secret: place.secret.to_string(),
            key: key.to_string(),
            runner_id: None,
            expiry: None,
            problem: Some(problem),
            failed: false,
        };
        let Some(secret) = self.read_secret(&place.secret).await else {
            return vec![status(TOKEN_KEY, "the Secret cannot be read".into())];
        };
        let Some(client) = self.gitlab_client(&place, timeout).await else {
            return vec![status(
                TOKEN_KEY,
                "no gitlabUrl (CI_SERVER_URL) to ask".into(),
            )];
        };
        let mut out = Vec::new();
        for key in token_keys(&secret) {
            let Some(token) = crate::secret::secret_text(&secret, &key) else {
                continue;
            };
            if !token.trim().starts_with("glrt-") {
                out.push(status(
                    &key,
                    "not a runner authentication token (glrt-): GitLab is not asked".into(),
                ));
                continue;
            }
            let mut s = status(&key, String::new());
            match client.verify(&Token::new(token)).await {
                Ok(v) => {
                    let expiry = Expiry::of(
                        v.token_expires_at.as_deref(),
                        warn_days,
                        k8s_openapi::jiff::Timestamp::now(),
                    );
                    s.failed = matches!(expiry, Expiry::Expired { .. });
                    s.runner_id = v.id;
                    s.expiry = Some(expiry);
                    s.problem = None;
                }
                Err(e) if e.status() == Some(403) => {
                    s.failed = true;
                    s.problem =
                        Some("GitLab rejects the token (403): deleted, reset or expired".into());
                }
                Err(e) => s.problem = Some(format!("cannot ask GitLab: {e}")),
            }
            out.push(s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_keys_of_a_secret() {
        let s = json!({"data": {"runner-token-deploy": "", "runner-registration-token": "", "runner-token": "", "runner-token-build": ""}});
        assert_eq!(
            token_keys(&s),
            ["runner-token", "runner-token-build", "runner-token-deploy"]
        );
    }

    #[test]
    fn where_the_runner_reads_its_token_and_finds_gitlab() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "r", "namespace": "ci"},
        "spec": {"template": {"spec": {
            "containers": [{"env": [{"name": "CI_SERVER_URL", "value": "https://gitlab.example.com"}]}],
            "volumes": [
                {"name": "runner-secrets", "projected": {"sources": [{"secret": {"name": "tokens"}}]}},
                {"name": "custom-certs", "secret": {"secretName": "certs"}},
            ]}}}});
        let place = token_place([&d]).unwrap();
        assert_eq!(place.secret.to_string(), "Secret/ci/tokens");
        assert_eq!(place.gitlab.unwrap().host, "gitlab.example.com");
        assert_eq!(place.ca_secret.as_deref(), Some("certs"));
    }
}
