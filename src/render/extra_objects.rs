//! `extraObjects`: objects the user adds as they are, with the template expressions in their
//! strings evaluated (see [`gotmpl`]).
use serde_json::Value;

use super::gotmpl::{self, Scope};
use super::{Error, Object, Release};
use crate::values::path::{self, KeyPath};

/// The most text template expressions in all `extraObjects` may expand to (each string is
/// also bounded by [`gotmpl::MAX_EXPANSION_BYTES`]): many items each quoting a large value
/// cannot add up without bound.
pub const MAX_EXTRA_OBJECTS_EXPANSION_BYTES: usize = 16 * 1024 * 1024;

/// Source name given to objects from `extraObjects`.
pub const EXTRA_OBJECTS_SOURCE: &str = "values: extraObjects";

/// `extraObjects`: each item as given, with template expressions in its strings evaluated.
pub(super) fn extra_objects(release: &Release) -> Result<Vec<Object>, Error> {
    let values = release.values.as_json();
    let Some(Value::Array(items)) = path::lookup(values, "extraObjects") else {
        return Ok(Vec::new());
    };
    let scope = Scope {
        release_name: &release.name,
        release_namespace: &release.namespace,
        values,
    };
    let mut budget = MAX_EXTRA_OBJECTS_EXPANSION_BYTES;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| extra_object(i, item, &scope, &mut budget))
        .collect()
}

/// Evaluate the template expressions of one string of `extraObjects`, charging its length to
/// the budget of all of them.
fn evaluate(
    key: &KeyPath,
    text: &str,
    scope: &Scope<'_>,
    budget: &mut usize,
) -> Result<String, Error> {
    let out = gotmpl::evaluate(&key.to_string(), text, scope)?.text;
    *budget = budget
        .checked_sub(out.len())
        .ok_or_else(|| Error::InvalidValue {
            key: key.to_string(),
            message: format!(
                "extraObjects expand to more than {MAX_EXTRA_OBJECTS_EXPANSION_BYTES} bytes in all \
             (MAX_EXTRA_OBJECTS_EXPANSION_BYTES); refer to large values fewer times"
            ),
        })?;
    Ok(out)
}

/// One item of `extraObjects` (at index `i`): YAML text or a map, checked to be an object.
fn extra_object(
    i: usize,
    item: &Value,
    scope: &Scope<'_>,
    budget: &mut usize,
) -> Result<Object, Error> {
    let mut key = KeyPath::default();
    key.push_key("extraObjects");
    key.push_index(i);
    let value = match item {
        Value::String(text) => {
            let text = evaluate(&key, text, scope, budget)?;
            crate::values::parse_document(&text).map_err(|(line, column, message)| {
                Error::InvalidValue {
                    key: format!("{key}:{line}:{column}"),
                    message: format!("not YAML: {message}"),
                }
            })?
        }
        other => expand_strings(other, &mut key, scope, budget)?,
    };
    let invalid = |message: String| Error::InvalidValue {
        key: key.to_string(),
        message,
    };
    let Value::Object(mut map) = value else {
        return Err(invalid(
            "must be a Kubernetes object (a map with apiVersion, kind, metadata.name)".into(),
        ));
    };
    for field in ["apiVersion", "kind"] {
        if !map.get(field).is_some_and(Value::is_string) {
            return Err(invalid(format!("{field} is missing")));
        }
    }
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(invalid("metadata.name is missing".into()));
    }
    Ok(Object {
        source: EXTRA_OBJECTS_SOURCE.to_string(),
        value: Value::Object(map),
    })
}

/// A copy of `v` with the template expressions in its strings evaluated; `key` is the path
/// of `v` in the values, which errors name (`extraObjects[0].metadata.name:1:4: ...`).
fn expand_strings(
    v: &Value,
    key: &mut KeyPath,
    scope: &Scope<'_>,
    budget: &mut usize,
) -> Result<Value, Error> {
    Ok(match v {
        Value::String(s) if s.contains("{{") => Value::String(evaluate(key, s, scope, budget)?),
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, x) in a.iter().enumerate() {
                key.push_index(i);
                out.push(expand_strings(x, key, scope, budget)?);
                key.pop();
            }
            Value::Array(out)
        }
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                key.push_key(k);
                out.insert(k.clone(), expand_strings(x, key, scope, budget)?);
                key.pop();
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Values;
    use serde_json::json;

    fn release(extra: Value) -> Release {
        Release {
            name: "rel".into(),
            namespace: "ns".into(),
            values: Values::from_json(json!({ "extraObjects": extra, "x": "y" })),
            create_namespace: false,
            api_versions: vec![],
        }
    }

    #[test]
    fn strings_and_maps_are_evaluated() {
        let objects = extra_objects(&release(json!([
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-a\n",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Values.x }}"}},
        ])))
        .unwrap();
        let names: Vec<&str> = objects.iter().map(|o| o.name()).collect();
        assert_eq!(names, ["rel-a", "y"]);
        assert!(objects.iter().all(|o| o.source == EXTRA_OBJECTS_SOURCE));
    }

    #[test]
    fn all_items_together_are_bounded() {
        let big = "x".repeat(1024 * 1024);
        let item = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"a": "{{ .Values.big }}{{ .Values.big }}"}});
        let items: Vec<Value> = std::iter::repeat_n(item, 9).collect();
        let r = Release {
            values: Values::from_json(json!({ "extraObjects": items, "big": big })),
            ..release(json!([]))
        };
        let e = extra_objects(&r).unwrap_err().to_string();
        assert!(e.starts_with("extraObjects[8].data.a:"), "{e}");
        assert!(e.contains("MAX_EXTRA_OBJECTS_EXPANSION_BYTES"), "{e}");
    }

    #[test]
    fn errors_name_the_item_and_place() {
        let err = extra_objects(&release(json!(["a: 1\nb: 2\nc: x{{ include }}"]))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("extraObjects[0]:3:5: unsupported"),
            "{err}"
        );
        let err = extra_objects(&release(json!([
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Nope }}"}}
        ])))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("extraObjects[0].metadata.name:1:1: unsupported"),
            "{err}"
        );
        let err = extra_objects(&release(json!([{"kind": "ConfigMap"}]))).unwrap_err();
        assert_eq!(err.to_string(), "extraObjects[0]: apiVersion is missing");
    }
}
