//! Post-render checks: each object of a known kind must deserialise into its k8s-openapi type
//! without unknown fields, so a typo in a user's `affinity` is caught before any cluster sees it.
use k8s_openapi::api::{apps, autoscaling, core, networking, rbac};
use std::cell::RefCell;

use serde::de::{self, DeserializeOwned, Visitor};
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

/// Read `o` as a `T`: unknown fields and wrong types, each named by its path.
fn check_as<T: DeserializeOwned>(o: &Object) -> Result<(), Error> {
    // Most objects are valid: a first read without the path says so.
    let quick = Seen {
        blank: true,
        ..Seen::new(false)
    };
    let read = T::deserialize(Strict::new(&o.value, &quick)).is_ok();
    if read && !quick.skipped.get() {
        return Ok(());
    }
    // A wrong type: read again through serde_path_to_error, for its path.
    if !read
        && let Err(e) =
            serde_path_to_error::deserialize::<_, T>(Strict::new(&o.value, &Seen::new(false)))
    {
        return Err(Error::Schema {
            object: describe(o),
            message: format!("{}: {}", e.path(), without_value(&e.inner().to_string())),
        });
    }
    // Unknown fields: read again tracking the path, to name them.
    let seen = Seen::new(true);
    let _ = T::deserialize(Strict::new(&o.value, &seen));
    let unknown = seen.unknown.take();
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

/// What a [`Strict`] read met: whether the type skipped a field, and, when the path is
/// tracked, where.
struct Seen<'a> {
    /// Track the path (for messages) or only note that a field was skipped.
    track: bool,
    /// A field was skipped.
    skipped: std::cell::Cell<bool>,
    /// The keys and indices from the object to the value being read, when tracked.
    path: RefCell<Vec<Step<'a>>>,
    /// The paths of the fields the type skipped, as the messages write them, when tracked.
    unknown: RefCell<Vec<String>>,
    /// Give plain `String`s an empty text (see [`plain_string`]); not for serde_path_to_error,
    /// which reads the keys it names through the same visitors.
    blank: bool,
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl Seen<'_> {
    fn new(track: bool) -> Self {
        Seen {
            track,
            skipped: std::cell::Cell::new(false),
            path: RefCell::new(Vec::new()),
            unknown: RefCell::new(Vec::new()),
            blank: false,
        }
    }

    /// The current path as the other messages write it: `spec.volumes[3].hostPth`.
    fn path(&self) -> String {
        let mut out = String::new();
        for step in self.path.borrow().iter() {
            match step {
                Step::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// A deserialiser of a JSON value like serde_json's own, which also notes each field the type
/// being read skips because it does not know it (`deserialize_ignored_any`), with its path if
/// asked. Keys are borrowed from the value, so checking a valid object costs little more than
/// reading it.
struct Strict<'a> {
    value: &'a Value,
    seen: &'a Seen<'a>,
    /// The key this value sits under (`""` at the top and in lists).
    key: &'a str,
}

/// A deserialisation error: serde's message for it (`invalid type: ...`).
#[derive(Debug)]
struct Invalid(String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

impl serde::de::Error for Invalid {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Invalid(message.to_string())
    }

    // As serde_json words them: a JSON `null` is "null", not serde's "unit".
    fn invalid_type(found: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Invalid(format!(
            "invalid type: {}, expected {expected}",
            json_word(found)
        ))
    }

    fn invalid_value(found: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Invalid(format!(
            "invalid value: {}, expected {expected}",
            json_word(found)
        ))
    }
}

/// What a JSON value is called in a message.
fn json_word(found: de::Unexpected<'_>) -> String {
    match found {
        de::Unexpected::Unit => "null".into(),
        other => other.to_string(),
    }
}

impl<'a> Strict<'a> {
    fn new(value: &'a Value, seen: &'a Seen<'a>) -> Self {
        Strict {
            value,
            seen,
            key: "",
        }
    }

    /// Read `value`, one `step` below this one.
    fn below<T>(
        &self,
        step: Step<'a>,
        value: &'a Value,
        read: impl FnOnce(Strict<'a>) -> Result<T, Invalid>,
    ) -> Result<T, Invalid> {
        let at = Strict {
            value,
            seen: self.seen,
            key: match step {
                Step::Key(key) => key,
                Step::Index(_) => "",
            },
        };
        if !self.seen.track {
            return read(at);
        }
        self.seen.path.borrow_mut().push(step);
        let result = read(at);
        self.seen.path.borrow_mut().pop();
        result
    }
}

impl<'de> serde::Deserializer<'de> for Strict<'de> {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                (None, None, None) => Err(Invalid("a number that is no u64, i64 or f64".into())),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = Items {
                    items: items.iter().enumerate(),
                    of: &self,
                };
                let value = visitor.visit_seq(&mut seq)?;
                // Like serde_json: a type that stops early is an error.
                match seq.items.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(
                        items.len(),
                        &"fewer elements in array",
                    )),
                }
            }
            Value::Object(map) => {
                let mut entries = Entries {
                    entries: map.iter(),
                    value: None,
                    of: &self,
                };
                let value = visitor.visit_map(&mut entries)?;
                match entries.entries.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::invalid_length(
                        map.len(),
                        &"fewer elements in map",
                    )),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        self.seen.skipped.set(true);
        if self.seen.track {
            self.seen.unknown.borrow_mut().push(self.seen.path());
        }
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Invalid> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Invalid> {
        // The checked Kubernetes types have no enums (their enumerations are strings).
        Err(Invalid(format!("cannot check the enum {name}")))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        match self.value {
            // A resource's type compares its apiVersion and kind with its own.
            Value::String(_)
                if self.seen.blank
                    && !matches!(self.key, "apiVersion" | "kind")
                    && plain_string(&visitor) =>
            {
                visitor.visit_borrowed_str("")
            }
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// Whether `visitor` is the one of a plain `String` (serde's says it expects "a string"). Any
/// text is a valid `String`, and the check only needs to know that one is there: such a
/// visitor is given an empty string, so the check copies no text. Every other visitor (a
/// timestamp, base64 bytes, a field name) gets the text itself, and so do `apiVersion` and
/// `kind`, which a resource's type compares with its own; the test against the reference
/// replaces every string with another to catch any other field whose text a type reads.
fn plain_string<'de, V: Visitor<'de>>(visitor: &V) -> bool {
    use std::fmt::Write;
    /// Compares what is written with `rest`, piece by piece, without allocating.
    struct Expect(&'static str);
    impl Write for Expect {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 = self.0.strip_prefix(s).ok_or(std::fmt::Error)?;
            Ok(())
        }
    }
    let mut expect = Expect("a string");
    write!(expect, "{}", visitor as &dyn de::Expected).is_ok() && expect.0.is_empty()
}

/// A map key: its text, or (when `blank`) an empty string for a plain `String` key (see
/// [`plain_string`]).
struct Key<'a> {
    text: &'a str,
    blank: bool,
}

impl<'de> serde::Deserializer<'de> for Key<'de> {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_borrowed_str(self.text)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        let text = if self.blank && plain_string(&visitor) {
            ""
        } else {
            self.text
        };
        visitor.visit_borrowed_str(text)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

struct Items<'s, 'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    of: &'s Strict<'a>,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = Invalid;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Invalid> {
        let Some((i, item)) = self.items.next() else {
            return Ok(None);
        };
        self.of
            .below(Step::Index(i), item, |at| seed.deserialize(at))
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'s, 'a> {
    entries: serde_json::map::Iter<'a>,
    /// The key and value of the entry whose key was read last.
    value: Option<(&'a str, &'a Value)>,
    of: &'s Strict<'a>,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = Invalid;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Invalid> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        seed.deserialize(Key {
            text: key,
            blank: self.of.seen.blank,
        })
        .map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Invalid> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| Invalid("a value read before its key".into()))?;
        self.of
            .below(Step::Key(key), value, |at| seed.deserialize(at))
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
    with_type(o, Check).unwrap_or(Ok(()))
}

/// Something done with an object as its Kubernetes type.
trait WithType {
    type Out;
    fn with<T: DeserializeOwned>(self, o: &Object) -> Self::Out;
}

/// [`check_as`] as a [`WithType`].
struct Check;

impl WithType for Check {
    type Out = Result<(), Error>;
    fn with<T: DeserializeOwned>(self, o: &Object) -> Self::Out {
        check_as::<T>(o)
    }
}

/// `w` done with `o`'s built-in type; `None` for kinds without one.
fn with_type<W: WithType>(o: &Object, w: W) -> Option<W::Out> {
    Some(match (o.api_version(), o.kind()) {
        ("v1", "Namespace") => w.with::<core::v1::Namespace>(o),
        ("v1", "ServiceAccount") => w.with::<core::v1::ServiceAccount>(o),
        ("v1", "Secret") => w.with::<core::v1::Secret>(o),
        ("v1", "ConfigMap") => w.with::<core::v1::ConfigMap>(o),
        ("v1", "Service") => w.with::<core::v1::Service>(o),
        ("rbac.authorization.k8s.io/v1", "Role") => w.with::<rbac::v1::Role>(o),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => w.with::<rbac::v1::ClusterRole>(o),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => w.with::<rbac::v1::RoleBinding>(o),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            w.with::<rbac::v1::ClusterRoleBinding>(o)
        }
        ("apps/v1", "Deployment") => w.with::<apps::v1::Deployment>(o),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => {
            w.with::<autoscaling::v2::HorizontalPodAutoscaler>(o)
        }
        ("networking.k8s.io/v1", "Ingress") => w.with::<networking::v1::Ingress>(o),
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

    /// The check as it was written with serde_ignored (every key copied to track the path)
    /// and serde_path_to_error over it: the reference for [`check_as`].
    struct Reference;

    impl WithType for Reference {
        type Out = Result<(), Error>;
        fn with<T: DeserializeOwned>(self, o: &Object) -> Self::Out {
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
            let mut unknown = Vec::new();
            let mut record = |path: serde_ignored::Path<'_>| {
                let mut p = String::new();
                field_path(&path, &mut p);
                unknown.push(p);
            };
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
            if unknown.is_empty() {
                return Ok(());
            }
            let fields = unknown.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>();
            Err(Error::Schema {
                object: describe(o),
                message: format!(
                    "unknown field{} {} (not part of {} {}); check the spelling in your values",
                    if unknown.len() > 1 { "s" } else { "" },
                    fields.join(", "),
                    o.api_version(),
                    o.kind()
                ),
            })
        }
    }

    /// Over the objects the examples render, each with one change anywhere (an unknown field
    /// added to a map, a value replaced by one of another type), the check gives what the
    /// reference gives: the same verdict and the same message.
    #[test]
    fn the_check_agrees_with_the_serde_ignored_reference() {
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
            if with_type(o, Check).is_none() {
                continue;
            }
            kinds += 1;
            assert!(check(o).is_ok(), "{} is valid", describe(o));
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
                    // A changed apiVersion or kind may leave no type to check: both `None`.
                    let ours = with_type(&c, Check).map(|r| r.map_err(|e| e.to_string()));
                    let reference = with_type(&c, Reference).map(|r| r.map_err(|e| e.to_string()));
                    refused += usize::from(matches!(reference, Some(Err(_))));
                    assert_eq!(ours, reference, "{place} of {}", describe(o));
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
