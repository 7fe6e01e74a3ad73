//! values/values.schema.json and values/values.yaml describe the same keys, every key has a
//! description, the defaults and every example validate, and `{}` where a list belongs renders
//! like `[]` (values exported from Rancher).
use std::collections::BTreeSet;

use runnerctl::values::{DEFAULT_VALUES_YAML, VALUES_SCHEMA_JSON, ValuesBuilder};
use runnerctl::{Release, render};
use serde_json::Value;

use crate::support;

fn schema() -> Value {
    serde_json::from_str(VALUES_SCHEMA_JSON).expect("the schema is JSON")
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str::<Value>(text).expect("YAML")
}

/// Walks a values map and the schema node describing it side by side: where values.yaml has a
/// non-empty map, its keys and the node's properties must be the same set; every property the
/// schema has (also below keys whose default is `{}` or null) must have a description.
fn compare(values: &Value, node: &Value, path: &str, problems: &mut Vec<String>) {
    let props = node.get("properties").and_then(Value::as_object);
    if let Some(props) = props {
        for (k, sub) in props {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let described = sub.get("description").and_then(Value::as_str);
            if described.is_none_or(str::is_empty) {
                problems.push(format!("{here}: no description in the schema"));
            }
            let child = values.get(k).unwrap_or(&Value::Null);
            compare(child, sub, &here, problems);
        }
    }
    let Some(map) = values.as_object().filter(|m| !m.is_empty()) else {
        return;
    };
    let in_values: BTreeSet<&str> = map.keys().map(String::as_str).collect();
    let in_schema: BTreeSet<&str> = props
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    for k in in_schema.difference(&in_values) {
        problems.push(format!("{}: in the schema, not in values.yaml", join(k)));
    }
    for k in in_values.difference(&in_schema) {
        problems.push(format!("{}: in values.yaml, not in the schema", join(k)));
    }
}

#[test]
fn values_yaml_and_the_schema_have_the_same_keys() {
    let mut problems = Vec::new();
    compare(&yaml(DEFAULT_VALUES_YAML), &schema(), "", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_comparison_catches_a_missing_key_either_way() {
    let mut problems = Vec::new();
    let mut values = yaml(DEFAULT_VALUES_YAML);
    values["sessionServer"]["newKey"] = Value::Bool(true);
    values["image"].as_object_mut().unwrap().remove("tag");
    compare(&values, &schema(), "", &mut problems);
    assert_eq!(
        problems,
        [
            "image.tag: in the schema, not in values.yaml",
            "sessionServer.newKey: in values.yaml, not in the schema"
        ]
    );
}

#[test]
fn the_defaults_and_every_example_validate() {
    let validator = jsonschema::draft7::new(&schema()).expect("a valid draft-07 schema");
    let mut files = vec![support::root().join("values/values.yaml")];
    let mut examples: Vec<_> = std::fs::read_dir(support::root().join("values/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 10, "{examples:?}");
    files.extend(examples);
    for file in files {
        let value = yaml(&std::fs::read_to_string(&file).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn keys_the_chart_ignores_are_no_schema_errors() {
    // Rancher's `global`, keys of older chart versions: warnings, never errors.
    let (_, warnings) = ValuesBuilder::new()
        .values_file(
            "old.yaml",
            "global:\n  cattle:\n    systemProjectId: p-x\nrunners:\n  image: ubuntu:22.04\n  cache:\n    cacheType: s3\n",
        )
        .build()
        .expect("unknown keys are not schema errors");
    assert_eq!(warnings.len(), 3, "{warnings:?}");
}

fn release(values_yaml: &str) -> String {
    let (values, _) = ValuesBuilder::new()
        .set("gitlabUrl=https://gitlab.example.com,runnerToken=glrt-x")
        .values_file("v.yaml", values_yaml)
        .build()
        .expect("values build");
    let release = Release {
        name: "gitlab-runner".into(),
        namespace: "ci".into(),
        values,
        create_namespace: false,
        api_versions: Vec::new(),
    };
    render(&release)
        .expect("renders")
        .to_text(runnerctl::render::OutputFormat::Yaml, true)
}

#[test]
fn an_empty_map_where_a_list_belongs_is_an_empty_list() {
    let lists = [
        "imagePullSecrets",
        "tolerations",
        "topologySpreadConstraints",
        "hostAliases",
        "envVars",
        "extraEnvFromRefs",
        "secrets",
        "volumeMounts",
        "volumes",
        "extraContainers",
        "extraObjects",
    ];
    let as_maps: String = lists.iter().map(|k| format!("{k}: {{}}\n")).collect();
    let as_lists: String = lists.iter().map(|k| format!("{k}: []\n")).collect();
    let nested = "rbac:\n  create: true\n  rules: {}\nserviceAccount:\n  imagePullSecrets: {}\n\
                  sessionServer:\n  loadBalancerSourceRanges: {}\n  ingress:\n    tls: {}\n\
                  service:\n  externalIPs: {}\n  additionalPorts: {}\n";
    let plain = release("rbac:\n  create: true\n");
    assert_eq!(release(&as_maps), release(""));
    assert_eq!(release(&as_lists), release(""));
    assert_eq!(release(nested), plain);
    // Over the defaults and over a list from an earlier file alike.
    let (values, _) = ValuesBuilder::new()
        .values_file("a.yaml", "tolerations:\n  - key: a\n    operator: Exists\n")
        .values_file(
            "b.yaml",
            "tolerations: {}\nhpa:\n  maxReplicas: 3\n  metrics: {}\n",
        )
        .build()
        .unwrap();
    assert_eq!(values.get("tolerations"), Some(&serde_json::json!([])));
    assert_eq!(values.get("hpa.metrics"), Some(&serde_json::json!([])));
    // A map that is not empty is still an error for a list.
    let err = ValuesBuilder::new()
        .values_file("c.yaml", "\nvolumes:\n  name: x\n")
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "values file c.yaml:3:3: volumes: expected a list (default []), got a map"
    );
}
