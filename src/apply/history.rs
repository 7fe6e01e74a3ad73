//! Revisions: a record of each apply that changed the release (and of each rollback), kept
//! in the release namespace next to the release's other Secrets, so that a bad upgrade can
//! be undone with the exact objects applied before.
//!
//! A revision is a Secret `runnerctl.revision.<release>.v<N>` of type
//! [`REVISION_SECRET_TYPE`], labelled [`LABEL_RELEASE`]`=<release>`,
//! [`LABEL_REVISION`]`=<N>` and `app.kubernetes.io/managed-by=runnerctl`, made immutable.
//! Its one data key holds the gzip-compressed JSON of a [`Revision`]: what was done
//! ([`RevisionInfo`]: number, time, runnerctl version, who, operation, changes, outcome) and
//! what it takes to apply it again ([`RevisionContent`]: merged values, objects as applied,
//! the secret values to mask).
//!
//! Secrets: the record holds the release's secret values (tokens in the values and in the
//! runner Secret), so it is itself a Secret, readable by exactly those who can read the
//! runner's token Secret in the same namespace; nothing is written anywhere a token was not
//! already. Revisions are not ApplySet members (prune never sees them); uninstall deletes
//! them with the release.
use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::plan::{Plan, PlannedAction, Summary};
use super::{ApplySet, Engine, Error, ObjectRef};
use crate::k8s::CreateMode;
use crate::render::Object;
use crate::secret::SecretValues;

/// Label on a revision Secret naming its release.
pub const LABEL_RELEASE: &str = "runnerctl.io/release";
/// Label on a revision Secret holding its number.
pub const LABEL_REVISION: &str = "runnerctl.io/revision";
/// The `type` of a revision Secret.
pub const REVISION_SECRET_TYPE: &str = "runnerctl.io/revision.v1";
/// How many revisions are kept unless the caller says otherwise.
pub const DEFAULT_HISTORY_MAX: usize = 10;
/// The data key of a revision Secret: the record, gzip-compressed JSON.
const DATA_KEY: &str = "revision.json.gz";
/// A record larger than this (decompressed) is refused as damaged: real ones are tens of KiB.
const MAX_RECORD_BYTES: u64 = 16 << 20;

/// What a revision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Operation {
    /// An apply of rendered values.
    Apply,
    /// An apply of a reviewed plan file.
    ApplyPlan,
    /// A rollback to an earlier revision.
    Rollback {
        /// The revision whose objects were applied again.
        to: u32,
    },
    /// A rotation of the runner token (`runnerctl token rotate`).
    TokenRotation,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::Apply => f.write_str("apply"),
            Operation::ApplyPlan => f.write_str("apply of a reviewed plan"),
            Operation::Rollback { to } => write!(f, "rollback to {to}"),
            Operation::TokenRotation => f.write_str("token rotation"),
        }
    }
}

/// How a revision ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state", content = "message")]
pub enum Outcome {
    /// Applied, and every workload became ready.
    Ready,
    /// Applied; readiness was not waited for.
    Applied,
    /// Applied, but the wait failed or timed out (why).
    Failed(String),
}

impl Outcome {
    /// Whether the revision is one to roll back to: not [`Outcome::Failed`].
    pub fn is_good(&self) -> bool {
        !matches!(self, Outcome::Failed(_))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ready => f.write_str("ready"),
            Outcome::Applied => f.write_str("applied (not waited)"),
            Outcome::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// What a revision did: everything but the values and objects. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInfo {
    /// Its number, from 1.
    pub revision: u32,
    /// When it was recorded (RFC 3339, UTC).
    pub time: String,
    /// The runnerctl version that applied it.
    pub runnerctl_version: String,
    /// Who applied it: the user name the API server authenticated (SelfSubjectReview),
    /// `unknown` when the server would not say.
    pub applied_by: String,
    /// What was done.
    pub operation: Operation,
    /// Counts of the plan that was applied.
    pub summary: Summary,
    /// The objects written, one line each: `create Kind/ns/name`, `update ...`, `prune ...`.
    pub changes: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
}

/// What a revision holds to be applied again. Holds secret values: its `Debug` shows none.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionContent {
    /// The merged values it was rendered from (secret values masked when it was applied from
    /// a plan file written without them).
    pub values: Value,
    /// The objects as applied (rendered, namespace defaulted, ApplySet member label), in
    /// install order.
    pub objects: Vec<Value>,
    /// Secret values to mask in diffs of a rollback to it.
    pub secrets: Vec<String>,
    /// Objects whose desired state is not known (applied from a plan file without secret
    /// values, with no earlier revision holding them): a rollback to it is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<ObjectRef>,
}

impl std::fmt::Debug for RevisionContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevisionContent")
            .field(
                "objects",
                &self.objects.iter().map(ObjectRef::of).collect::<Vec<_>>(),
            )
            .field("incomplete", &self.incomplete)
            .finish_non_exhaustive()
    }
}

impl RevisionContent {
    /// What a plan applies: the values, every planned object's desired state, and the
    /// plan's secret values.
    pub fn of_plan(plan: &Plan, values: &Value) -> Self {
        RevisionContent {
            values: values.clone(),
            objects: plan.changes.iter().map(|c| c.desired.clone()).collect(),
            secrets: plan.secrets.iter().map(str::to_string).collect(),
            incomplete: Vec::new(),
        }
    }

    /// The objects, for [`Engine::plan`].
    pub fn rendered(&self, revision: u32) -> Vec<Object> {
        self.objects
            .iter()
            .map(|v| Object {
                source: format!("revision {revision}"),
                value: v.clone(),
            })
            .collect()
    }
}

/// One revision: what was done and what it applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// What was done.
    pub info: RevisionInfo,
    /// What was applied.
    pub content: RevisionContent,
}

/// What to record: [`Engine::record`] adds the number, time, version and who.
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// What was done.
    pub operation: Operation,
    /// The plan that was applied (its summary and changes are recorded).
    pub summary: Summary,
    /// The changed objects, as in [`RevisionInfo::changes`].
    pub changes: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// What was applied.
    pub content: RevisionContent,
}

impl NewRevision {
    /// A revision of `plan`, applied from `values`.
    pub fn of_plan(plan: &Plan, operation: Operation, outcome: Outcome, values: &Value) -> Self {
        NewRevision {
            operation,
            summary: plan.summary(),
            changes: change_lines(plan),
            outcome,
            content: RevisionContent::of_plan(plan, values),
        }
    }
}

/// The changed objects of a plan, one line each (`update Deployment/ns/name`).
pub fn change_lines(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .chain(&plan.prune)
        .filter_map(|c| {
            let verb = match c.action {
                PlannedAction::Create => "create",
                PlannedAction::Update => "update",
                PlannedAction::Recreate => "recreate",
                PlannedAction::Prune => "prune",
                PlannedAction::Unchanged | PlannedAction::Keep => return None,
            };
            Some(format!("{verb} {}", c.object))
        })
        .collect()
}

/// The revision to roll back to in `history` (oldest first): `revision` when given, else the
/// one before the latest.
pub fn rollback_target<'a>(
    applyset: &ApplySet,
    history: &'a [Revision],
    revision: Option<u32>,
) -> Result<&'a Revision, Error> {
    let found = match revision {
        Some(n) => history.iter().find(|r| r.info.revision == n),
        None => history.iter().rev().nth(1),
    };
    found.ok_or_else(|| Error::NoRevision {
        parent: applyset.parent_ref(),
        revision,
        available: history.iter().map(|r| r.info.revision).collect(),
    })
}

/// The latest good revision in `history` (oldest first) older than `before`.
pub fn last_good(history: &[Revision], before: u32) -> Option<&Revision> {
    history
        .iter()
        .rev()
        .find(|r| r.info.revision < before && r.info.outcome.is_good())
}

impl ApplySet {
    /// The name of revision `n`'s Secret: `runnerctl.revision.<release>.v<n>`.
    pub fn revision_name(&self, n: u32) -> String {
        format!("runnerctl.revision.{}.v{n}", self.release)
    }

    /// The label selector of the release's revision Secrets.
    pub fn revision_selector(&self) -> String {
        format!(
            "app.kubernetes.io/managed-by=runnerctl,{LABEL_RELEASE}={}",
            self.release
        )
    }

    fn revision_ref(&self, n: u32) -> ObjectRef {
        ObjectRef {
            name: self.revision_name(n),
            ..self.parent_ref()
        }
    }

    /// Every revision Secret, for errors about listing them.
    fn revisions_ref(&self) -> ObjectRef {
        ObjectRef {
            name: format!("runnerctl.revision.{}.*", self.release),
            ..self.parent_ref()
        }
    }
}

/// The revision Secret holding `revision`.
fn encode(applyset: &ApplySet, revision: &Revision) -> Result<Value, Error> {
    let n = revision.info.revision;
    let json = serde_json::to_vec(revision).expect("a revision serialises");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let compressed = gz
        .write_all(&json)
        .and_then(|()| gz.finish())
        .map_err(|e| Error::Invalid {
            object: applyset.revision_ref(n),
            message: format!("cannot compress the revision: {e}"),
        })?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": applyset.revision_name(n),
            "namespace": applyset.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "runnerctl",
                LABEL_RELEASE: applyset.release,
                LABEL_REVISION: n.to_string(),
            },
        },
        "type": REVISION_SECRET_TYPE,
        "immutable": true,
        "data": { DATA_KEY: STANDARD.encode(compressed) },
    }))
}

/// The revision a revision Secret holds.
fn decode(secret: &Value) -> Result<Revision, Error> {
    let object = ObjectRef::of(secret);
    let bad = |message: String| Error::Invalid {
        object: object.clone(),
        message: format!("not a readable revision record: {message}"),
    };
    let data = secret
        .pointer(&format!(
            "/data/{}",
            DATA_KEY.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("no data key {DATA_KEY}")))?;
    let compressed = STANDARD
        .decode(data)
        .map_err(|e| bad(format!("base64: {e}")))?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| bad(format!("gzip: {e}")))?;
    if json.len() as u64 > MAX_RECORD_BYTES {
        return Err(bad(format!("larger than {MAX_RECORD_BYTES} bytes")));
    }
    // The serde error names a position, never the text: it may hold secret values.
    serde_json::from_slice(&json).map_err(|e| {
        bad(format!(
            "JSON at line {} column {}: {:?}",
            e.line(),
            e.column(),
            e.classify()
        ))
    })
}

use super::now_rfc3339 as now;

impl Engine {
    /// The release's revisions, oldest first (an empty list when it has none).
    pub async fn history(&self, applyset: &ApplySet) -> Result<Vec<Revision>, Error> {
        let mut revisions = self
            .revision_secrets(applyset)
            .await?
            .iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        revisions.sort_by_key(|r| r.info.revision);
        Ok(revisions)
    }

    /// The release's revision Secrets, as listed.
    async fn revision_secrets(&self, applyset: &ApplySet) -> Result<Vec<Value>, Error> {
        let kind = self.secret_kind().await?;
        let listed = self
            .cluster
            .list(
                &kind,
                Some(&applyset.namespace),
                Some(&applyset.revision_selector()),
                Some(&format!("type={REVISION_SECRET_TYPE}")),
            )
            .await
            .map_err(|e| Error::api(&applyset.revisions_ref(), "list revisions", e))?;
        Ok(listed)
    }

    /// Who the server says this client is (SelfSubjectReview); `unknown` when it will not
    /// say (an old server, or the review is forbidden).
    pub async fn who_am_i(&self) -> String {
        const UNKNOWN: &str = "unknown";
        let Ok(Some(kind)) = self
            .cluster
            .resolve("authentication.k8s.io/v1", "SelfSubjectReview")
            .await
        else {
            return UNKNOWN.into();
        };
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
        match self
            .cluster
            .create(&kind, None, &body, CreateMode::Once)
            .await
        {
            Ok(v) => v
                .pointer("/status/userInfo/username")
                .and_then(Value::as_str)
                .unwrap_or(UNKNOWN)
                .to_string(),
            Err(_) => UNKNOWN.into(),
        }
    }

    /// Record a revision (the next number), then delete the oldest beyond `history_max`
    /// (0 keeps every revision). Returns the revision recorded.
    pub async fn record(
        &self,
        applyset: &ApplySet,
        new: NewRevision,
        history_max: usize,
    ) -> Result<Revision, Error> {
        let secrets = self.revision_secrets(applyset).await?;
        let numbers =
            |s: &Value| crate::object::label(s, LABEL_REVISION).and_then(|n| n.parse::<u32>().ok());
        let last = secrets.iter().filter_map(numbers).max().unwrap_or(0);
        let revision = Revision {
            info: RevisionInfo {
                revision: last + 1,
                time: now(),
                runnerctl_version: env!("CARGO_PKG_VERSION").into(),
                applied_by: self.who_am_i().await,
                operation: new.operation,
                summary: new.summary,
                changes: new.changes,
                outcome: new.outcome,
            },
            content: new.content,
        };
        let kind = self.secret_kind().await?;
        let body = encode(applyset, &revision)?;
        self.cluster
            .create(&kind, Some(&applyset.namespace), &body, CreateMode::Once)
            .await
            .map_err(|e| Error::api(&applyset.revision_ref(last + 1), "record revision", e))?;
        if history_max > 0 {
            let mut kept: Vec<(u32, &Value)> = secrets
                .iter()
                .filter_map(|s| numbers(s).map(|n| (n, s)))
                .collect();
            kept.sort_by_key(|(n, _)| *n);
            let excess = (kept.len() + 1).saturating_sub(history_max);
            for (n, live) in kept.into_iter().take(excess) {
                self.delete_one(
                    &kind,
                    &applyset.revision_ref(n),
                    Some(live),
                    super::delete::Propagation::Background,
                    "delete old revision",
                )
                .await?;
            }
        }
        Ok(revision)
    }

    /// Delete every revision of the release; returns their references.
    pub(crate) async fn delete_history(
        &self,
        applyset: &ApplySet,
    ) -> Result<Vec<(crate::k8s::Kind, ObjectRef)>, Error> {
        let kind = self.secret_kind().await?;
        let mut gone = Vec::new();
        for live in self.revision_secrets(applyset).await? {
            let object = ObjectRef::of(&live);
            self.delete_one(
                &kind,
                &object,
                Some(&live),
                super::delete::Propagation::Background,
                "delete",
            )
            .await?;
            gone.push((kind.clone(), object));
        }
        Ok(gone)
    }

    /// Plan applying `revision`'s objects again (a rollback), as [`Engine::plan`] does,
    /// masking the secret values the revision knows.
    pub async fn plan_revision(
        &self,
        applyset: &ApplySet,
        revision: &Revision,
    ) -> Result<Plan, Error> {
        let content = &revision.content;
        if !content.incomplete.is_empty() {
            return Err(Error::IncompleteRevision {
                revision: revision.info.revision,
                objects: content.incomplete.clone(),
            });
        }
        let mut plan = self
            .plan(applyset, &content.rendered(revision.info.revision))
            .await?;
        let mut secrets = SecretValues::default();
        for s in &content.secrets {
            secrets.add(s);
        }
        plan.secrets.extend(&secrets);
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(n: u32, outcome: Outcome) -> Revision {
        Revision {
            info: RevisionInfo {
                revision: n,
                time: "2026-01-01T00:00:00Z".into(),
                runnerctl_version: "0.1.0".into(),
                applied_by: "me".into(),
                operation: Operation::Apply,
                summary: Summary::default(),
                changes: vec![],
                outcome,
            },
            content: RevisionContent {
                values: json!({"runnerToken": "glrt-secret-token"}),
                objects: vec![json!({"apiVersion":"v1","kind":"Secret",
                    "metadata":{"name":"s","namespace":"ns"},"data":{"t":"Z2xydC1zZWNyZXQtdG9rZW4="}})],
                secrets: vec!["glrt-secret-token".into()],
                incomplete: vec![],
            },
        }
    }

    #[test]
    fn records_round_trip_compressed_and_hide_secrets_from_debug() {
        let set = ApplySet::for_release("r", "ns");
        let rev = revision(3, Outcome::Ready);
        let secret = encode(&set, &rev).unwrap();
        assert_eq!(secret["metadata"]["name"], "runnerctl.revision.r.v3");
        assert_eq!(secret["metadata"]["labels"][LABEL_REVISION], "3");
        assert_eq!(secret["type"], REVISION_SECRET_TYPE);
        let text = secret.to_string();
        assert!(!text.contains("glrt-secret-token"), "{text}");
        assert!(!text.contains("Z2xydC1zZWNyZXQtdG9rZW4="), "{text}");
        assert_eq!(decode(&secret).unwrap(), rev);
        let debug = format!("{rev:?}");
        assert!(!debug.contains("glrt-secret-token"), "{debug}");
        assert!(!debug.contains("Z2xydC1zZWNyZXQtdG9rZW4="), "{debug}");
    }

    #[test]
    fn damaged_records_are_errors_that_name_the_secret() {
        let set = ApplySet::for_release("r", "ns");
        let mut secret = encode(&set, &revision(1, Outcome::Ready)).unwrap();
        secret["data"][DATA_KEY] = json!(STANDARD.encode(b"not gzip"));
        let e = decode(&secret).unwrap_err().to_string();
        assert!(
            e.starts_with("Secret/ns/runnerctl.revision.r.v1: not a readable"),
            "{e}"
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"runnerToken\": glrt-secret-token")
            .unwrap();
        secret["data"][DATA_KEY] = json!(STANDARD.encode(gz.finish().unwrap()));
        let e = decode(&secret).unwrap_err().to_string();
        assert!(e.contains("JSON at line 1"), "{e}");
        assert!(!e.contains("glrt-secret-token"), "{e}");
    }

    #[test]
    fn rollback_targets() {
        let set = ApplySet::for_release("r", "ns");
        let h = vec![
            revision(1, Outcome::Ready),
            revision(2, Outcome::Applied),
            revision(3, Outcome::Failed("timed out".into())),
        ];
        assert_eq!(rollback_target(&set, &h, None).unwrap().info.revision, 2);
        assert_eq!(rollback_target(&set, &h, Some(1)).unwrap().info.revision, 1);
        let e = rollback_target(&set, &h, Some(7)).unwrap_err().to_string();
        assert!(e.contains("revision 7") && e.contains("1, 2, 3"), "{e}");
        let e = rollback_target(&set, &h[..1], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no earlier revision"), "{e}");
        assert_eq!(last_good(&h, 3).unwrap().info.revision, 2);
        assert_eq!(last_good(&h, 1), None);
        let failed = [revision(1, Outcome::Failed("x".into()))];
        assert_eq!(last_good(&failed, 2), None);
    }
}
