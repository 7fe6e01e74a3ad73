//! Reviewed plans: a [`Plan`] as data to write to a file ([`PlanFile`]), reviewed in a merge
//! request, and applied later exactly as written ([`Engine::plan_from_file`]): every object's
//! desired state, the live resourceVersion it was compared against, and what is pruned.
//!
//! Applying a plan file checks, before anything is written, that every object (and the
//! ApplySet parent) is still at the resourceVersion the plan saw; the updates are then sent
//! with that resourceVersion as a precondition, so a change that slips in between fails the
//! write instead of being overwritten.
//!
//! Secrets: unless written with its secret values, a plan file holds none. An object whose
//! desired state holds a secret value (the token Secret; a ConfigMap or Deployment with a
//! known credential) is *sealed*: its secret values are masked and [`PlannedObject::sealed`]
//! keeps the SHA-256 of its real desired state. A sealed object can only be planned
//! unchanged (it then needs no write, and its resourceVersion check proves it is still as
//! reviewed); a plan that would create or change one is refused when applied
//! ([`Error::SealedChange`]). A revision recorded from such a plan takes the sealed objects'
//! content from the earlier revision with the same digest.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::history::{Revision, RevisionContent};
use super::plan::{Adoption, Change, Plan, PlannedAction, Summary};
use super::{ApplySet, BoxFut, Engine, Error, ObjectRef, ParentState, concurrently};
use crate::secret::{SecretValues, masked};

/// The `format` of a plan file.
pub const PLAN_FORMAT: &str = "runnerctl.io/plan.v1";

/// Whether a plan file holds secret values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretsInPlan {
    /// Masked; objects holding secrets are sealed by a digest.
    Masked,
    /// In clear: the file is as secret as the runner token.
    Included,
}

/// A plan as written to a file. Its `Debug` shows no object content.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    /// [`PLAN_FORMAT`].
    pub format: String,
    /// Whether the file holds secret values (the header a reviewer reads first).
    pub secrets: SecretsInPlan,
    /// What [`PlanFile::secrets`] means, for a human reader.
    pub comment: String,
    /// The runnerctl version that wrote it.
    pub runnerctl_version: String,
    /// The release.
    pub release: String,
    /// The release namespace.
    pub namespace: String,
    /// Counts of the plan.
    pub summary: Summary,
    /// The ApplySet parent as the plan saw it.
    pub parent: ParentState,
    /// Every rendered object, in install order.
    pub objects: Vec<PlannedObject>,
    /// Members to prune.
    pub prune: Vec<PlannedObject>,
    /// Namespace members no longer rendered, kept (see [`Plan::kept`]).
    pub kept: Vec<ObjectRef>,
    /// The plan's warnings.
    pub warnings: Vec<String>,
    /// The merged values the plan was rendered from (secret values masked unless
    /// [`SecretsInPlan::Included`]).
    pub values: Value,
}

impl std::fmt::Debug for PlanFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanFile")
            .field("secrets", &self.secrets)
            .field("release", &self.release)
            .field("namespace", &self.namespace)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// One object of a plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedObject {
    /// The object.
    pub object: ObjectRef,
    /// What applying does.
    pub action: PlannedAction,
    /// The live object's resourceVersion the plan was made against (`None`: it did not
    /// exist).
    pub live_resource_version: Option<String>,
    /// The desired state (`null` for prunes); secret values masked when sealed.
    pub desired: Value,
    /// `sha256:<hex>` of the real desired state, when secret values in it are masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// Field managers whose fields are taken over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopt: Vec<String>,
    /// Why an existing object that is not a member is taken over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption: Option<Adoption>,
    /// Why the object is recreated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<String>,
}

/// `sha256:<hex>` of an object's JSON.
pub fn digest(value: &Value) -> String {
    let hash = Sha256::digest(serde_json::to_vec(value).expect("JSON serialises"));
    format!("sha256:{}", crate::render::hex(&hash))
}

fn resource_version(v: Option<&Value>) -> Option<String> {
    v?.pointer("/metadata/resourceVersion")?
        .as_str()
        .map(str::to_string)
}

impl PlannedObject {
    fn of(c: &Change, secrets: &SecretValues, show_secrets: bool) -> Self {
        let mut desired = c.desired.clone();
        let mut sealed = None;
        if !show_secrets && !desired.is_null() {
            let hidden = masked(&desired, secrets);
            if hidden != desired {
                sealed = Some(digest(&desired));
                desired = hidden;
            }
        }
        PlannedObject {
            object: c.object.clone(),
            action: c.action,
            live_resource_version: resource_version(c.live.as_ref()),
            desired,
            sealed,
            adopt: c.adopt.clone(),
            adoption: c.adoption.clone(),
            immutable: c.immutable.as_deref().map(|m| secrets.mask_str(m)),
        }
    }
}

impl PlanFile {
    /// A plan as data to write; `values` are the merged values it was rendered from. Secret
    /// values are masked and their objects sealed unless `show_secrets`.
    pub fn new(plan: &Plan, values: &Value, show_secrets: bool) -> Self {
        let (secrets, comment) = if show_secrets {
            (
                SecretsInPlan::Included,
                "This plan holds secret values (tokens) in clear: keep it as secret as the \
                 runner token.",
            )
        } else {
            (
                SecretsInPlan::Masked,
                "This plan holds no secret value: they are masked (***), and each object that \
                 holds one is sealed by the SHA-256 of its real content. Such an object can be \
                 applied only while it is unchanged; a plan that creates or changes one must \
                 be written with its secret values.",
            )
        };
        let mut values = values.clone();
        if !show_secrets {
            plan.secrets.mask(&mut values);
        }
        PlanFile {
            format: PLAN_FORMAT.into(),
            secrets,
            comment: comment.into(),
            runnerctl_version: env!("CARGO_PKG_VERSION").into(),
            release: plan.applyset.release.clone(),
            namespace: plan.applyset.namespace.clone(),
            summary: plan.summary(),
            parent: plan.parent.clone(),
            objects: plan
                .changes
                .iter()
                .map(|c| PlannedObject::of(c, &plan.secrets, show_secrets))
                .collect(),
            prune: plan
                .prune
                .iter()
                .map(|c| PlannedObject::of(c, &plan.secrets, show_secrets))
                .collect(),
            kept: plan.kept.clone(),
            warnings: plan.warnings.clone(),
            values,
        }
    }

    /// The ApplySet of the plan's release.
    pub fn applyset(&self) -> ApplySet {
        ApplySet::for_release(&self.release, &self.namespace)
    }

    /// What a revision of this plan records: sealed objects' content is taken from the
    /// newest revision in `history` holding an object with the same digest; those found
    /// nowhere are listed as [`RevisionContent::incomplete`].
    pub fn revision_content(&self, history: &[Revision]) -> RevisionContent {
        let mut content = RevisionContent {
            values: self.values.clone(),
            ..Default::default()
        };
        let mut secrets = SecretValues::default();
        for o in &self.objects {
            let known = o.sealed.as_ref().map(|d| {
                history
                    .iter()
                    .rev()
                    .flat_map(|r| &r.content.objects)
                    .find(|v| digest(v) == *d)
            });
            match known {
                None => content.objects.push(o.desired.clone()),
                Some(Some(v)) => {
                    secrets.add_secrets_of([v]);
                    content.objects.push(v.clone());
                }
                Some(None) => {
                    content.incomplete.push(o.object.clone());
                    content.objects.push(o.desired.clone());
                }
            }
        }
        secrets.add_secrets_of(&content.objects);
        content.secrets = secrets.iter().map(str::to_string).collect();
        content
    }
}

/// How an object's live resourceVersion moved from the plan's.
fn moved(o: &PlannedObject, live: Option<&Value>) -> Option<String> {
    let now = resource_version(live);
    if now == o.live_resource_version {
        return None;
    }
    Some(match (&o.live_resource_version, now) {
        (None, _) => format!("{}: created since", o.object),
        (Some(_), None) => format!("{}: deleted since", o.object),
        (Some(was), Some(now)) => {
            format!(
                "{}: changed since (resourceVersion {was}, now {now})",
                o.object
            )
        }
    })
}

impl Engine {
    /// Turn a plan file into a [`Plan`] for [`Engine::apply`], checking before anything is
    /// written that it can be applied as reviewed: no sealed object is created or changed,
    /// and every object and the ApplySet parent is still at the resourceVersion the plan
    /// saw (else [`Error::PlanOutdated`], listing each one that moved). The updates carry
    /// that resourceVersion as a precondition.
    pub async fn plan_from_file(&self, file: &PlanFile) -> Result<Plan, Error> {
        if file.format != PLAN_FORMAT {
            return Err(Error::PlanFile {
                message: format!(
                    "format {:?} is not {PLAN_FORMAT:?} (written by another runnerctl version?)",
                    file.format
                ),
            });
        }
        let sealed: Vec<ObjectRef> = file
            .objects
            .iter()
            .filter(|o| {
                o.sealed.is_some()
                    && !matches!(o.action, PlannedAction::Unchanged | PlannedAction::Keep)
            })
            .map(|o| o.object.clone())
            .collect();
        if !sealed.is_empty() {
            return Err(Error::SealedChange { objects: sealed });
        }
        let applyset = file.applyset();
        let planned: Vec<&PlannedObject> = file.objects.iter().chain(&file.prune).collect();
        let mut kinds = Vec::with_capacity(planned.len());
        for o in &planned {
            kinds.push(self.resolve_ref(&o.object).await?);
        }
        let futs: Vec<BoxFut<Result<Option<Value>, Error>>> = planned
            .iter()
            .zip(&kinds)
            .map(|(o, kind)| {
                let (engine, kind, object) = (self.clone(), kind.clone(), o.object.clone());
                Box::pin(async move {
                    engine
                        .cluster
                        .get(&kind, object.namespace.as_deref(), &object.name)
                        .await
                        .map_err(|e| Error::api(&object, "get", e))
                }) as BoxFut<_>
            })
            .collect();
        let mut lives = Vec::with_capacity(planned.len());
        for r in concurrently(futs).await {
            lives.push(r?);
        }
        let parent_live = self.get_parent(&applyset).await?;
        let parent = applyset.parse_parent(parent_live.as_ref())?;
        let mut changed: Vec<String> = planned
            .iter()
            .zip(&lives)
            .filter_map(|(o, live)| moved(o, live.as_ref()))
            .collect();
        if parent.resource_version != file.parent.resource_version {
            changed.push(format!("{}: changed since", applyset.parent_ref()));
        }
        if !changed.is_empty() {
            return Err(Error::PlanOutdated { changed });
        }
        let mut secrets = SecretValues::default();
        let mut changes = Vec::new();
        let mut prune = Vec::new();
        for ((o, kind), live) in planned.into_iter().zip(kinds).zip(lives) {
            let mut desired = o.desired.clone();
            if o.action == PlannedAction::Update
                && o.adopt.is_empty()
                && let (Some(rv), Some(meta)) = (
                    &o.live_resource_version,
                    desired.get_mut("metadata").and_then(Value::as_object_mut),
                )
            {
                meta.insert("resourceVersion".into(), Value::String(rv.clone()));
            }
            secrets.add_secrets_of([&desired]);
            let change = Change {
                object: o.object.clone(),
                kind,
                action: o.action,
                desired,
                live,
                after: None,
                adopt: o.adopt.clone(),
                immutable: o.immutable.clone(),
                adoption: o.adoption.clone(),
            };
            if o.action == PlannedAction::Prune {
                prune.push(change);
            } else {
                changes.push(change);
            }
        }
        let restarts = self.restarts(&changes).await;
        Ok(Plan {
            applyset,
            parent,
            changes,
            prune,
            kept: file.kept.clone(),
            warnings: file.warnings.clone(),
            restarts,
            secrets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ParentState;
    use crate::apply::history::{Operation, Outcome, RevisionInfo};
    use crate::k8s::Kind;
    use serde_json::json;

    fn kind(k: &str) -> Kind {
        Kind {
            resource: kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
                "", "v1", k,
            )),
            namespaced: true,
        }
    }

    const TOKEN: &str = "glrt-plan-secret";
    const TOKEN_B64: &str = "Z2xydC1wbGFuLXNlY3JldA==";

    fn plan() -> Plan {
        let secret = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns"},
            "data":{"runner-token": TOKEN_B64}});
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"ns"},
            "data":{"config.toml":"concurrent = 3"}});
        let mut live_cm = cm.clone();
        live_cm["metadata"]["resourceVersion"] = json!("41");
        let change = |k: &str, v: &Value, action, live: Option<Value>| Change {
            object: ObjectRef::of(v),
            kind: kind(k),
            action,
            desired: v.clone(),
            live,
            after: None,
            adopt: vec![],
            immutable: None,
            adoption: None,
        };
        let mut secrets = SecretValues::default();
        secrets.add(TOKEN);
        Plan {
            applyset: ApplySet::for_release("r", "ns"),
            parent: ParentState::default(),
            changes: vec![
                change(
                    "Secret",
                    &secret,
                    PlannedAction::Unchanged,
                    Some(secret.clone()),
                ),
                change("ConfigMap", &cm, PlannedAction::Update, Some(live_cm)),
            ],
            prune: vec![],
            kept: vec![],
            warnings: vec![],
            restarts: vec![],
            secrets,
        }
    }

    #[test]
    fn without_secrets_a_plan_file_holds_none_and_seals_their_objects() {
        let values = json!({"runnerToken": TOKEN, "concurrent": 3});
        let file = PlanFile::new(&plan(), &values, false);
        let text = serde_json::to_string_pretty(&file).unwrap();
        assert!(!text.contains(TOKEN) && !text.contains(TOKEN_B64), "{text}");
        assert!(
            text.starts_with(
                "{\n  \"format\": \"runnerctl.io/plan.v1\",\n  \"secrets\": \"masked\""
            ),
            "{text}"
        );
        assert_eq!(
            file.objects[0].sealed.as_deref(),
            Some(digest(&plan().changes[0].desired).as_str())
        );
        assert_eq!(file.objects[1].sealed, None);
        assert_eq!(file.objects[1].live_resource_version.as_deref(), Some("41"));
        let back: PlanFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, file);
        assert!(!format!("{file:?}").contains("concurrent"));

        let with = PlanFile::new(&plan(), &values, true);
        assert_eq!(with.secrets, SecretsInPlan::Included);
        assert!(serde_json::to_string(&with).unwrap().contains(TOKEN_B64));
        assert!(with.objects.iter().all(|o| o.sealed.is_none()));
    }

    #[test]
    fn a_revision_of_a_sealed_plan_takes_the_secret_from_history() {
        let file = PlanFile::new(&plan(), &json!({}), false);
        let content = file.revision_content(&[]);
        assert_eq!(
            content.incomplete,
            [ObjectRef::of(&plan().changes[0].desired)]
        );
        let earlier = Revision {
            info: RevisionInfo {
                revision: 1,
                time: String::new(),
                runnerctl_version: String::new(),
                applied_by: String::new(),
                operation: Operation::Apply,
                summary: Summary::default(),
                changes: vec![],
                outcome: Outcome::Ready,
            },
            content: RevisionContent {
                objects: vec![plan().changes[0].desired.clone()],
                ..Default::default()
            },
        };
        let content = file.revision_content(&[earlier]);
        assert!(content.incomplete.is_empty());
        assert_eq!(content.objects[0]["data"]["runner-token"], TOKEN_B64);
        assert_eq!(content.secrets, [TOKEN]);
    }

    #[test]
    fn moved_objects_are_named() {
        let file = PlanFile::new(&plan(), &json!({}), false);
        let cm = &file.objects[1];
        let live = |rv: &str| json!({"metadata":{"resourceVersion": rv}});
        assert_eq!(moved(cm, Some(&live("41"))), None);
        assert_eq!(
            moved(cm, Some(&live("42"))).unwrap(),
            "ConfigMap/ns/c: changed since (resourceVersion 41, now 42)"
        );
        assert_eq!(moved(cm, None).unwrap(), "ConfigMap/ns/c: deleted since");
        let mut new = cm.clone();
        new.live_resource_version = None;
        assert_eq!(
            moved(&new, Some(&live("1"))).unwrap(),
            "ConfigMap/ns/c: created since"
        );
    }
}
