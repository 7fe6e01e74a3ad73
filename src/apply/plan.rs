//! Plan: a server-side dry-run apply of every rendered object, compared with the live one,
//! plus the ApplySet members that are no longer rendered.
use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::diff::{normalize, ownership};
use super::prune::{ApplySet, LABEL_PART_OF, ParentState};
use super::{ADOPTABLE_MANAGERS, BoxFut, Engine, Error, ObjectRef, concurrently};
use crate::k8s::{ApplyParams, Kind};
use crate::render::Object;

/// What applying would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlannedAction {
    /// Does not exist: create.
    Create,
    /// Differs from the rendered state (content or field ownership): apply.
    Update,
    /// Already as rendered: no write.
    Unchanged,
    /// An immutable field changes: delete and create (needs `--recreate`).
    Recreate,
    /// An ApplySet member no longer rendered: delete.
    Prune,
}

/// One object's planned change. Its `Debug` output masks Secret values.
#[derive(Clone)]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// Its kind as the server serves it.
    pub kind: Kind,
    /// What applying would do.
    pub action: PlannedAction,
    /// What runnerctl applies: the rendered object plus the ApplySet member label
    /// (`Null` for prunes).
    pub desired: Value,
    /// The live object, if it exists.
    pub live: Option<Value>,
    /// The server's dry-run result (the live object after apply); the desired object when a
    /// dry-run was impossible (its namespace is created by the same apply); `None` for prunes.
    pub after: Option<Value>,
    /// Field managers whose fields runnerctl takes over (objects created by client-side
    /// `kubectl apply` or helm).
    pub adopt: Vec<String>,
    /// Why the object must be recreated.
    pub immutable: Option<String>,
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (live, after) = super::diff::mask_secrets(self.live.as_ref(), self.after.as_ref());
        let (desired, _) = super::diff::mask_secrets(Some(&self.desired), None);
        f.debug_struct("Change")
            .field("object", &self.object)
            .field("action", &self.action)
            .field("desired", &desired)
            .field("live", &live)
            .field("after", &after)
            .field("adopt", &self.adopt)
            .field("immutable", &self.immutable)
            .finish_non_exhaustive()
    }
}

/// The plan for a release: what apply would write, in order.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The release's ApplySet.
    pub applyset: ApplySet,
    /// The live ApplySet parent.
    pub parent: ParentState,
    /// One entry per rendered object, in install order (Namespace first).
    pub changes: Vec<Change>,
    /// Members to prune.
    pub prune: Vec<Change>,
    /// Namespace members no longer rendered (`--create-namespace` dropped): never pruned,
    /// since that would delete everything in them; they stay members, so that
    /// `uninstall --delete-namespace` still knows runnerctl created them.
    pub kept: Vec<ObjectRef>,
}

impl Plan {
    /// The group-kinds and additional namespaces of the rendered objects.
    pub(crate) fn inventory(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut gks = BTreeSet::new();
        let mut nss = BTreeSet::new();
        if !self.kept.is_empty() {
            gks.insert("Namespace".to_string());
        }
        for c in &self.changes {
            gks.insert(c.kind.group_kind());
            if let Some(ns) = &c.object.namespace
                && *ns != self.applyset.namespace
            {
                nss.insert(ns.clone());
            }
        }
        (gks, nss)
    }
}

/// The rendered object as applied: namespace defaulted, member label added.
fn desired_object(obj: &Object, kind: &Kind, default_ns: &str, id: &str) -> Result<Value, Error> {
    let mut v = obj.value.clone();
    let what = || format!("{}/{}", obj.kind(), obj.name());
    let meta = v
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::Invalid {
            object: what(),
            message: "no metadata".into(),
        })?;
    if meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(Error::Invalid {
            object: what(),
            message: "no metadata.name".into(),
        });
    }
    if kind.namespaced {
        if !meta.contains_key("namespace") {
            meta.insert("namespace".into(), Value::String(default_ns.to_string()));
        }
    } else {
        meta.remove("namespace");
    }
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(l) = labels {
        l.insert(LABEL_PART_OF.into(), Value::String(id.to_string()));
    }
    Ok(v)
}

/// Managers of `Update` entries that runnerctl would take over.
pub(crate) fn adoptable_managers(live: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let m = e.get("manager").and_then(Value::as_str).unwrap_or("");
        let op = e.get("operation").and_then(Value::as_str).unwrap_or("");
        let sub = e.get("subresource").and_then(Value::as_str).unwrap_or("");
        if op == "Update"
            && sub.is_empty()
            && ADOPTABLE_MANAGERS.contains(&m)
            && !out.iter().any(|x| x == m)
        {
            out.push(m.to_string());
        }
    }
    out
}

type Key = (String, String, Option<String>, String); // group, kind, namespace, name

fn key(kind: &Kind, obj: &ObjectRef) -> Key {
    (
        kind.resource.group.clone(),
        kind.resource.kind.clone(),
        obj.namespace.clone(),
        obj.name.clone(),
    )
}

impl Engine {
    /// Plan the apply of `objects` (in install order) as the ApplySet `applyset`: one
    /// server-side dry-run per object, no writes. Errors of every object are reported together.
    pub async fn plan(&self, applyset: &ApplySet, objects: &[Object]) -> Result<Plan, Error> {
        let id = applyset.id();
        // 1. Kinds (built in, or discovered once) and the objects as they will be applied.
        let mut items: Vec<(Kind, ObjectRef, Value)> = Vec::with_capacity(objects.len());
        let mut errs = Vec::new();
        for o in objects {
            let object = ObjectRef::of(&o.value);
            match self.cluster.resolve(o.api_version(), o.kind()).await {
                Ok(Some(kind)) => match desired_object(o, &kind, &applyset.namespace, &id) {
                    Ok(d) => items.push((kind, ObjectRef::of(&d), d)),
                    Err(e) => errs.push(e),
                },
                Ok(None) => errs.push(Error::UnknownKind {
                    object: object.to_string(),
                    api_version: o.api_version().into(),
                    kind: o.kind().into(),
                }),
                Err(e) => errs.push(Error::api(&object, "discovery", e)),
            }
        }
        Error::collect(errs)?;

        // 2. The ApplySet parent and its live members (one LIST per group-kind and namespace).
        let parent_live = self.get_parent(applyset).await?;
        let parent = applyset.parse_parent(parent_live.as_ref())?;
        let members = if parent.exists {
            self.list_members(applyset, &parent).await?
        } else {
            Vec::new()
        };
        let mut live: HashMap<Key, Value> = HashMap::new();
        let mut member_kinds: HashMap<Key, Kind> = HashMap::new();
        for (kind, v) in members {
            let k = key(&kind, &ObjectRef::of(&v));
            member_kinds.insert(k.clone(), kind);
            live.insert(k, v);
        }

        // 3. GET the rendered objects that are not (yet) members: new ones, or ones to adopt.
        let missing: Vec<usize> = (0..items.len())
            .filter(|&i| !live.contains_key(&key(&items[i].0, &items[i].1)))
            .collect();
        let futs: Vec<BoxFut<Result<Option<Value>, Error>>> = missing
            .iter()
            .map(|&i| {
                let (kind, obj, _) = items[i].clone();
                let engine = self.clone();
                Box::pin(async move {
                    engine
                        .cluster
                        .get(&kind, obj.namespace.as_deref(), &obj.name)
                        .await
                        .map_err(|e| Error::api(&obj, "get", e))
                }) as BoxFut<_>
            })
            .collect();
        let mut errs = Vec::new();
        for (i, r) in missing.iter().zip(concurrently(futs).await) {
            match r {
                Ok(Some(v)) => {
                    live.insert(key(&items[*i].0, &items[*i].1), v);
                }
                Ok(None) => {}
                Err(e) => errs.push(e),
            }
        }
        Error::collect(errs)?;

        // Namespaces this apply creates: objects in them cannot be dry-run yet.
        let new_namespaces: HashSet<String> = items
            .iter()
            .filter(|(k, o, _)| {
                k.resource.kind == "Namespace"
                    && k.resource.group.is_empty()
                    && !live.contains_key(&key(k, o))
            })
            .map(|(_, o, _)| o.name.clone())
            .collect();

        // 4. Dry-run every object, concurrently.
        let futs: Vec<BoxFut<Result<Change, Error>>> = items
            .iter()
            .map(|(kind, obj, desired)| {
                let live = live.get(&key(kind, obj)).cloned();
                let skip_dry_run = obj
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| new_namespaces.contains(ns));
                let (engine, kind, obj, desired, id) = (
                    self.clone(),
                    kind.clone(),
                    obj.clone(),
                    desired.clone(),
                    id.clone(),
                );
                Box::pin(async move {
                    engine
                        .plan_one(kind, obj, desired, live, skip_dry_run, &id)
                        .await
                }) as BoxFut<_>
            })
            .collect();
        let mut changes = Vec::new();
        let mut errs = Vec::new();
        for r in concurrently(futs).await {
            match r {
                Ok(c) => changes.push(c),
                Err(e) => errs.push(e),
            }
        }
        Error::collect(errs)?;

        // 5. Members no longer rendered.
        let rendered: HashSet<Key> = items.iter().map(|(k, o, _)| key(k, o)).collect();
        let prune: Vec<Change> = member_kinds
            .into_iter()
            .filter(|(k, _)| !rendered.contains(k))
            .map(|(k, kind)| {
                let v = live.remove(&k).expect("member is live");
                Change {
                    object: ObjectRef::of(&v),
                    kind,
                    action: PlannedAction::Prune,
                    desired: Value::Null,
                    live: Some(v),
                    after: None,
                    adopt: Vec::new(),
                    immutable: None,
                }
            })
            .collect();
        let (kept, mut prune): (Vec<Change>, Vec<Change>) = prune
            .into_iter()
            .partition(|c| c.kind.resource.kind == "Namespace" && c.kind.resource.group.is_empty());
        let kept = kept.into_iter().map(|c| c.object).collect();
        prune.sort_by(|a, b| crate::object::uninstall_order(&a.object, &b.object));
        Ok(Plan {
            applyset: applyset.clone(),
            parent,
            changes,
            prune,
            kept,
        })
    }

    async fn plan_one(
        &self,
        kind: Kind,
        object: ObjectRef,
        desired: Value,
        live: Option<Value>,
        skip_dry_run: bool,
        id: &str,
    ) -> Result<Change, Error> {
        let mut change = Change {
            object: object.clone(),
            kind: kind.clone(),
            action: PlannedAction::Create,
            desired: desired.clone(),
            live: live.clone(),
            after: None,
            adopt: Vec::new(),
            immutable: None,
        };
        if let Some(l) = &live {
            let other = l
                .pointer("/metadata/labels")
                .and_then(|m| m.get(LABEL_PART_OF))
                .and_then(Value::as_str);
            if let Some(other) = other
                && other != id
            {
                return Err(Error::ForeignMember {
                    object: object.to_string(),
                    id: other.to_string(),
                });
            }
            change.adopt = adoptable_managers(l);
        }
        if skip_dry_run && live.is_none() {
            change.after = Some(desired);
            return Ok(change);
        }
        let force = self.opts.force_conflicts;
        let p = ApplyParams {
            manager: &self.opts.field_manager,
            force,
            dry_run: true,
        };
        let ns = object.namespace.as_deref();
        let result = match self
            .cluster
            .apply(&kind, ns, &object.name, &desired, p)
            .await
        {
            Ok(v) => Ok(v),
            Err(e) => match Error::api(&object, "dry-run apply", e) {
                // Conflicts only with managers runnerctl adopts: the takeover resolves them.
                Error::Conflict { conflicts, .. }
                    if !change.adopt.is_empty()
                        && conflicts.iter().all(|c| change.adopt.contains(&c.manager)) =>
                {
                    let p = ApplyParams { force: true, ..p };
                    self.cluster
                        .apply(&kind, ns, &object.name, &desired, p)
                        .await
                        .map_err(|e| Error::api(&object, "dry-run apply", e))
                }
                other => Err(other),
            },
        };
        let after = match result {
            Ok(v) => v,
            Err(Error::Immutable { message, .. }) if live.is_some() => {
                change.action = PlannedAction::Recreate;
                change.immutable = Some(message);
                change.after = Some(desired);
                return Ok(change);
            }
            Err(e) => return Err(e),
        };
        change.action = match &live {
            None => PlannedAction::Create,
            Some(l) => {
                if normalize(l) != normalize(&after)
                    || ownership(l) != ownership(&after)
                    || !change.adopt.is_empty()
                {
                    PlannedAction::Update
                } else {
                    PlannedAction::Unchanged
                }
            }
        };
        change.after = Some(after);
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn desired_gets_namespace_and_member_label() {
        let kind = Kind {
            resource: kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
                "",
                "v1",
                "ConfigMap",
            )),
            namespaced: true,
        };
        let o = Object {
            source: "t".into(),
            value: json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}),
        };
        let d = desired_object(&o, &kind, "ns", "applyset-x-v1").unwrap();
        assert_eq!(d["metadata"]["namespace"], "ns");
        assert_eq!(d["metadata"]["labels"][LABEL_PART_OF], "applyset-x-v1");
        let bad = Object {
            source: "t".into(),
            value: json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{}}),
        };
        assert!(desired_object(&bad, &kind, "ns", "x").is_err());
    }

    #[test]
    fn debug_output_masks_secret_values() {
        let secret = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"n"},"data":{"runner-token":"c2VjcmV0LXRva2Vu"}});
        let change = Change {
            object: ObjectRef::of(&secret),
            kind: Kind {
                resource: kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
                    "", "v1", "Secret",
                )),
                namespaced: true,
            },
            action: PlannedAction::Create,
            desired: secret.clone(),
            live: Some(secret.clone()),
            after: Some(secret),
            adopt: vec![],
            immutable: None,
        };
        let text = format!("{change:?}");
        assert!(!text.contains("c2VjcmV0LXRva2Vu"), "{text}");
        assert!(text.contains("runner-token"), "{text}");
    }

    #[test]
    fn adoptable_update_managers() {
        let live = json!({"metadata":{"managedFields":[
            {"manager":"kubectl-client-side-apply","operation":"Update","fieldsV1":{}},
            {"manager":"kube-controller-manager","operation":"Update","subresource":"status"},
            {"manager":"helm","operation":"Update"},
            {"manager":"kubectl","operation":"Apply"}]}});
        assert_eq!(
            adoptable_managers(&live),
            vec!["kubectl-client-side-apply", "helm"]
        );
    }
}
