//! The `GitLabRunner` CustomResourceDefinition, its `spec.values` schema translated from the
//! values JSON Schema (values/values.schema.json) into a structural schema the API server
//! accepts: every node typed, or marked `x-kubernetes-int-or-string` (integer or string) or
//! `x-kubernetes-preserve-unknown-fields` (free-form: the chart takes several shapes there);
//! `null` allowed as `nullable`. Objects keep unknown fields (runnerctl reports unknown keys
//! itself, as `apply` does, instead of the API server dropping them silently). Tokens are
//! refused by validation rules: they come from a Secret (`runners.secret`), never the resource.
use serde_json::{Map, Value, json};

/// The API group.
pub const GROUP: &str = "runnerctl.io";
/// The version.
pub const VERSION: &str = "v1alpha1";
/// The kind.
pub const KIND: &str = "GitLabRunner";
/// The plural (the resource).
pub const PLURAL: &str = "gitlabrunners";

/// Keywords of JSON Schema that a structural schema keeps as they are.
const KEPT: &[&str] = &[
    "description",
    "minimum",
    "maximum",
    "pattern",
    "maxLength",
    "minLength",
    "maxProperties",
    "minProperties",
    "maxItems",
    "minItems",
    "format",
];

/// One node of the values schema as a structural schema node.
pub fn structural(node: &Value) -> Value {
    let Some(obj) = node.as_object() else {
        return json!({"x-kubernetes-preserve-unknown-fields": true});
    };
    let mut out = Map::new();
    for k in KEPT {
        if let Some(v) = obj.get(*k) {
            out.insert((*k).to_string(), v.clone());
        }
    }
    let mut types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if let Some(Value::Array(values)) = obj.get("enum") {
        let mut kept: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        if kept.len() != values.len() {
            types.push("null");
        }
        if types.is_empty() && kept.iter().all(Value::is_string) {
            types.push("string");
        }
        kept.dedup();
        out.insert("enum".into(), Value::Array(kept));
    }
    let nullable = types.contains(&"null");
    types.retain(|t| *t != "null");
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    let set: std::collections::BTreeSet<&str> = types.iter().copied().collect();
    let numberish = |t: &&str| *t == "integer" || *t == "number";
    match set.len() {
        1 => {
            let t = *set.iter().next().expect("one type");
            out.insert("type".into(), Value::String(t.to_string()));
            match t {
                "object" => object(obj, &mut out),
                "array" => {
                    let items = obj.get("items").map_or_else(
                        || json!({"x-kubernetes-preserve-unknown-fields": true}),
                        structural,
                    );
                    out.insert("items".into(), items);
                }
                _ => {}
            }
        }
        2 if set.contains("string") && set.iter().any(numberish) => {
            // Kubernetes' own spelling of "an integer or a string" (ports, percentages).
            out.insert("x-kubernetes-int-or-string".into(), Value::Bool(true));
            out.remove("pattern");
            out.remove("maxLength");
            out.remove("minimum");
            out.remove("maximum");
        }
        _ => {
            // Any of several shapes ([] or {}, a string or a map, any scalar): free-form.
            for k in [
                "pattern",
                "maxLength",
                "minimum",
                "maximum",
                "maxProperties",
                "enum",
            ] {
                out.remove(k);
            }
            out.insert(
                "x-kubernetes-preserve-unknown-fields".into(),
                Value::Bool(true),
            );
        }
    }
    Value::Object(out)
}

/// The `properties` / `additionalProperties` of an object node.
fn object(obj: &Map<String, Value>, out: &mut Map<String, Value>) {
    match (obj.get("properties"), obj.get("additionalProperties")) {
        (Some(Value::Object(props)), _) => {
            let props: Map<String, Value> = props
                .iter()
                .map(|(k, v)| (k.clone(), structural(v)))
                .collect();
            out.insert("properties".into(), Value::Object(props));
            // Unknown keys reach runnerctl, which reports them (an API server would drop them).
            out.insert(
                "x-kubernetes-preserve-unknown-fields".into(),
                Value::Bool(true),
            );
        }
        (_, Some(schema @ Value::Object(_))) => {
            out.insert("additionalProperties".into(), structural(schema));
        }
        _ => {
            out.insert(
                "x-kubernetes-preserve-unknown-fields".into(),
                Value::Bool(true),
            );
        }
    }
}

/// `spec.values`: the values schema, translated, with rules that refuse tokens.
pub fn values_schema() -> Value {
    let schema: Value =
        serde_json::from_str(crate::values::VALUES_SCHEMA_JSON).expect("values.schema.json");
    let mut values = structural(&schema);
    values["description"] = json!(
        "The chart's values (values/values.schema.json), as `runnerctl apply -f` takes them. \
         Tokens are never here: put them in a Secret and name it with runners.secret."
    );
    values["x-kubernetes-validations"] = json!([
        {
            "rule": "!has(self.runnerToken) && !has(self.runnerRegistrationToken)",
            "message": "tokens are not allowed in a GitLabRunner: create a Secret with the key runner-token and name it with runners.secret"
        },
        {
            "rule": "!has(self.runnerctl) || !has(self.runnerctl.runnerTokens)",
            "message": "runnerctl.runnerTokens is not allowed in a GitLabRunner: put the tokens in a Secret (keys runner-token-<name>) and name it with runners.secret"
        }
    ]);
    values
}

/// The CustomResourceDefinition of `GitLabRunner`.
pub fn crd() -> Value {
    let value_ref = json!({
        "type": "object",
        "required": ["kind", "name"],
        "properties": {
            "kind": {"type": "string", "enum": ["ConfigMap", "Secret"], "description": "ConfigMap or Secret, in the GitLabRunner's namespace."},
            "name": {"type": "string", "description": "Its name."},
            "key": {"type": "string", "description": "The key holding a values YAML document (default values.yaml)."},
            "optional": {"type": "boolean", "description": "A missing object or key is skipped instead of stalling the runner."}
        }
    });
    let condition = json!({
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "observedGeneration": {"type": "integer", "format": "int64"},
            "lastTransitionTime": {"type": "string", "format": "date-time"}
        }
    });
    let modes: Vec<&str> = crate::render::build_mode::BuildMode::NAMES.to_vec();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{PLURAL}.{GROUP}")},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": format!("{KIND}List"),
                "plural": PLURAL,
                "singular": "gitlabrunner",
                "shortNames": ["glr"],
                "categories": ["runnerctl"]
            },
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                    {"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].reason"},
                    {"name": "Jobs", "type": "integer", "jsonPath": ".status.runningJobs"},
                    {"name": "Revision", "type": "integer", "jsonPath": ".status.lastAppliedRevision"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "A GitLab Runner (Kubernetes executor) that runnerctl's controller keeps installed in this namespace, as `runnerctl apply` would: the release is named like the resource.",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {
                            "type": "object",
                            "properties": {
                                "values": values_schema(),
                                "valuesFrom": {
                                    "type": "array",
                                    "description": "Values from ConfigMaps and Secrets, merged in order after the defaults and before spec.values (as Flux's HelmRelease does).",
                                    "items": value_ref
                                },
                                "buildMode": {"type": "string", "enum": modes, "description": "How CI jobs build images (runnerctl.buildMode)."},
                                "suspend": {"type": "boolean", "description": "Stop reconciling (the objects stay as they are)."}
                            }
                        },
                        "status": {
                            "type": "object",
                            "properties": {
                                "observedGeneration": {"type": "integer", "format": "int64"},
                                "conditions": {"type": "array", "items": condition, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
                                "lastAppliedRevision": {"type": "integer"},
                                "runnerPods": {"type": "integer"},
                                "runningJobs": {"type": "integer"},
                                "tokenExpiresAt": {"type": "string"},
                                "warnings": {"type": "array", "items": {"type": "string"}}
                            }
                        }
                    }
                }}
            }]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_become_structural() {
        assert_eq!(
            structural(&json!({"type": ["string", "null"], "description": "d"})),
            json!({"description": "d", "type": "string", "nullable": true})
        );
        assert_eq!(
            structural(&json!({"type": ["string", "integer", "null"]})),
            json!({"nullable": true, "x-kubernetes-int-or-string": true})
        );
        assert_eq!(
            structural(&json!({"type": ["array", "object"]})),
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(
            structural(&json!({"enum": ["ClusterIP", "NodePort"]})),
            json!({"enum": ["ClusterIP", "NodePort"], "type": "string"})
        );
        assert_eq!(
            structural(&json!({"type": "object", "additionalProperties": {"type": "string"}})),
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        );
    }

    /// Every node of the translated schema is structural: typed, or int-or-string, or
    /// free-form.
    #[test]
    fn the_whole_values_schema_is_structural() {
        fn check(v: &Value, path: &str) {
            let o = v.as_object().unwrap();
            assert!(
                o.contains_key("type")
                    || o.contains_key("x-kubernetes-int-or-string")
                    || o.contains_key("x-kubernetes-preserve-unknown-fields"),
                "{path}: {v}"
            );
            for key in ["$schema", "title", "$ref", "oneOf", "anyOf"] {
                assert!(!o.contains_key(key), "{path}: {key}");
            }
            if let Some(Value::Object(p)) = o.get("properties") {
                for (k, x) in p {
                    check(x, &format!("{path}.{k}"));
                }
            }
            if let Some(items) = o.get("items") {
                check(items, &format!("{path}[]"));
            }
        }
        check(&values_schema(), "values");
        let crd = crd();
        assert_eq!(crd["metadata"]["name"], "gitlabrunners.runnerctl.io");
    }
}
