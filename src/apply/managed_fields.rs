//! Comparing objects and their field ownership: normalisation (what the server maintains is
//! left out), the ownership fingerprint, and the takeover of fields from the managers
//! runnerctl adopts (client-side `kubectl apply`, helm).
use serde_json::{Map, Value, json};

/// Field managers whose `Update` entries runnerctl takes over when it adopts an object
/// (client-side `kubectl apply`, helm, and the server's pre-SSA placeholder).
pub const ADOPTABLE_MANAGERS: &[&str] =
    &["kubectl-client-side-apply", "helm", "before-first-apply"];

/// Metadata the server maintains; never shown as a change.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
];

/// Remove what the server maintains (managedFields, resourceVersion, generation, uid,
/// creationTimestamp, status) so that two states of an object compare by content.
/// Defaults filled in by the server stay: the dry-run result has them as well.
pub fn normalize(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            for k in SERVER_METADATA {
                meta.remove(*k);
            }
            for key in ["labels", "annotations"] {
                if meta
                    .get(key)
                    .and_then(Value::as_object)
                    .is_some_and(|o| o.is_empty())
                {
                    meta.remove(key);
                }
            }
        }
    }
    v
}

/// managedFields without their timestamps, to tell an ownership change from a no-op.
pub(crate) fn ownership(obj: &Value) -> Vec<Value> {
    managed_fields(obj)
        .into_iter()
        .map(|mut e| {
            if let Some(m) = e.as_object_mut() {
                m.remove("time");
            }
            e
        })
        .collect()
}

/// The object's managedFields entries (empty when it has none).
fn managed_fields(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The manager of an entry that runnerctl takes over (an `Update` of the main resource by
/// one of [`ADOPTABLE_MANAGERS`]), else `None`.
fn adoptable_manager(entry: &Value) -> Option<&str> {
    let field = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    let manager = entry.get("manager").and_then(Value::as_str)?;
    (field("operation") == "Update"
        && field("subresource").is_empty()
        && ADOPTABLE_MANAGERS.contains(&manager))
    .then_some(manager)
}

/// Managers of `Update` entries that runnerctl would take over, each once.
pub(crate) fn adoptable_managers(live: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in managed_fields(live) {
        if let Some(m) = adoptable_manager(&e)
            && !out.iter().any(|x| x == m)
        {
            out.push(m.to_string());
        }
    }
    out
}

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

/// The managedFields of `live` after runnerctl takes over the `Update` entries of the
/// adoptable managers (the csa -> ssa migration kubectl does): their field sets are merged
/// into runnerctl's `Apply` entry, so a field runnerctl stops rendering is then removed.
/// `None` when there is nothing to take over.
pub(crate) fn take_over(live: &Value, manager: &str, api_version: &str) -> Option<Vec<Value>> {
    let mut merged = Value::Object(Map::new());
    let mut kept = Vec::new();
    let mut time = None;
    let mut found = false;
    for e in managed_fields(live) {
        if adoptable_manager(&e).is_some() {
            found = true;
            if let Some(f) = e.get("fieldsV1") {
                merge_fields(&mut merged, f);
            }
            time = time.or_else(|| e.get("time").cloned());
        } else {
            kept.push(e);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_managed(entries: Vec<Value>) -> Value {
        json!({"metadata": {"managedFields": entries}})
    }

    #[test]
    fn normalize_drops_server_fields() {
        let live = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n",
            "uid":"u","resourceVersion":"5","generation":2,"creationTimestamp":"2024-01-01T00:00:00Z",
            "managedFields":[{"manager":"x"}],"labels":{"a":"b"},"annotations":{}},"data":{"k":"v"},"status":{"x":1}});
        assert_eq!(
            normalize(&live),
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n","labels":{"a":"b"}},"data":{"k":"v"}})
        );
    }

    #[test]
    fn ownership_ignores_time() {
        let a = with_managed(vec![
            json!({"manager":"runnerctl","operation":"Apply","time":"1"}),
        ]);
        let b = with_managed(vec![
            json!({"manager":"runnerctl","operation":"Apply","time":"2"}),
        ]);
        assert_eq!(ownership(&a), ownership(&b));
        let c = with_managed(vec![
            json!({"manager":"other","operation":"Apply","time":"2"}),
        ]);
        assert_ne!(ownership(&a), ownership(&c));
    }

    #[test]
    fn adoptable_update_managers() {
        let live = with_managed(vec![
            json!({"manager":"kubectl-client-side-apply","operation":"Update","fieldsV1":{}}),
            json!({"manager":"kube-controller-manager","operation":"Update","subresource":"status"}),
            json!({"manager":"helm","operation":"Update"}),
            json!({"manager":"helm","operation":"Update"}),
            json!({"manager":"kubectl","operation":"Apply"}),
        ]);
        assert_eq!(
            adoptable_managers(&live),
            vec!["kubectl-client-side-apply", "helm"]
        );
    }

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
        let live = with_managed(vec![
            json!({"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1","time":"t1",
                   "fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:old":{}}}}),
            json!({"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","subresource":"status",
                   "fieldsType":"FieldsV1","fieldsV1":{"f:status":{}}}),
        ]);
        let out = take_over(&live, "runnerctl", "v1").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["manager"], "kube-controller-manager");
        assert_eq!(out[1]["manager"], "runnerctl");
        assert_eq!(out[1]["operation"], "Apply");
        assert_eq!(out[1]["fieldsV1"], json!({"f:data":{"f:old":{}}}));
        assert_eq!(out[1]["time"], "t1");
    }

    #[test]
    fn takeover_merges_into_existing_apply_entry() {
        let live = with_managed(vec![
            json!({"manager":"helm","operation":"Update","apiVersion":"v1","fieldsV1":{"f:data":{"f:a":{}}}}),
            json!({"manager":"runnerctl","operation":"Apply","apiVersion":"v1","fieldsV1":{"f:data":{"f:b":{}}}}),
        ]);
        let out = take_over(&live, "runnerctl", "v1").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["fieldsV1"], json!({"f:data":{"f:b":{},"f:a":{}}}));
        assert!(take_over(&with_managed(out), "runnerctl", "v1").is_none());
    }
}
