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

/// The quick pass: `true` when `o` reads as a `T` with no unknown field. `false` says only
/// "look closer": [`full_check`] decides and names the problem.
fn quick_check<T: DeserializeOwned>(o: &Object) -> bool {
    let unknown = std::cell::Cell::new(false);
    let read = T::deserialize(Strict {
        value: &o.value,
        unknown: &unknown,
    });
    read.is_ok() && !unknown.get()
}

/// The full check: unknown fields and wrong types, each named by its path.
fn full_check<T: DeserializeOwned>(o: &Object) -> Result<(), Error> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(field_path(&path));
    // Unknown fields are collected in this pass; a wrong type is read again with its path
    // tracked, for the message.
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

/// A deserialiser of a JSON value like serde_json's own, which also notes when the type being
/// read skips a field it does not know (`deserialize_ignored_any`): the quick pass of
/// [`quick_check`], without the key copies and paths that naming the field needs.
struct Strict<'a> {
    value: &'a Value,
    unknown: &'a std::cell::Cell<bool>,
}

/// Why the quick pass stopped; the full check says what is wrong.
#[derive(Debug)]
struct NotQuick;

impl std::fmt::Display for NotQuick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("check again with paths")
    }
}

impl std::error::Error for NotQuick {}

impl serde::de::Error for NotQuick {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotQuick
    }
}

impl<'a> Strict<'a> {
    fn at(&self, value: &'a Value) -> Self {
        Strict {
            value,
            unknown: self.unknown,
        }
    }
}

impl<'de> serde::Deserializer<'de> for Strict<'de> {
    type Error = NotQuick;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotQuick> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                (None, None, None) => Err(NotQuick),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = Items {
                    items: items.iter(),
                    of: &self,
                };
                let value = visitor.visit_seq(&mut seq)?;
                // Like serde_json: a type that stops early is an error.
                if seq.items.len() == 0 {
                    Ok(value)
                } else {
                    Err(NotQuick)
                }
            }
            Value::Object(map) => {
                let mut entries = Entries {
                    entries: map.iter(),
                    value: None,
                    of: &self,
                };
                let value = visitor.visit_map(&mut entries)?;
                if entries.entries.len() == 0 {
                    Ok(value)
                } else {
                    Err(NotQuick)
                }
            }
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, NotQuick> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_ignored_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, NotQuick> {
        self.unknown.set(true);
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, NotQuick> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, NotQuick> {
        // Not used by the checked types; the full check reads enums.
        Err(NotQuick)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct Items<'s, 'a> {
    items: std::slice::Iter<'a, Value>,
    of: &'s Strict<'a>,
}

impl<'de> serde::de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = NotQuick;

    fn next_element_seed<T: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, NotQuick> {
        self.items
            .next()
            .map(|item| seed.deserialize(self.of.at(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'s, 'a> {
    entries: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
    of: &'s Strict<'a>,
}

impl<'de> serde::de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = NotQuick;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, NotQuick> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(serde::de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, NotQuick> {
        let value = self.value.take().ok_or(NotQuick)?;
        seed.deserialize(self.of.at(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
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
    match checks(o.api_version(), o.kind()) {
        // Most objects are valid: the quick pass says so without naming anything.
        Some((quick, _)) if quick(o) => Ok(()),
        Some((_, full)) => full(o),
        None => Ok(()),
    }
}

/// The quick pass and the full check of an object.
type Checks = (fn(&Object) -> bool, fn(&Object) -> Result<(), Error>);

/// The checks for a kind with a built-in type.
fn checks(api_version: &str, kind: &str) -> Option<Checks> {
    fn of<T: DeserializeOwned>() -> Option<Checks> {
        Some((quick_check::<T>, full_check::<T>))
    }
    match (api_version, kind) {
        ("v1", "Namespace") => of::<core::v1::Namespace>(),
        ("v1", "ServiceAccount") => of::<core::v1::ServiceAccount>(),
        ("v1", "Secret") => of::<core::v1::Secret>(),
        ("v1", "ConfigMap") => of::<core::v1::ConfigMap>(),
        ("v1", "Service") => of::<core::v1::Service>(),
        ("rbac.authorization.k8s.io/v1", "Role") => of::<rbac::v1::Role>(),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => of::<rbac::v1::ClusterRole>(),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => of::<rbac::v1::RoleBinding>(),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            of::<rbac::v1::ClusterRoleBinding>()
        }
        ("apps/v1", "Deployment") => of::<apps::v1::Deployment>(),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            of::<autoscaling::v2::HorizontalPodAutoscaler>()
        }
        ("networking.k8s.io/v1", "Ingress") => of::<networking::v1::Ingress>(),
        _ => None,
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

    /// The quick pass takes every object the examples render, and over these objects with
    /// one change anywhere (an unknown field added to a map, a value replaced by one of
    /// another type), it never passes an object the full check refuses.
    #[test]
    fn the_quick_pass_never_passes_what_the_full_check_refuses() {
        let mut objects = Vec::new();
        for example in [
            include_str!("../../values/examples/seed.yaml"),
            include_str!("../../values/examples/volumes.yaml"),
            include_str!("../../values/examples/scheduling.yaml"),
            include_str!("../../values/examples/root-and-security.yaml"),
            include_str!("../../values/examples/hpa.yaml"),
            include_str!("../../values/examples/session-server.yaml"),
            include_str!("../../values/examples/metrics-service.yaml"),
            include_str!("../../values/examples/extra-objects.yaml"),
            include_str!("../../values/examples/rbac-cluster-wide.yaml"),
            include_str!("../../values/examples/env.yaml"),
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
        let replacements = [
            Value::Null,
            Value::Bool(true),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(4294967296u64),
            serde_json::json!("s"),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!(["s"]),
            serde_json::json!({"k": "v"}),
        ];
        let (mut kinds, mut tried, mut refused) = (0, 0, 0);
        for o in &objects {
            let Some((quick, full)) = checks(o.api_version(), o.kind()) else {
                continue;
            };
            kinds += 1;
            assert!(quick(o), "the quick pass refuses a valid {}", describe(o));
            let mut at = Vec::new();
            places(&o.value, String::new(), &mut at);
            for place in at {
                let mut changed = Vec::new();
                if o.value.pointer(&place).is_some_and(Value::is_object) {
                    let mut c = o.clone();
                    let map = c
                        .value
                        .pointer_mut(&place)
                        .unwrap()
                        .as_object_mut()
                        .unwrap();
                    map.insert("notAField".into(), serde_json::json!(1));
                    changed.push(c);
                }
                if !place.is_empty() {
                    for r in &replacements {
                        let mut c = o.clone();
                        *c.value.pointer_mut(&place).unwrap() = r.clone();
                        changed.push(c);
                    }
                }
                for c in changed {
                    tried += 1;
                    let full_result = full(&c);
                    refused += usize::from(full_result.is_err());
                    assert!(
                        !(quick(&c) && full_result.is_err()),
                        "{place} of {}: the quick pass takes what the full check refuses: {:?}",
                        describe(o),
                        full_result
                    );
                }
            }
        }
        assert!(
            kinds >= 50 && tried > 20_000 && refused > tried / 2,
            "{kinds} {tried} {refused}"
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
