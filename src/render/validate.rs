//! Post-render checks: each object of a known kind must deserialise into its k8s-openapi type
//! without unknown fields, so a typo in a user's `affinity` is caught before any cluster sees it.
use k8s_openapi::api::{apps, autoscaling, core, networking, rbac};
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

/// A field's path as the other messages write it, `spec.volumes[3].hostPth` (serde_ignored's
/// own form is `spec.?.volumes.?.3.hostPth`: a `?` for every optional level).
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    fn write(path: &serde_ignored::Path<'_>, out: &mut String) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                write(parent, out);
                out.push_str(&format!("[{index}]"));
            }
            Path::Map { parent, key } => {
                write(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => write(parent, out),
        }
    }
    let mut out = String::new();
    write(path, &mut out);
    out
}

fn check_as<T: DeserializeOwned>(o: &Object) -> Result<(), Error> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(field_path(&path));
    // Most objects are valid: check without tracking the path, and only when that fails
    // again with it, for the message.
    let result: Result<T, _> = serde_ignored::deserialize(&o.value, &mut record);
    if result.is_err() {
        let mut skip = |_: serde_ignored::Path<'_>| {};
        let ignoring = serde_ignored::Deserializer::new(&o.value, &mut skip);
        if let Err(e) = serde_path_to_error::deserialize::<_, T>(ignoring) {
            return Err(Error::Schema {
                object: describe(o),
                message: format!("{}: {}", e.path(), without_value(&e.inner().to_string())),
            });
        }
    }
    if !unknown.is_empty() {
        let fields = unknown
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::Schema {
            object: describe(o),
            message: format!(
                "unknown field{} {fields} (not part of {} {}); check the spelling in your values",
                if unknown.len() > 1 { "s" } else { "" },
                o.api_version(),
                o.kind()
            ),
        });
    }
    Ok(())
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
    match (o.api_version(), o.kind()) {
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
        _ => Ok(()),
    }
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
