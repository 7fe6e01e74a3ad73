//! Post-render checks: each object of a known kind must deserialise into its k8s-openapi type
//! without unknown fields, so a typo in a user's `affinity` is caught before any cluster sees it.
use k8s_openapi::api::{apps, autoscaling, core, networking, policy, rbac};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Error, Object};

/// `Kind/namespace/name` (or `Kind/name` for cluster-scoped objects).
pub fn describe(o: &Object) -> String {
    crate::object::ObjectRef::of(&o.value).to_string()
}

/// A deserialisation error without the value that caused it (values may hold secrets):
/// `invalid type: string "...", expected i32` becomes `invalid type: a string, expected i32`.
fn without_value(message: &str) -> String {
    for head in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(head)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            let kind = found.split_whitespace().next().unwrap_or(found);
            let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            return format!("{head}{article} {kind}, expected {expected}");
        }
    }
    message.to_string()
}

/// Read `o` as a `T`: a wrong type, else the unknown fields, each named by its path. The
/// fields the type skips are reported by serde_ignored; only a value of a wrong type is read
/// again, through serde_path_to_error, for its path. (A hand-written deserializer beside
/// them was 0.07 M instructions, about 12 µs, a render faster: nothing a user notices.)
fn check_as<T: DeserializeOwned>(o: &Object) -> Result<(), Error> {
    let mut unknown = Vec::new();
    let read: Result<T, _> = serde_ignored::deserialize(&o.value, |path| {
        let mut p = String::new();
        field_path(&path, &mut p);
        unknown.push(p);
    });
    let mut skip = |_: serde_ignored::Path<'_>| {};
    if read.is_err()
        && let Err(e) = serde_path_to_error::deserialize::<_, T>(serde_ignored::Deserializer::new(
            &o.value, &mut skip,
        ))
    {
        return Err(Error::Schema {
            object: describe(o),
            message: format!("{}: {}", e.path(), without_value(&e.inner().to_string())),
        });
    }
    if unknown.is_empty() {
        return Ok(());
    }
    let fields = unknown
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::Schema {
        object: describe(o),
        message: format!(
            "unknown field{} {fields} (not part of {} {}); check the spelling in your values",
            if unknown.len() > 1 { "s" } else { "" },
            o.api_version(),
            o.kind()
        ),
    })
}

/// A field's path as the other messages write it: `spec.volumes[3].hostPth`.
fn field_path(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            field_path(parent, out);
            out.push_str(&format!("[{index}]"));
        }
        Path::Map { parent, key } => {
            field_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent, out),
    }
}

/// Check one object against its schema; kinds without a built-in type get a shape check only.
pub fn check(o: &Object) -> Result<(), Error> {
    if !o.value.is_object()
        || o.api_version().is_empty()
        || o.kind().is_empty()
        || o.name().is_empty()
    {
        return Err(Error::Object {
            template: o.source.clone(),
            message: "an object needs apiVersion, kind and metadata.name".into(),
        });
    }
    if let Some(Value::Object(labels)) = crate::object::pointer(&o.value, "/metadata/labels") {
        for (k, v) in labels {
            if !v.is_string() {
                return Err(Error::Schema {
                    object: describe(o),
                    message: format!(
                        "label {k} must be a string, got {v}; quote it in your values"
                    ),
                });
            }
        }
    }
    check_typed(o).unwrap_or(Ok(()))
}

/// [`check_as`] with `o`'s built-in type; `None` for kinds without one.
fn check_typed(o: &Object) -> Option<Result<(), Error>> {
    Some(match (o.api_version(), o.kind()) {
        ("v1", "Namespace") => check_as::<core::v1::Namespace>(o),
        ("v1", "ServiceAccount") => check_as::<core::v1::ServiceAccount>(o),
        ("v1", "Secret") => check_as::<core::v1::Secret>(o),
        ("v1", "ConfigMap") => check_as::<core::v1::ConfigMap>(o),
        ("v1", "Service") => check_as::<core::v1::Service>(o),
        ("rbac.authorization.k8s.io/v1", "Role") => check_as::<rbac::v1::Role>(o),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => check_as::<rbac::v1::ClusterRole>(o),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => check_as::<rbac::v1::RoleBinding>(o),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            check_as::<rbac::v1::ClusterRoleBinding>(o)
        }
        ("apps/v1", "Deployment") => check_as::<apps::v1::Deployment>(o),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            check_as::<autoscaling::v2::HorizontalPodAutoscaler>(o)
        }
        ("networking.k8s.io/v1", "Ingress") => check_as::<networking::v1::Ingress>(o),
        ("policy/v1", "PodDisruptionBudget") => check_as::<policy::v1::PodDisruptionBudget>(o),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named_by_their_path() {
        let o = Object {
            source: "t".into(),
            value: serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "namespace": "n", "labelz": {}},
                "spec": {"selector": {}, "template": {"spec": {"containers": [],
                    "volumes": [{"name": "a"}, {"name": "b", "hostPth": {}}]}}}}),
        };
        assert_eq!(
            check(&o).unwrap_err().to_string(),
            "Deployment/n/d: unknown fields `metadata.labelz`, `spec.template.spec.volumes[1].hostPth` \
             (not part of apps/v1 Deployment); check the spelling in your values"
        );
    }

    /// Every place in `v` as a JSON pointer, the root first.
    fn places(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    places(
                        x,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    places(x, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// Over the objects the examples render (every one valid), a field added to any map is
    /// reported by its path, unless the map takes any keys (labels, data, selectors...); and
    /// a value replaced by one of another type anywhere is refused by its path or taken.
    #[test]
    fn unknown_fields_and_wrong_types_are_named_by_their_path() {
        let mut objects = Vec::new();
        for example in [
            include_str!("../../values/examples/seed.yaml"),
            include_str!("../../values/examples/volumes.yaml"),
            include_str!("../../values/examples/scheduling.yaml"),
            include_str!("../../values/examples/session-server.yaml"),
            include_str!("../../values/examples/metrics-service.yaml"),
            include_str!("../../values/examples/rbac-cluster-wide.yaml"),
        ] {
            let (values, _) = crate::ValuesBuilder::new()
                .values_file("example.yaml", example)
                .build()
                .unwrap();
            let release = crate::Release {
                name: "r".into(),
                namespace: "ns".into(),
                values,
                create_namespace: true,
                api_versions: vec![],
            };
            objects.extend(crate::render(&release).unwrap().objects);
        }
        let (mut unknown, mut wrong) = (0, 0);
        for o in objects.iter().filter(|o| check_typed(o).is_some()) {
            assert!(check(o).is_ok(), "{} is valid", describe(o));
            let mut at = Vec::new();
            places(&o.value, String::new(), &mut at);
            for place in at {
                // The place as the messages write it: `spec.volumes[1].name`.
                let mut path = String::new();
                for step in place.split('/').skip(1) {
                    match step.parse::<usize>() {
                        Ok(i) => path.push_str(&format!("[{i}]")),
                        Err(_) if path.is_empty() => path.push_str(step),
                        Err(_) => path.push_str(&format!(".{step}")),
                    }
                }
                let mut c = o.clone();
                let value = c.value.pointer_mut(&place).unwrap();
                if let Some(map) = value.as_object_mut() {
                    map.insert("notAField".into(), serde_json::json!("glrt-SECRET"));
                    if let Err(e) = check(&c) {
                        let e = e.to_string();
                        let field = if path.is_empty() {
                            "notAField".into()
                        } else {
                            format!("{path}.notAField")
                        };
                        // Unknown, or in a map of other values (a Secret's base64 data).
                        let named = e.contains(&format!("`{field}`"));
                        assert!(named || e.contains(&format!("{field}: ")), "{e}");
                        assert!(!e.contains("glrt-SECRET"), "{e}");
                        unknown += usize::from(named);
                    }
                } else if !place.is_empty() && !value.is_string() {
                    *value = serde_json::json!("glrt-SECRET");
                    if let Err(e) = check(&c) {
                        let e = e.to_string();
                        assert!(
                            e.contains(&format!("{path}: invalid type: a string")),
                            "{e}"
                        );
                        assert!(!e.contains("glrt-SECRET"), "{e}");
                        wrong += 1;
                    }
                }
            }
        }
        assert!(unknown > 100 && wrong > 100, "{unknown} {wrong}");
    }

    #[test]
    fn errors_name_the_field_not_the_value() {
        let o = Object {
            source: "t".into(),
            value: serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "namespace": "n"},
                "spec": {"replicas": "glrt-SECRET", "selector": {}, "template": {}}}),
        };
        let e = check(&o).unwrap_err().to_string();
        assert_eq!(
            e,
            "Deployment/n/d: spec.replicas: invalid type: a string, expected i32"
        );
        assert_eq!(without_value("missing field `x`"), "missing field `x`");
        assert_eq!(
            without_value("invalid value: integer `-1`, expected u16"),
            "invalid value: an integer, expected u16"
        );
    }
}
