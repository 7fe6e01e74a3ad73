//! Apply a plan: Namespace first, then the ApplySet parent (with the union of old and new
//! group-kinds, so an interrupted apply never loses track of a member), then the rest in
//! install order, writing only the objects the plan says differ; prune and shrink the parent
//! only when every write succeeded.
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::plan::{Change, Plan, PlannedAction};
use super::{ADOPTABLE_MANAGERS, Action, Engine, Error, ObjectResult, Report};
use crate::k8s::ApplyParams;

/// How long `--recreate` waits for the old object to disappear.
const RECREATE_WAIT: Duration = Duration::from_secs(120);

/// Union of two `fieldsV1` trees (`f:`/`k:`/`v:`/`i:` keys, `.` for the field itself).
pub(crate) fn merge_fields(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(am), Value::Object(bm)) => {
            for (k, bv) in bm {
                match am.get_mut(k) {
                    Some(av) => merge_fields(av, bv),
                    None => {
                        am.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (a, b) if a.is_null() => *a = b.clone(),
        _ => {}
    }
}

/// The managedFields after runnerctl takes over the `Update` entries of the adoptable
/// managers (the csa -> ssa migration kubectl does): their field sets are merged into
/// runnerctl's `Apply` entry, so a field runnerctl stops rendering is then removed.
/// `None` when there is nothing to take over.
pub(crate) fn take_over(managed: &[Value], manager: &str, api_version: &str) -> Option<Vec<Value>> {
    let mut merged = Value::Object(Map::new());
    let mut kept = Vec::new();
    let mut time = None;
    let mut found = false;
    for e in managed {
        let m = e.get("manager").and_then(Value::as_str).unwrap_or("");
        let op = e.get("operation").and_then(Value::as_str).unwrap_or("");
        let sub = e.get("subresource").and_then(Value::as_str).unwrap_or("");
        if op == "Update" && sub.is_empty() && ADOPTABLE_MANAGERS.contains(&m) {
            found = true;
            if let Some(f) = e.get("fieldsV1") {
                merge_fields(&mut merged, f);
            }
            time = time.or_else(|| e.get("time").cloned());
        } else {
            kept.push(e.clone());
        }
    }
    if !found {
        return None;
    }
    let ours = kept.iter_mut().find(|e| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
    });
    match ours {
        Some(e) => {
            let mut f = e
                .get("fieldsV1")
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            merge_fields(&mut f, &merged);
            e["fieldsV1"] = f;
        }
        None => {
            let mut e = json!({
                "manager": manager,
                "operation": "Apply",
                "apiVersion": api_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": merged,
            });
            if let Some(t) = time {
                e["time"] = t;
            }
            kept.push(e);
        }
    }
    Some(kept)
}

impl Engine {
    /// Apply a plan. `on_result` is called as each object is handled (for progress output).
    /// Stops at the first failed write; objects already written stay consistent and the
    /// ApplySet parent still lists every group-kind, so running apply again converges.
    /// Nothing is pruned unless every write succeeded.
    pub async fn apply(
        &self,
        plan: &Plan,
        mut on_result: impl FnMut(&ObjectResult),
    ) -> Result<Report, Error> {
        if !self.opts.recreate {
            let errs: Vec<Error> = plan
                .changes
                .iter()
                .filter(|c| c.action == PlannedAction::Recreate)
                .map(|c| Error::Immutable {
                    object: c.object.to_string(),
                    message: c.immutable.clone().unwrap_or_default(),
                })
                .collect();
            Error::collect(errs)?;
        }
        let mut report = Report::default();
        let (gks, nss) = plan.inventory();
        let mut union_gks = gks.clone();
        union_gks.extend(plan.parent.group_kinds.iter().cloned());
        let mut union_nss = nss.clone();
        union_nss.extend(plan.parent.namespaces.iter().cloned());
        let parent_current = plan.parent.exists
            && plan.parent.group_kinds == union_gks
            && plan.parent.namespaces == union_nss
            && plan.parent.tooling.as_deref() == Some(super::ApplySet::tooling().as_str());

        // Stage 1: namespaces. Stage 2: the parent. Stage 3: everything else, in order.
        let (namespaces, rest): (Vec<&Change>, Vec<&Change>) = plan
            .changes
            .iter()
            .partition(|c| c.kind.resource.kind == "Namespace" && c.kind.resource.group.is_empty());
        for c in namespaces {
            let r = self.apply_one(c, &mut report).await?;
            super::record(&mut report.results, &mut on_result, r);
        }
        let mut parent_written = (union_gks.clone(), union_nss.clone());
        if !parent_current {
            report.writes += 1;
            self.write_parent(&plan.applyset, &union_gks, &union_nss)
                .await?;
        } else {
            parent_written = (
                plan.parent.group_kinds.clone(),
                plan.parent.namespaces.clone(),
            );
        }
        for c in rest {
            let r = self.apply_one(c, &mut report).await?;
            super::record(&mut report.results, &mut on_result, r);
        }

        // Prune, then shrink the parent to what is left.
        let candidates: Vec<_> = plan
            .prune
            .iter()
            .map(|c| (c.kind.clone(), c.live.clone().expect("prunes are live")))
            .collect();
        let pruned = self
            .prune(&candidates, &mut report.writes, &mut on_result)
            .await?;
        report.results.extend(pruned);
        if (gks.clone(), nss.clone()) != parent_written {
            report.writes += 1;
            self.write_parent(&plan.applyset, &gks, &nss).await?;
        }
        Ok(report)
    }

    /// Write one object as planned.
    /// The one real server-side apply of an object's desired state (counted as a write).
    async fn write(&self, c: &Change, force: bool, report: &mut Report) -> Result<(), Error> {
        let p = ApplyParams {
            manager: &self.opts.field_manager,
            force,
            dry_run: false,
        };
        report.writes += 1;
        self.cluster
            .apply(
                &c.kind,
                c.object.namespace.as_deref(),
                &c.object.name,
                &c.desired,
                p,
            )
            .await
            .map_err(|e| Error::api(&c.object, "apply", e))?;
        Ok(())
    }

    async fn apply_one(&self, c: &Change, report: &mut Report) -> Result<ObjectResult, Error> {
        let ns = c.object.namespace.as_deref();
        let done = |action| {
            Ok(ObjectResult {
                object: c.object.clone(),
                action,
                note: None,
            })
        };
        match c.action {
            PlannedAction::Unchanged => return done(Action::Unchanged),
            PlannedAction::Prune => unreachable!("prunes are handled apart"),
            PlannedAction::Recreate => {
                if !self.opts.recreate {
                    return Err(Error::Immutable {
                        object: c.object.to_string(),
                        message: c.immutable.clone().unwrap_or_default(),
                    });
                }
                let uid = c
                    .live
                    .as_ref()
                    .and_then(|l| l.pointer("/metadata/uid"))
                    .and_then(Value::as_str);
                report.writes += 1;
                self.cluster
                    .delete(&c.kind, ns, &c.object.name, true, uid)
                    .await
                    .map_err(|e| Error::api(&c.object, "delete", e))?;
                self.wait_gone(c, RECREATE_WAIT).await?;
                self.write(c, true, report).await?;
                return done(Action::Recreated);
            }
            PlannedAction::Create | PlannedAction::Update => {}
        }
        let mut force = self.opts.force_conflicts;
        if let Some(live) = &c.live
            && !c.adopt.is_empty()
        {
            let managed = live
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if let Some(new) = take_over(&managed, &self.opts.field_manager, &c.object.api_version)
            {
                let rv = live
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                let ops = json_patch::Patch(vec![
                    json_patch::PatchOperation::Test(json_patch::TestOperation {
                        path: json_patch::jsonptr::PointerBuf::from_tokens([
                            "metadata",
                            "resourceVersion",
                        ]),
                        value: rv,
                    }),
                    json_patch::PatchOperation::Replace(json_patch::ReplaceOperation {
                        path: json_patch::jsonptr::PointerBuf::from_tokens([
                            "metadata",
                            "managedFields",
                        ]),
                        value: Value::Array(new),
                    }),
                ]);
                report.writes += 1;
                self.cluster
                    .json_patch(&c.kind, ns, &c.object.name, ops)
                    .await
                    .map_err(|e| Error::api(&c.object, "take over managed fields", e))?;
            }
            force = true;
        }
        self.write(c, force, report).await?;
        done(if c.live.is_some() {
            Action::Configured
        } else {
            Action::Created
        })
    }

    async fn wait_gone(&self, c: &Change, timeout: Duration) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            let got = self
                .cluster
                .get(&c.kind, c.object.namespace.as_deref(), &c.object.name)
                .await
                .map_err(|e| Error::api(&c.object, "get", e))?;
            if got.is_none() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!("{} to be deleted", c.object),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_a_union() {
        let mut a = json!({"f:metadata":{"f:labels":{"f:a":{}}},"f:data":{".":{},"f:x":{}}});
        let b = json!({"f:metadata":{"f:labels":{"f:b":{}}},"f:data":{"f:y":{}}});
        merge_fields(&mut a, &b);
        assert_eq!(
            a,
            json!({"f:metadata":{"f:labels":{"f:a":{},"f:b":{}}},"f:data":{".":{},"f:x":{},"f:y":{}}})
        );
    }

    #[test]
    fn takeover_rewrites_client_side_apply_entries() {
        let managed = vec![
            json!({"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1","time":"t1",
                   "fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:old":{}}}}),
            json!({"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","subresource":"status",
                   "fieldsType":"FieldsV1","fieldsV1":{"f:status":{}}}),
        ];
        let out = take_over(&managed, "runnerctl", "v1").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["manager"], "kube-controller-manager");
        assert_eq!(out[1]["manager"], "runnerctl");
        assert_eq!(out[1]["operation"], "Apply");
        assert_eq!(out[1]["fieldsV1"], json!({"f:data":{"f:old":{}}}));
        assert_eq!(out[1]["time"], "t1");
    }

    #[test]
    fn takeover_merges_into_existing_apply_entry() {
        let managed = vec![
            json!({"manager":"helm","operation":"Update","apiVersion":"v1","fieldsV1":{"f:data":{"f:a":{}}}}),
            json!({"manager":"runnerctl","operation":"Apply","apiVersion":"v1","fieldsV1":{"f:data":{"f:b":{}}}}),
        ];
        let out = take_over(&managed, "runnerctl", "v1").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["fieldsV1"], json!({"f:data":{"f:b":{},"f:a":{}}}));
        assert!(take_over(&out, "runnerctl", "v1").is_none());
    }
}
