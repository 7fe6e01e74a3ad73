//! Printing a manifest: multi-document YAML with `# Source:` lines, or JSON; secrets masked.
use serde_json::Value;

use super::Manifest;

/// What masked secret values are shown as.
pub const MASK: &str = "***";

/// Output formats of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Multi-document YAML with a `# Source: <template>` line before each object.
    #[default]
    Yaml,
    /// One JSON `v1/List` object.
    Json,
}

/// The annotation in which `kubectl apply` keeps the last applied object (for a Secret, with
/// its values).
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Where a Secret holds secret values: (JSON pointer of a map, the one key in it or `None` for
/// every key).
const SECRET_PLACES: [(&str, Option<&str>); 3] = [
    ("/data", None),
    ("/stringData", None),
    ("/metadata/annotations", Some(LAST_APPLIED_ANNOTATION)),
];

/// Replace every secret value of a Secret with what `mask` returns; other kinds are left as
/// they are.
///
/// The places are the entries of `data` and `stringData` and the
/// [`LAST_APPLIED_ANNOTATION`] annotation. `mask` gets the JSON pointer of the map
/// (`/data`, `/stringData` or `/metadata/annotations`), the key in it and the old value.
///
/// ```
/// use runnerctl::render::mask_secret_values;
/// use serde_json::json;
///
/// let mut secret = json!({"kind": "Secret", "data": {"runner-token": "Z2xydC0x"}});
/// mask_secret_values(&mut secret, |map, key, _old| json!(format!("<{map} {key}>")));
/// assert_eq!(secret["data"]["runner-token"], "</data runner-token>");
/// ```
pub fn mask_secret_values(obj: &mut Value, mut mask: impl FnMut(&str, &str, &Value) -> Value) {
    if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    for (ptr, only) in SECRET_PLACES {
        if let Some(Value::Object(map)) = obj.pointer_mut(ptr) {
            for (key, value) in map.iter_mut() {
                if only.is_none_or(|k| k == key) {
                    *value = mask(ptr, key, value);
                }
            }
        }
    }
}

/// A copy of `value` with each secret value of a Secret (see [`mask_secret_values`]) replaced
/// by [`MASK`].
pub fn mask_secret(value: &Value) -> Value {
    let mut v = value.clone();
    mask_secret_values(&mut v, |_, _, _| Value::String(MASK.into()));
    v
}

impl Manifest {
    /// Render the manifest as text; Secret values are masked unless `show_secrets`.
    pub fn to_text(&self, format: OutputFormat, show_secrets: bool) -> String {
        let shown: Vec<Value> = self
            .objects
            .iter()
            .map(|o| {
                if show_secrets {
                    o.value.clone()
                } else {
                    mask_secret(&o.value)
                }
            })
            .collect();
        match format {
            OutputFormat::Json => {
                let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": shown});
                let mut s = serde_json::to_string_pretty(&list).unwrap_or_default();
                s.push('\n');
                s
            }
            OutputFormat::Yaml => {
                let mut out = String::new();
                for (o, v) in self.objects.iter().zip(&shown) {
                    out.push_str("---\n# Source: ");
                    out.push_str(&o.source);
                    out.push('\n');
                    super::yaml::write_document(&mut out, v);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_secret_place_is_visited_once_and_nothing_else() {
        let mut secret = json!({
            "kind": "Secret",
            "metadata": {"name": "s", "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "note": "keep"}},
            "data": {"a": "YQ==", "b": "Yg=="},
            "stringData": {"c": "c"},
            "type": "Opaque",
        });
        let mut seen = Vec::new();
        mask_secret_values(&mut secret, |map, key, old| {
            seen.push(format!("{map} {key} {old}"));
            json!("x")
        });
        seen.sort();
        assert_eq!(
            seen,
            [
                "/data a \"YQ==\"",
                "/data b \"Yg==\"",
                format!("/metadata/annotations {LAST_APPLIED_ANNOTATION} \"{{...}}\"").as_str(),
                "/stringData c \"c\"",
            ]
        );
        assert_eq!(
            secret,
            json!({
                "kind": "Secret",
                "metadata": {"name": "s", "annotations": {LAST_APPLIED_ANNOTATION: "x", "note": "keep"}},
                "data": {"a": "x", "b": "x"},
                "stringData": {"c": "x"},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn other_kinds_are_left_alone() {
        let cm = json!({"kind": "ConfigMap", "data": {"a": "1"}});
        let mut masked = cm.clone();
        mask_secret_values(&mut masked, |_, _, _| json!("x"));
        assert_eq!(masked, cm);
        assert_eq!(mask_secret(&cm), cm);
        let secret = json!({"kind": "Secret", "stringData": {"t": "glrt-1"}});
        assert_eq!(mask_secret(&secret)["stringData"]["t"], MASK);
    }
}
