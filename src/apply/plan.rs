//! Plan: a server-side dry-run apply of every rendered object, compared with the live one,
//! plus the ApplySet members that are no longer rendered.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use super::applyset::{
    ANNOTATION_CREATED_NAMESPACE, ApplySet, LABEL_PART_OF, Members, ParentState,
};
use super::drain::Restart;
use super::managed_fields::{adoptable_managers, normalize, ownership};
use super::{BoxFut, Engine, Error, ObjectRef, concurrently};
use crate::k8s::{ApplyParams, Kind};
use crate::object::{annotation, label, uninstall_order};
use crate::render::Object;
use crate::secret::{SecretValues, mask_secrets};

/// What applying would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlannedAction {
    /// Does not exist: create.
    Create,
    /// Differs from the rendered state (content or field ownership): apply.
    Update,
    /// Already as rendered: no write.
    Unchanged,
    /// An immutable field changes: delete and create (only with the recreate option).
    Recreate,
    /// An ApplySet member no longer rendered: delete.
    Prune,
    /// A Namespace that existed before and is not a member: left alone (never relabelled,
    /// never deleted, not part of the inventory).
    Keep,
}

/// Why an existing object that is not a member of the release is taken over.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum Adoption {
    /// helm created it for the same release name and namespace
    /// (`meta.helm.sh/release-name` and `meta.helm.sh/release-namespace`).
    HelmRelease,
    /// The caller asked for adoption ([`EngineOptions::adopt`](super::EngineOptions::adopt)).
    Requested,
}

/// helm's annotations naming the release an object belongs to.
const HELM_RELEASE_NAME: &str = "meta.helm.sh/release-name";
/// See [`HELM_RELEASE_NAME`].
const HELM_RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";
/// The Pod Security Admission label that decides which pods a namespace admits.
const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

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
    /// dry-run was impossible (its namespace, or the role it binds, is created by the same
    /// apply); `None` for prunes.
    pub after: Option<Value>,
    /// Field managers whose fields runnerctl takes over (objects created by client-side
    /// `kubectl apply` or helm).
    pub adopt: Vec<String>,
    /// Why the object must be recreated.
    pub immutable: Option<String>,
    /// Set when an existing object that is not yet a member is taken over.
    pub adoption: Option<Adoption>,
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (live, after) = mask_secrets(self.live.as_ref(), self.after.as_ref());
        let (desired, _) = mask_secrets(Some(&self.desired), None);
        f.debug_struct("Change")
            .field("object", &self.object)
            .field("action", &self.action)
            .field("desired", &desired)
            .field("live", &live)
            .field("after", &after)
            .field("adopt", &self.adopt)
            .field("immutable", &self.immutable)
            .field("adoption", &self.adoption)
            .finish_non_exhaustive()
    }
}

impl Change {
    /// A change that is decided before any dry-run (a create or a prune).
    fn new(kind: Kind, object: ObjectRef, action: PlannedAction, desired: Value) -> Self {
        Change {
            object,
            kind,
            action,
            desired,
            live: None,
            after: None,
            adopt: Vec::new(),
            immutable: None,
            adoption: None,
        }
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
    /// Namespace members no longer rendered (namespace creation dropped): never pruned,
    /// since that would delete everything in them; they stay members, so that uninstall
    /// still knows runnerctl created them.
    pub kept: Vec<ObjectRef>,
    /// Things the user should know before applying (e.g. a namespace left alone whose Pod
    /// Security level does not admit the job pods), one line each.
    pub warnings: Vec<String>,
    /// The runner Deployments whose pod template changes (so the runner restarts), with the
    /// CI jobs running on them now.
    pub restarts: Vec<Restart>,
    /// Secret values masked wherever they appear in [`Plan::diff`]: the values of every
    /// Secret in the plan (rendered, live and dry-run), plus the manifest's known secrets
    /// when planned with [`Engine::plan_manifest`].
    pub secrets: SecretValues,
}

impl Plan {
    /// The group-kinds and additional namespaces the parent lists after this plan.
    pub(crate) fn inventory(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut gks = BTreeSet::new();
        let mut nss = BTreeSet::new();
        if !self.kept.is_empty() {
            gks.insert("Namespace".to_string());
        }
        for c in self
            .changes
            .iter()
            .filter(|c| c.action != PlannedAction::Keep)
        {
            gks.insert(c.kind.group_kind());
            if let Some(ns) = &c.object.namespace
                && *ns != self.applyset.namespace
            {
                nss.insert(ns.clone());
            }
        }
        (gks, nss)
    }

    /// Counts per action.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in self.changes.iter().chain(self.prune.iter()) {
            match c.action {
                PlannedAction::Create => s.add += 1,
                PlannedAction::Update | PlannedAction::Recreate => s.change += 1,
                PlannedAction::Prune => s.delete += 1,
                PlannedAction::Unchanged | PlannedAction::Keep => s.unchanged += 1,
            }
        }
        s
    }
}

/// Counts of a plan: `2 to add, 1 to change, 1 to delete, 4 unchanged`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Objects to create.
    pub add: usize,
    /// Objects to change (or recreate).
    pub change: usize,
    /// Objects to prune.
    pub delete: usize,
    /// Objects already as rendered.
    pub unchanged: usize,
}

impl Summary {
    /// Whether anything would be written.
    pub fn has_changes(&self) -> bool {
        self.add + self.change + self.delete > 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to add, {} to change, {} to delete, {} unchanged",
            self.add, self.change, self.delete, self.unchanged
        )
    }
}

/// An object as it will be applied: its kind, reference and desired state.
#[derive(Clone)]
struct Item {
    kind: Kind,
    object: ObjectRef,
    desired: Value,
}

/// Identity of an object on the server, whatever apiVersion it was read with.
type Key = (String, String, Option<String>, String); // group, kind, namespace, name

fn key(kind: &Kind, obj: &ObjectRef) -> Key {
    (
        kind.resource.group.clone(),
        kind.resource.kind.clone(),
        obj.namespace.clone(),
        obj.name.clone(),
    )
}

impl Item {
    fn key(&self) -> Key {
        key(&self.kind, &self.object)
    }
}

/// The rendered object as applied: namespace defaulted, member label added.
fn desired_object(obj: &Object, kind: &Kind, default_ns: &str, id: &str) -> Result<Value, Error> {
    let mut v = obj.value.clone();
    let invalid = |message: &str| Error::Invalid {
        object: ObjectRef::of(&obj.value),
        message: message.into(),
    };
    let meta = v
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| invalid("no metadata"))?;
    if meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(invalid("no metadata.name"));
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

/// Collect the results of concurrent requests; every error is reported together.
fn all_ok<T>(results: Vec<Result<T, Error>>) -> Result<Vec<T>, Error> {
    let mut ok = Vec::with_capacity(results.len());
    let mut errs = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errs.push(e),
        }
    }
    Error::collect(errs)?;
    Ok(ok)
}

impl Engine {
    /// Plan the apply of `objects` (in install order) as the ApplySet `applyset`: one
    /// server-side dry-run per object, no writes. Errors of every object are reported together.
    pub async fn plan(&self, applyset: &ApplySet, objects: &[Object]) -> Result<Plan, Error> {
        let id = applyset.id();
        let mut items = self.resolve_items(applyset, objects, &id).await?;
        let parent = applyset.parse_parent(self.get_parent(applyset).await?.as_ref())?;
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
        self.get_non_members(&items, &mut live).await?;
        // A token a rotation replaced stays replaced, whatever the values still hold.
        let mut rotated = Vec::new();
        for item in items.iter_mut().filter(|i| i.object.kind == "Secret") {
            if let Some(l) = live.get(&key(&item.kind, &item.object)) {
                rotated.extend(super::token::keep_rotated_tokens(&mut item.desired, l));
            }
        }
        let changes = self.dry_run_all(&items, &live, applyset).await?;
        let rendered: HashSet<Key> = items.iter().map(Item::key).collect();
        let (prune, kept) = prunes(member_kinds, &rendered, &mut live);
        let mut warnings: Vec<String> = changes.iter().filter_map(kept_namespace_warning).collect();
        warnings.extend(rotated);
        let mut secrets = SecretValues::default();
        for c in changes.iter().chain(&prune) {
            secrets.add_secrets_of(
                [Some(&c.desired), c.live.as_ref(), c.after.as_ref()]
                    .into_iter()
                    .flatten(),
            );
        }
        let restarts = self.restarts(&changes).await;
        Ok(Plan {
            applyset: applyset.clone(),
            parent,
            changes,
            prune,
            kept,
            warnings,
            restarts,
            secrets,
        })
    }

    /// [`Engine::plan`] of a rendered manifest, with the manifest's known secrets (tokens in
    /// `runners.config` or env values, ...) added to the plan's, so the diff masks them too.
    pub async fn plan_manifest(
        &self,
        applyset: &ApplySet,
        manifest: &crate::Manifest,
    ) -> Result<Plan, Error> {
        let mut plan = self.plan(applyset, &manifest.objects).await?;
        plan.secrets.extend(&manifest.secrets);
        Ok(plan)
    }

    /// Step 1: each object's kind (built in, or discovered once) and its state as applied.
    async fn resolve_items(
        &self,
        applyset: &ApplySet,
        objects: &[Object],
        id: &str,
    ) -> Result<Vec<Item>, Error> {
        let mut items = Vec::with_capacity(objects.len());
        let mut errs = Vec::new();
        for o in objects {
            let object = ObjectRef::of(&o.value);
            match self.cluster.resolve(o.api_version(), o.kind()).await {
                Ok(Some(kind)) => match desired_object(o, &kind, &applyset.namespace, id) {
                    Ok(desired) => items.push(Item {
                        object: ObjectRef::of(&desired),
                        kind,
                        desired,
                    }),
                    Err(e) => errs.push(e),
                },
                Ok(None) => errs.push(Error::UnknownKind { object }),
                Err(e) => errs.push(Error::api(&object, "discovery", e)),
            }
        }
        Error::collect(errs)?;
        Ok(items)
    }

    /// Step 2: GET the rendered objects that are not (yet) members: new ones, or ones to
    /// adopt, concurrently.
    async fn get_non_members(
        &self,
        items: &[Item],
        live: &mut HashMap<Key, Value>,
    ) -> Result<(), Error> {
        let missing: Vec<&Item> = items
            .iter()
            .filter(|i| !live.contains_key(&i.key()))
            .collect();
        let futs: Vec<BoxFut<Result<Option<Value>, Error>>> = missing
            .iter()
            .map(|item| {
                let (engine, item) = (self.clone(), (*item).clone());
                Box::pin(async move {
                    let o = &item.object;
                    engine
                        .cluster
                        .get(&item.kind, o.namespace.as_deref(), &o.name)
                        .await
                        .map_err(|e| Error::api(o, "get", e))
                }) as BoxFut<_>
            })
            .collect();
        let found = all_ok(concurrently(futs).await)?;
        for (item, v) in missing.into_iter().zip(found) {
            if let Some(v) = v {
                live.insert(item.key(), v);
            }
        }
        Ok(())
    }

    /// Step 3: dry-run every object, concurrently. Objects in a namespace this apply creates
    /// cannot be dry-run yet: they are planned as creates of the desired state.
    async fn dry_run_all(
        &self,
        items: &[Item],
        live: &HashMap<Key, Value>,
        applyset: &ApplySet,
    ) -> Result<Vec<Change>, Error> {
        let new_namespaces: HashSet<&str> = items
            .iter()
            .filter(|i| i.object.is_namespace() && !live.contains_key(&i.key()))
            .map(|i| i.object.name.as_str())
            .collect();
        // Roles created by the same apply: a dry-run of a new binding to one fails (the API
        // server resolves the role to check the binder holds its permissions), so such a
        // binding is planned as rendered, like an object of a new namespace.
        let new_roles: HashSet<(Option<&str>, &str, &str)> = items
            .iter()
            .filter(|i| matches!(i.object.kind.as_str(), "Role" | "ClusterRole"))
            .filter(|i| !live.contains_key(&i.key()))
            .map(|i| {
                (
                    i.object.namespace.as_deref(),
                    i.object.kind.as_str(),
                    i.object.name.as_str(),
                )
            })
            .collect();
        let binds_new_role = |item: &Item| {
            let role_kind = match item.object.kind.as_str() {
                "RoleBinding" => "Role",
                "ClusterRoleBinding" => "ClusterRole",
                _ => return false,
            };
            let r = &item.desired["roleRef"];
            r["kind"] == role_kind
                && r["name"].as_str().is_some_and(|name| {
                    let ns = (role_kind == "Role")
                        .then_some(())
                        .and(item.object.namespace.as_deref());
                    new_roles.contains(&(ns, role_kind, name))
                })
        };
        let futs: Vec<BoxFut<Result<Change, Error>>> = items
            .iter()
            .map(|item| {
                let live = live.get(&item.key()).cloned();
                let in_new_namespace = item
                    .object
                    .namespace
                    .as_deref()
                    .is_some_and(|ns| new_namespaces.contains(ns))
                    || binds_new_role(item);
                let (engine, item, set) = (self.clone(), item.clone(), applyset.clone());
                Box::pin(async move { engine.plan_one(item, live, in_new_namespace, &set).await })
                    as BoxFut<_>
            })
            .collect();
        all_ok(concurrently(futs).await)
    }

    /// The change for one object: decide whether runnerctl may touch it (see
    /// [`ownership_of`]), dry-run, and compare with the live object.
    async fn plan_one(
        &self,
        item: Item,
        live: Option<Value>,
        in_new_namespace: bool,
        applyset: &ApplySet,
    ) -> Result<Change, Error> {
        let Item {
            kind,
            object,
            mut desired,
        } = item;
        if object.is_namespace() {
            mark_created_namespace(&mut desired, live.as_ref(), &applyset.id());
        }
        let mut change = Change::new(kind, object, PlannedAction::Create, desired);
        if let Some(l) = &live {
            match ownership_of(&change.object, l, applyset, self.opts.adopt)? {
                Ownership::Member => {}
                Ownership::Keep => {
                    change.action = PlannedAction::Keep;
                    change.after = Some(l.clone());
                    change.live = live;
                    return Ok(change);
                }
                Ownership::Adopt(how) => change.adoption = Some(how),
            }
            change.adopt = adoptable_managers(l);
        }
        change.live = live;
        if change
            .live
            .as_ref()
            .is_some_and(|l| l.pointer("/metadata/deletionTimestamp").is_some())
        {
            // Being deleted (a recreate that was interrupted): wait until it is gone, then
            // create it again.
            change.action = PlannedAction::Recreate;
            change.after = Some(change.desired.clone());
            return Ok(change);
        }
        if in_new_namespace && change.live.is_none() {
            change.after = Some(change.desired.clone());
            return Ok(change);
        }
        match self.dry_run_consistent(&mut change).await {
            Ok(after) => {
                change.action = match &change.live {
                    None => PlannedAction::Create,
                    Some(l)
                        if normalize(l) == normalize(&after)
                            && ownership(l) == ownership(&after)
                            && change.adopt.is_empty()
                            && change.adoption.is_none() =>
                    {
                        PlannedAction::Unchanged
                    }
                    Some(_) => PlannedAction::Update,
                };
                change.after = Some(after);
            }
            Err(Error::Immutable { message, .. }) if change.live.is_some() => {
                change.action = PlannedAction::Recreate;
                change.immutable = Some(message);
                change.after = Some(change.desired.clone());
            }
            Err(e) => return Err(e),
        }
        Ok(change)
    }

    /// The dry-run, compared against the live object it was applied to: when a controller
    /// changed the object between the GET and the dry-run (a Deployment rolling out), the
    /// resourceVersions differ; the live object is read again and the dry-run repeated, so
    /// the plan never shows someone else's concurrent change as runnerctl's.
    async fn dry_run_consistent(&self, change: &mut Change) -> Result<Value, Error> {
        let rv = |v: &Value| {
            v.pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let mut attempts = 0;
        loop {
            let after = self.dry_run(change).await?;
            attempts += 1;
            let Some(live) = &change.live else {
                return Ok(after);
            };
            if attempts >= 3 || rv(live) == rv(&after) || change.adoption.is_some() {
                return Ok(after);
            }
            let o = &change.object;
            match self
                .cluster
                .get(&change.kind, o.namespace.as_deref(), &o.name)
                .await
                .map_err(|e| Error::api(o, "get", e))?
            {
                Some(fresh) => change.live = Some(fresh),
                None => return Ok(after),
            }
        }
    }

    /// The server-side dry-run apply of a change's desired state. Conflicts only with
    /// managers runnerctl adopts are resolved by the takeover, so the dry-run is forced then.
    async fn dry_run(&self, change: &Change) -> Result<Value, Error> {
        if change.adoption.is_some() {
            // The dry-run against the live object still tells an immutable-field change
            // (planned as a recreate); what the object becomes comes from the dry-run as new.
            let forced = ApplyParams {
                manager: &self.opts.field_manager,
                force: true,
                dry_run: true,
            };
            let o = &change.object;
            let live = self
                .cluster
                .apply(
                    &change.kind,
                    o.namespace.as_deref(),
                    &o.name,
                    &change.desired,
                    forced,
                )
                .await
                .map_err(|e| Error::api(o, "dry-run apply", e));
            if let Err(e @ Error::Immutable { .. }) = live {
                return Err(e);
            }
            return self.dry_run_as_new(change).await;
        }
        let p = ApplyParams {
            manager: &self.opts.field_manager,
            force: self.opts.force_conflicts,
            dry_run: true,
        };
        let o = &change.object;
        let ns = o.namespace.as_deref();
        let apply = |p| {
            self.cluster
                .apply(&change.kind, ns, &o.name, &change.desired, p)
        };
        match apply(p)
            .await
            .map_err(|e| Error::api(o, "dry-run apply", e))
        {
            Err(Error::Conflict { conflicts, .. })
                if !change.adopt.is_empty()
                    && conflicts.iter().all(|c| change.adopt.contains(&c.manager)) =>
            {
                apply(ApplyParams { force: true, ..p })
                    .await
                    .map_err(|e| Error::api(o, "dry-run apply", e))
            }
            other => other,
        }
    }
}

impl Engine {
    /// The dry-run of an object to adopt: what it looks like once runnerctl owns every field
    /// its previous owner set (the takeover removes the fields runnerctl does not render). A
    /// dry-run against the live object would merge the previous owner's fields into the
    /// result (for a Deployment, two sources for one volume, which the server rejects), so
    /// the desired state is dry-run as a new object under a name nobody uses, then named back.
    async fn dry_run_as_new(&self, change: &Change) -> Result<Value, Error> {
        let o = &change.object;
        let scratch = scratch_name(o);
        let mut body = change.desired.clone();
        body["metadata"]["name"] = Value::String(scratch.clone());
        let p = ApplyParams {
            manager: &self.opts.field_manager,
            force: true,
            dry_run: true,
        };
        let mut after = self
            .cluster
            .apply(&change.kind, o.namespace.as_deref(), &scratch, &body, p)
            .await
            .map_err(|e| Error::api(o, "dry-run apply", e))?;
        after["metadata"]["name"] = Value::String(o.name.clone());
        Ok(after)
    }
}

/// Whether runnerctl may touch an existing object: a member of this release is its own;
/// a member of another ApplySet is refused; a Namespace that is not a member existed
/// before and is left alone; anything else is adopted only when helm created it for the
/// same release name and namespace, or when adoption was requested, and refused otherwise.
fn ownership_of(
    object: &ObjectRef,
    live: &Value,
    applyset: &ApplySet,
    adopt: bool,
) -> Result<Ownership, Error> {
    let annotation = |k: &str| annotation(live, k);
    match label(live, LABEL_PART_OF) {
        Some(id) if id == applyset.id() => return Ok(Ownership::Member),
        Some(other) => {
            return Err(Error::ForeignMember {
                object: object.clone(),
                id: other.to_string(),
            });
        }
        None => {}
    }
    if object.is_namespace() {
        return Ok(Ownership::Keep);
    }
    if annotation(HELM_RELEASE_NAME) == Some(applyset.release.as_str())
        && annotation(HELM_RELEASE_NAMESPACE) == Some(applyset.namespace.as_str())
    {
        return Ok(Ownership::Adopt(Adoption::HelmRelease));
    }
    if adopt {
        return Ok(Ownership::Adopt(Adoption::Requested));
    }
    Err(Error::NotOwned {
        object: object.clone(),
        owner: describe_owner(live),
    })
}

/// A name valid for every kind (a DNS-1035 label) that no object of the release has.
fn scratch_name(o: &ObjectRef) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(o.to_string().as_bytes());
    format!("runnerctl-dry-run-{}", crate::render::hex(&digest[..6]))
}

/// What runnerctl may do with an existing object.
#[derive(Debug)]
enum Ownership {
    /// It is a member of this release.
    Member,
    /// A namespace that existed before: leave it alone.
    Keep,
    /// Take it over.
    Adopt(Adoption),
}

/// Who an object belongs to, for an error: its managed-by label, helm release annotations
/// and field managers.
fn describe_owner(live: &Value) -> String {
    let mut parts = Vec::new();
    let str_at = |p: &str| live.pointer(p).and_then(Value::as_str);
    if let Some(m) = str_at("/metadata/labels/app.kubernetes.io~1managed-by") {
        parts.push(format!("label app.kubernetes.io/managed-by={m}"));
    }
    if let Some(r) = str_at("/metadata/annotations/meta.helm.sh~1release-name") {
        let ns = str_at("/metadata/annotations/meta.helm.sh~1release-namespace").unwrap_or("?");
        parts.push(format!("helm release {r} in namespace {ns}"));
    }
    let mut managers: Vec<&str> = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("manager").and_then(Value::as_str))
        .collect();
    managers.dedup();
    if !managers.is_empty() {
        parts.push(format!("field managers {}", managers.join(", ")));
    }
    if parts.is_empty() {
        "unknown".into()
    } else {
        parts.join("; ")
    }
}

/// On a Namespace runnerctl creates, record so (the annotation holds the ApplySet id);
/// on one it already manages, keep the record as found.
fn mark_created_namespace(desired: &mut Value, live: Option<&Value>, id: &str) {
    let recorded = match live {
        None => Some(id),
        Some(l) => annotation(l, ANNOTATION_CREATED_NAMESPACE),
    };
    if let (Some(value), Some(meta)) = (recorded, desired["metadata"].as_object_mut()) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(a) = annotations {
            a.insert(
                ANNOTATION_CREATED_NAMESPACE.into(),
                Value::String(value.into()),
            );
        }
    }
}

/// Pod Security levels from the most to the least permissive.
const PSA_LEVELS: &[&str] = &["privileged", "baseline", "restricted"];

/// For a namespace left alone: a warning when its Pod Security level does not admit what the
/// release needs, with the command that would fix it.
fn kept_namespace_warning(c: &Change) -> Option<String> {
    if c.action != PlannedAction::Keep {
        return None;
    }
    let level = |v: Option<&Value>| {
        v.and_then(|v| label(v, PSA_ENFORCE))
            .unwrap_or("privileged")
            .to_string()
    };
    let rank = |l: &str| {
        PSA_LEVELS
            .iter()
            .position(|x| *x == l)
            .unwrap_or(PSA_LEVELS.len())
    };
    let (has, needs) = (level(c.live.as_ref()), level(Some(&c.desired)));
    let name = &c.object.name;
    (rank(&has) > rank(&needs)).then(|| {
        format!(
            "namespace \"{name}\" existed before and is left alone, but its Pod Security level \
             \"{has}\" does not admit the runner's job pods (they need \"{needs}\"): \
             kubectl label namespace {name} {PSA_ENFORCE}={needs} --overwrite"
        )
    })
}

/// Step 4: members no longer rendered, in uninstall order, and the Namespace members among
/// them, which are kept (see [`Plan::kept`]).
fn prunes(
    member_kinds: HashMap<Key, Kind>,
    rendered: &HashSet<Key>,
    live: &mut HashMap<Key, Value>,
) -> (Vec<Change>, Vec<ObjectRef>) {
    let gone: Members = member_kinds
        .into_iter()
        .filter(|(k, _)| !rendered.contains(k))
        .map(|(k, kind)| (kind, live.remove(&k).expect("member is live")))
        .collect();
    let mut prune = Vec::new();
    let mut kept = Vec::new();
    for (kind, v) in gone {
        let object = ObjectRef::of(&v);
        if object.is_namespace() {
            kept.push(object);
            continue;
        }
        let mut c = Change::new(kind, object, PlannedAction::Prune, Value::Null);
        c.live = Some(v);
        prune.push(c);
    }
    prune.sort_by(|a, b| uninstall_order(&a.object, &b.object));
    (prune, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(k: &str) -> Kind {
        Kind {
            resource: kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
                "", "v1", k,
            )),
            namespaced: true,
        }
    }

    #[test]
    fn desired_gets_namespace_and_member_label() {
        let o = Object {
            source: "t".into(),
            value: json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}),
        };
        let d = desired_object(&o, &kind("ConfigMap"), "ns", "applyset-x-v1").unwrap();
        assert_eq!(d["metadata"]["namespace"], "ns");
        assert_eq!(d["metadata"]["labels"][LABEL_PART_OF], "applyset-x-v1");
        let bad = Object {
            source: "t".into(),
            value: json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{}}),
        };
        let e = desired_object(&bad, &kind("ConfigMap"), "ns", "x").unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
    }

    #[test]
    fn debug_output_masks_secret_values() {
        let secret = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"n"},"data":{"runner-token":"c2VjcmV0LXRva2Vu"}});
        let mut change = Change::new(
            kind("Secret"),
            ObjectRef::of(&secret),
            PlannedAction::Create,
            secret.clone(),
        );
        change.live = Some(secret.clone());
        change.after = Some(secret);
        let text = format!("{change:?}");
        assert!(!text.contains("c2VjcmV0LXRva2Vu"), "{text}");
        assert!(text.contains("runner-token"), "{text}");
    }

    #[test]
    fn prunes_keep_namespaces_and_go_in_uninstall_order() {
        let objs = [
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"}}),
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}),
            json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"n"}}),
            json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"still","namespace":"n"}}),
        ];
        let mut live = HashMap::new();
        let mut member_kinds = HashMap::new();
        for v in &objs {
            let o = ObjectRef::of(v);
            let k = kind(&o.kind);
            live.insert(key(&k, &o), v.clone());
            member_kinds.insert(key(&k, &o), k);
        }
        let rendered: HashSet<Key> = [key(&kind("Secret"), &ObjectRef::of(&objs[3]))]
            .into_iter()
            .collect();
        let (prune, kept) = prunes(member_kinds, &rendered, &mut live);
        let names: Vec<String> = prune.iter().map(|c| c.object.to_string()).collect();
        assert_eq!(names, ["Deployment/n/d", "ConfigMap/n/c"]);
        assert_eq!(kept, [ObjectRef::namespace("n")]);
        assert!(
            prune
                .iter()
                .all(|c| c.live.is_some() && c.action == PlannedAction::Prune)
        );
    }

    fn live(labels: Value, annotations: Value) -> Value {
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"ns",
            "labels":labels,"annotations":annotations,
            "managedFields":[{"manager":"kubectl-create","operation":"Update"}]}})
    }

    #[test]
    fn only_members_helm_objects_of_this_release_or_requested_adoptions_are_touched() {
        let set = ApplySet::for_release("r", "ns");
        let obj = ObjectRef::of(&live(json!({}), json!({})));
        let member = live(json!({LABEL_PART_OF: set.id()}), json!({}));
        assert!(matches!(
            ownership_of(&obj, &member, &set, false),
            Ok(Ownership::Member)
        ));
        let other = live(json!({LABEL_PART_OF: "applyset-other-v1"}), json!({}));
        assert!(matches!(
            ownership_of(&obj, &other, &set, true),
            Err(Error::ForeignMember { .. })
        ));
        let helm = |name: &str, ns: &str| {
            live(
                json!({"app.kubernetes.io/managed-by": "Helm"}),
                json!({HELM_RELEASE_NAME: name, HELM_RELEASE_NAMESPACE: ns}),
            )
        };
        assert!(matches!(
            ownership_of(&obj, &helm("r", "ns"), &set, false),
            Ok(Ownership::Adopt(Adoption::HelmRelease))
        ));
        for (name, ns) in [("r", "elsewhere"), ("other", "ns")] {
            let e = ownership_of(&obj, &helm(name, ns), &set, false).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, Error::NotOwned { .. }), "{text}");
            assert!(
                text.contains(&format!("helm release {name} in namespace {ns}")),
                "{text}"
            );
            assert!(text.contains("app.kubernetes.io/managed-by=Helm"), "{text}");
        }
        let plain = live(json!({}), json!({}));
        let e = ownership_of(&obj, &plain, &set, false).unwrap_err();
        assert!(
            e.to_string().contains("field managers kubectl-create"),
            "{e}"
        );
        assert!(matches!(
            ownership_of(&obj, &plain, &set, true),
            Ok(Ownership::Adopt(Adoption::Requested))
        ));
        let ns = json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns"}});
        assert!(matches!(
            ownership_of(&ObjectRef::of(&ns), &ns, &set, true),
            Ok(Ownership::Keep)
        ));
    }

    #[test]
    fn created_namespaces_are_recorded_and_kept_ones_warn() {
        let mut desired = json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns",
            "labels":{PSA_ENFORCE:"privileged"}}});
        mark_created_namespace(&mut desired, None, "applyset-x-v1");
        assert_eq!(
            desired["metadata"]["annotations"][ANNOTATION_CREATED_NAMESPACE],
            "applyset-x-v1"
        );
        let mut again = json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns"}});
        let live_ns = json!({"metadata":{"name":"ns"}});
        mark_created_namespace(&mut again, Some(&live_ns), "applyset-x-v1");
        assert!(again["metadata"].get("annotations").is_none(), "{again}");

        let mut keep = Change::new(
            kind("Namespace"),
            ObjectRef::namespace("ns"),
            PlannedAction::Keep,
            desired,
        );
        keep.live = Some(json!({"metadata":{"name":"ns","labels":{PSA_ENFORCE:"baseline"}}}));
        let w = kept_namespace_warning(&keep).unwrap();
        assert!(
            w.contains("kubectl label namespace ns pod-security.kubernetes.io/enforce=privileged --overwrite"),
            "{w}"
        );
        keep.live = Some(json!({"metadata":{"name":"ns"}}));
        assert_eq!(
            kept_namespace_warning(&keep),
            None,
            "no label admits everything"
        );
    }

    #[test]
    fn scratch_names_are_valid_for_every_kind() {
        let n = scratch_name(&ObjectRef::namespace("x"));
        assert!(
            n.len() <= 63 && n.starts_with(|c: char| c.is_ascii_lowercase()),
            "{n}"
        );
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert_ne!(n, scratch_name(&ObjectRef::namespace("y")));
    }

    #[test]
    fn summary_line() {
        let s = Summary {
            add: 2,
            change: 1,
            delete: 1,
            unchanged: 4,
        };
        assert_eq!(
            s.to_string(),
            "2 to add, 1 to change, 1 to delete, 4 unchanged"
        );
        assert!(s.has_changes());
        assert!(
            !Summary {
                unchanged: 3,
                ..Default::default()
            }
            .has_changes()
        );
    }
}
