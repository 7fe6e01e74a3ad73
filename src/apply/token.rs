//! The release's runner tokens as installed: where they are (the Secret the Deployment mounts,
//! keys `runner-token` and `runner-token-<runner>`), how GitLab sees each
//! (`POST /api/v4/runners/verify`: valid, the runner's id, the expiry), and their rotation.
//! Tokens are read to be sent to GitLab or written to that Secret only; they are never shown.
//!
//! A rotation, in this order, so that no failure after GitLab issued the new token loses it:
//! 1. `POST /api/v4/runners/reset_authentication_token` with the current token: GitLab answers
//!    with a new one, and the current one stops working;
//! 2. the new token goes into the Secret at once (merge patch, retried by the cluster's
//!    policy), with annotations: the rotation's state ([`ANNOTATION_ROTATION`] =
//!    `rollout-pending`), when, the new token's expiry, and a digest of the token it replaced
//!    ([`ANNOTATION_REPLACED`]) so that an apply or rollback of values that still hold the old
//!    token keeps the new one. When the Secret cannot be written, the error carries the new
//!    token ([`Error::TokenNotStored`]) for the caller to keep;
//! 3. the rollout: an annotation on the Deployment's pod template, so the runner pods are
//!    replaced, each old one draining its jobs; then the state is `done`.
//!
//! A run that stopped after 2 is resumed by the next one: it sees `rollout-pending`.
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::applyset::Members;
use super::drain::is_deployment;
use super::{Engine, Error, ObjectRef};
use crate::gitlab::{Client, Expiry, GitlabCa, GitlabEndpoint, Token};
use crate::object::pointer;

/// The Secret key of the one runner's token.
pub const TOKEN_KEY: &str = "runner-token";

/// On the token Secret: the state of the last rotation, `rollout-pending` or `done`.
pub const ANNOTATION_ROTATION: &str = "runnerctl.io/token-rotation";
/// On the token Secret: when the last rotation wrote it.
pub const ANNOTATION_ROTATED_AT: &str = "runnerctl.io/token-rotated-at";
/// On the token Secret: the new token's expiry, as GitLab gave it.
pub const ANNOTATION_EXPIRES_AT: &str = "runnerctl.io/token-expires-at";
/// On the token Secret: digests of the tokens rotations replaced (comma-separated), so that
/// values still holding one of them do not bring it back.
pub const ANNOTATION_REPLACED: &str = "runnerctl.io/token-replaced";
/// On the Deployment's pod template: when a rotation rolled the runner out.
pub const ANNOTATION_POD_ROTATED: &str = "runnerctl.io/token-rotated-at";
/// The field manager of the rotation's writes.
pub const ROTATION_MANAGER: &str = "runnerctl-token-rotate";

/// A short digest of a token (never the token): 16 hex characters of SHA-256 over a fixed
/// prefix and the token.
pub fn token_digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("runnerctl token-replaced {}", token.trim()).as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The Secret that holds the new token.
    pub secret: ObjectRef,
    /// Its key.
    pub key: String,
    /// The new token's expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// A rotation an earlier run left with its rollout pending was finished.
    pub resumed: bool,
    /// The Deployment rolled out.
    pub deployment: ObjectRef,
}

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

/// For a Secret the release renders: where its live object holds a token a rotation wrote and
/// the desired object still the token that rotation replaced, keep the live token (the old
/// one no longer works). Returns a warning per key kept.
pub(crate) fn keep_rotated_tokens(desired: &mut Value, live: &Value) -> Vec<String> {
    let Some(replaced) = crate::object::annotation(live, ANNOTATION_REPLACED) else {
        return Vec::new();
    };
    let replaced: Vec<&str> = replaced.split(',').map(str::trim).collect();
    let object = ObjectRef::of(live);
    let mut warnings = Vec::new();
    for key in token_keys(desired) {
        let Some(old) = crate::secret::secret_text(desired, &key) else {
            continue;
        };
        if old.trim().is_empty() || !replaced.contains(&token_digest(&old).as_str()) {
            continue;
        }
        let Some(current) = pointer(live, &format!("/data/{key}")).cloned() else {
            continue;
        };
        desired["data"][&key] = current;
        let when = crate::object::annotation(live, ANNOTATION_ROTATED_AT).unwrap_or("earlier");
        warnings.push(format!(
            "{object} key {key}: the values hold the token `runnerctl token rotate` replaced \
             ({when}); the Secret keeps the new one. Take the old token out of the values \
             (keep the token in the Secret with runners.secret) or put the new one in"
        ));
    }
    warnings
}

/// Every string in `v` equal to `old` becomes `new`.
fn replace_strings(v: &mut Value, old: &str, new: &str) {
    match v {
        Value::String(s) if s.trim() == old => *s = new.to_string(),
        Value::Array(items) => items.iter_mut().for_each(|i| replace_strings(i, old, new)),
        Value::Object(map) => map.values_mut().for_each(|i| replace_strings(i, old, new)),
        _ => {}
    }
}

/// The Secret key of a runner's token: `runner-token`, or `runner-token-<runner>`.
pub fn token_key(runner: Option<&str>) -> String {
    match runner {
        Some(r) => format!("{TOKEN_KEY}-{r}"),
        None => TOKEN_KEY.to_string(),
    }
}

impl Engine {
    /// The text under `key` of ConfigMap or Secret `ns/name` (`None`: the object or the key
    /// does not exist); an error says why it could not be read.
    pub async fn object_text(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        key: &str,
    ) -> Result<Option<String>, String> {
        let k = self
            .cluster
            .resolve("v1", kind)
            .await
            .map_err(|e| e.to_string())?
            .filter(|_| kind == "ConfigMap" || kind == "Secret")
            .ok_or_else(|| format!("{kind} is not a ConfigMap or a Secret"))?;
        let Some(obj) = self
            .cluster
            .get(&k, Some(ns), name)
            .await
            .map_err(|e| super::doctor::said(&e))?
        else {
            return Ok(None);
        };
        Ok(if kind == "Secret" {
            crate::secret::secret_text(&obj, key)
        } else {
            pointer(&obj, &format!("/data/{key}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    }

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

    /// [`Engine::gitlab_client`], an error naming the Deployment when the runner has no
    /// GitLab URL.
    pub(crate) async fn gitlab_client_or_error(
        &self,
        place: &TokenPlace,
        timeout: Duration,
    ) -> Result<Client, Error> {
        self.gitlab_client(place, timeout)
            .await
            .ok_or_else(|| Error::Token {
                object: place.deployment.clone(),
                message: "the runner has no valid CI_SERVER_URL (gitlabUrl) to reach GitLab".into(),
            })
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

impl Engine {
    /// Where an installed release's runner reads its token, and the live Secret.
    async fn token_secret(&self, applyset: &super::ApplySet) -> Result<(TokenPlace, Value), Error> {
        let (_, members) = self.installed(applyset).await?;
        let place = token_place(members.iter().map(|(_, v)| v)).ok_or_else(|| Error::Token {
            object: applyset.parent_ref(),
            message: "the release has no runner Deployment".into(),
        })?;
        let secret = self
            .read_secret(&place.secret)
            .await
            .ok_or_else(|| Error::Token {
                object: place.secret.clone(),
                message: "the runner's token Secret cannot be read".into(),
            })?;
        Ok((place, secret))
    }

    /// Whether the release's token Secret holds a rotated token whose rollout has not started.
    pub async fn rotation_pending(&self, applyset: &super::ApplySet) -> Result<bool, Error> {
        let (_, secret) = self.token_secret(applyset).await?;
        Ok(crate::object::annotation(&secret, ANNOTATION_ROTATION) == Some("rollout-pending"))
    }

    /// Steps 1 and 2 of a rotation (see the module): GitLab issues a new token for the one in
    /// `key` of the runner's Secret, and it is written there. The rollout is
    /// [`Engine::roll_out_token`].
    pub async fn rotate_token(
        &self,
        applyset: &super::ApplySet,
        key: &str,
        timeout: Duration,
    ) -> Result<(ObjectRef, Option<String>), Error> {
        let (place, secret) = self.token_secret(applyset).await?;
        let object = place.secret.clone();
        let token = crate::secret::secret_text(&secret, key)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Token {
                object: object.clone(),
                message: format!(
                    "no token under key {key} (keys: {})",
                    token_keys(&secret).join(", ")
                ),
            })?;
        if !token.starts_with("glrt-") {
            return Err(Error::Token {
                object,
                message: format!(
                    "key {key} holds no runner authentication token (glrt-): only those rotate"
                ),
            });
        }
        let client = self.gitlab_client_or_error(&place, timeout).await?;
        let new = client
            .reset_token(&Token::new(token.as_str()))
            .await
            .map_err(|source| Error::Gitlab {
                object: object.clone(),
                source,
            })?;
        self.store_token(
            &place.secret,
            &secret,
            key,
            &new.token,
            Some(&token),
            new.token_expires_at.as_deref(),
        )
        .await?;
        Ok((object, new.token_expires_at))
    }

    /// Step 2 alone, for a token GitLab issued that is not in the Secret yet (a rotation whose
    /// write failed, resumed): write it under `key` and mark the rollout pending.
    pub async fn store_rotated_token(
        &self,
        applyset: &super::ApplySet,
        key: &str,
        new: &Token,
    ) -> Result<ObjectRef, Error> {
        let (place, secret) = self.token_secret(applyset).await?;
        self.store_token(&place.secret, &secret, key, new, None, None)
            .await?;
        Ok(place.secret)
    }

    async fn store_token(
        &self,
        object: &ObjectRef,
        live: &Value,
        key: &str,
        new: &Token,
        old: Option<&str>,
        expires_at: Option<&str>,
    ) -> Result<(), Error> {
        use base64::Engine as _;
        let mut replaced: Vec<String> = crate::object::annotation(live, ANNOTATION_REPLACED)
            .map(|r| r.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        if let Some(old) = old {
            replaced.push(token_digest(old));
        }
        // The last few are enough: older tokens are long gone from any values.
        let start = replaced.len().saturating_sub(8);
        let mut annotations = serde_json::Map::new();
        annotations.insert(ANNOTATION_ROTATION.into(), "rollout-pending".into());
        annotations.insert(ANNOTATION_ROTATED_AT.into(), super::now_rfc3339().into());
        annotations.insert(
            ANNOTATION_REPLACED.into(),
            replaced[start..].join(",").into(),
        );
        if let Some(at) = expires_at {
            annotations.insert(ANNOTATION_EXPIRES_AT.into(), at.into());
        }
        let patch = serde_json::json!({
            "metadata": {"annotations": annotations},
            "data": {key: base64::engine::general_purpose::STANDARD.encode(new.expose())},
        });
        let kind = self.secret_kind().await?;
        self.cluster
            .merge_patch(
                &kind,
                object.namespace.as_deref(),
                &object.name,
                &patch,
                ROTATION_MANAGER,
            )
            .await
            .map_err(|e| Error::TokenNotStored {
                object: object.clone(),
                token: new.clone(),
                source: Box::new(e),
            })?;
        Ok(())
    }

    /// Record the rotation as a revision: the latest revision's content with the Secret's
    /// token (and the values' copy of the old one) replaced by the live one, so a rollback to
    /// it keeps the new token. Without an earlier revision, nothing is recorded (`None`).
    pub async fn record_rotation(
        &self,
        applyset: &super::ApplySet,
        key: &str,
        outcome: super::Outcome,
        history_max: usize,
    ) -> Result<Option<super::Revision>, Error> {
        let (place, live) = self.token_secret(applyset).await?;
        let history = self.history(applyset).await?;
        let Some(last) = history.iter().max_by_key(|r| r.info.revision) else {
            return Ok(None);
        };
        let mut content = last.content.clone();
        let new_b64 = pointer(&live, &format!("/data/{key}")).cloned();
        let new = crate::secret::secret_text(&live, key);
        for o in &mut content.objects {
            if ObjectRef::of(o) == place.secret
                && let Some(n) = &new_b64
            {
                if let (Some(old), Some(new)) = (crate::secret::secret_text(o, key), &new)
                    && !old.trim().is_empty()
                {
                    replace_strings(&mut content.values, old.trim(), new.trim());
                }
                o["data"][key] = n.clone();
            }
        }
        if let Some(new) = &new {
            content.secrets.push(new.trim().to_string());
        }
        let summary = super::Summary {
            change: 2,
            ..Default::default()
        };
        let new = super::NewRevision {
            operation: super::Operation::TokenRotation,
            summary,
            changes: vec![
                format!("update {} (key {key}: runner token rotated)", place.secret),
                format!("restart {}", place.deployment),
            ],
            outcome,
            content,
        };
        self.record(applyset, new, history_max).await.map(Some)
    }

    /// Step 3: roll the runner out (an annotation on the pod template: each old pod drains),
    /// and mark the rotation done. Returns the Deployment.
    pub async fn roll_out_token(&self, applyset: &super::ApplySet) -> Result<ObjectRef, Error> {
        let (place, _) = self.token_secret(applyset).await?;
        let d = &place.deployment;
        let kind = self.builtin_kind("apps/v1", "Deployment").await?;
        let now = super::now_rfc3339();
        let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {ANNOTATION_POD_ROTATED: now}}}}});
        self.cluster
            .merge_patch(
                &kind,
                d.namespace.as_deref(),
                &d.name,
                &patch,
                ROTATION_MANAGER,
            )
            .await
            .map_err(|e| Error::api(d, "roll out", e))?;
        let done = serde_json::json!({"metadata": {"annotations": {ANNOTATION_ROTATION: "done"}}});
        let secret = self.secret_kind().await?;
        let s = &place.secret;
        self.cluster
            .merge_patch(
                &secret,
                s.namespace.as_deref(),
                &s.name,
                &done,
                ROTATION_MANAGER,
            )
            .await
            .map_err(|e| Error::api(s, "mark the rotation done on", e))?;
        Ok(d.clone())
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

#[cfg(test)]
mod guard_tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn values_holding_a_replaced_token_keep_the_rotated_one() {
        let live = json!({"kind": "Secret", "apiVersion": "v1",
            "metadata": {"name": "r", "namespace": "ci", "annotations": {
                ANNOTATION_REPLACED: format!("aaaa,{}", token_digest("glrt-OLD-secret-token")),
                ANNOTATION_ROTATED_AT: "2026-12-07T10:00:00Z"}},
            "data": {"runner-token": b64("glrt-NEW-secret-token"), "runner-registration-token": ""}});
        let mut desired = json!({"kind": "Secret", "data": {"runner-token": b64("glrt-OLD-secret-token"), "runner-registration-token": ""}});
        let w = keep_rotated_tokens(&mut desired, &live);
        assert_eq!(
            desired["data"]["runner-token"],
            json!(b64("glrt-NEW-secret-token"))
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("Secret/ci/r key runner-token"), "{w:?}");
        assert!(!w[0].contains("secret-token"), "{w:?}");
        // A token the user changed on purpose goes through.
        let mut other =
            json!({"kind": "Secret", "data": {"runner-token": b64("glrt-OTHER-token")}});
        assert!(keep_rotated_tokens(&mut other, &live).is_empty());
        assert_eq!(
            other["data"]["runner-token"],
            json!(b64("glrt-OTHER-token"))
        );
    }

    #[test]
    fn digests_are_short_and_never_the_token() {
        let d = token_digest("glrt-abc");
        assert_eq!(d.len(), 16);
        assert_eq!(d, token_digest(" glrt-abc\n"));
        assert!(!d.contains("abc"));
    }
}
