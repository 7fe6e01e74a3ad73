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

impl OutputFormat {
    /// Every format, in the order a command line lists them.
    pub const ALL: [OutputFormat; 2] = [OutputFormat::Yaml, OutputFormat::Json];

    /// Its name on a command line: `yaml`, `json`.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Yaml => "yaml",
            OutputFormat::Json => "json",
        }
    }

    /// What it prints, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            OutputFormat::Yaml => "Multi-document YAML, a `# Source:` line before each object",
            OutputFormat::Json => "One JSON v1/List",
        }
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    /// A format by its [name](OutputFormat::name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown output format {s:?}: yaml or json"))
    }
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
    /// Render the manifest as text; unless `show_secrets`, Secret values are masked and so is
    /// every known secret value wherever it appears (see [`SecretValues`]).
    pub fn to_text(&self, format: OutputFormat, show_secrets: bool) -> String {
        use std::borrow::Cow;
        // Only objects with something to mask are copied.
        let shown: Vec<Cow<'_, Value>> = self
            .objects
            .iter()
            .map(|o| {
                if show_secrets || (o.kind() != "Secret" && !self.secrets.appear_in(&o.value)) {
                    Cow::Borrowed(&o.value)
                } else {
                    Cow::Owned(masked(&o.value, &self.secrets))
                }
            })
            .collect();
        match format {
            OutputFormat::Json => {
                #[derive(serde::Serialize)]
                #[serde(rename_all = "camelCase")]
                struct List<'a> {
                    api_version: &'a str,
                    kind: &'a str,
                    items: &'a [Cow<'a, Value>],
                }
                let list = List {
                    api_version: "v1",
                    kind: "List",
                    items: &shown,
                };
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

/// Secret values shorter than this are not masked inside other text (they would mask common
/// words; tokens are far longer).
pub const MIN_MASKED_SECRET_LEN: usize = 6;

/// Values that are secret wherever they appear in an object: the runner and registration
/// tokens, sensitive environment variables, credentials in `runners.config`, and every value
/// of a rendered or live Secret. [`SecretValues::mask`] replaces each occurrence inside any
/// string (a token pasted into `runners.config`, an env value, an annotation, a
/// last-applied-configuration) by [`MASK`]. Its `Debug` shows only how many it holds.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues(Vec<String>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValues({} redacted)", self.0.len())
    }
}

impl SecretValues {
    /// Add a secret value (ignored when shorter than [`MIN_MASKED_SECRET_LEN`]). Longer
    /// values are masked first, so a value that contains another is masked whole.
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() < MIN_MASKED_SECRET_LEN || self.0.iter().any(|v| v == value) {
            return;
        }
        let at = self.0.partition_point(|v| v.len() >= value.len());
        self.0.insert(at, value.to_string());
    }

    /// Add every value of another set.
    pub fn extend(&mut self, other: &SecretValues) {
        for v in &other.0 {
            self.add(v);
        }
    }

    /// Add the values of every Secret among `objects`: `stringData` as is, `data` decoded
    /// from base64 (when it is text).
    pub fn add_secrets_of<'a>(&mut self, objects: impl IntoIterator<Item = &'a Value>) {
        use base64::Engine as _;
        for obj in objects {
            if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
                continue;
            }
            for (field, encoded) in [("stringData", false), ("data", true)] {
                let Some(map) = obj.get(field).and_then(Value::as_object) else {
                    continue;
                };
                for v in map.values().filter_map(Value::as_str) {
                    if !encoded {
                        self.add(v);
                    } else if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(v)
                        && let Ok(text) = String::from_utf8(bytes)
                    {
                        self.add(&text);
                    }
                }
            }
        }
    }

    /// The values held, longest first (for storing them where secrets may be kept, e.g. a
    /// revision record, which is itself a Secret).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of a secret value replaced by [`MASK`].
    pub fn mask_str(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.0 {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }

    /// Whether a known secret value occurs in `s`.
    fn found_in(&self, s: &str) -> bool {
        self.0.iter().any(|v| s.contains(v.as_str()))
    }

    /// Whether a known secret value appears in a string of `value` (what [`Self::mask`]
    /// would change).
    pub fn appear_in(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.found_in(s),
            Value::Array(items) => items.iter().any(|v| self.appear_in(v)),
            Value::Object(map) => map.values().any(|v| self.appear_in(v)),
            _ => false,
        }
    }

    /// Mask every string in `value` (map keys are left alone).
    pub fn mask(&self, value: &mut Value) {
        if self.0.is_empty() {
            return;
        }
        match value {
            Value::String(s) if self.found_in(s) => {
                *s = self.mask_str(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask(v)),
            _ => {}
        }
    }
}

/// `value` as shown without `--show-secrets`: Secret values masked, and every known secret
/// value masked wherever else it appears.
pub fn masked(value: &Value, secrets: &SecretValues) -> Value {
    let mut v = mask_secret(value);
    secrets.mask(&mut v);
    v
}

#[cfg(test)]
mod secret_values_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_secrets_are_masked_anywhere() {
        let mut s = SecretValues::default();
        s.add("glrt-abcdef");
        s.add("glrt-abcdef-longer");
        s.add("short");
        assert_eq!(s.len(), 2, "short values are not masked inside text");
        assert_eq!(format!("{s:?}"), "SecretValues(2 redacted)");
        let mut v = json!({"data": {"config.toml": "token = \"glrt-abcdef-longer\"\nother = \"glrt-abcdef\""},
            "list": ["x glrt-abcdef y"], "n": 1});
        s.mask(&mut v);
        assert_eq!(v["data"]["config.toml"], "token = \"***\"\nother = \"***\"");
        assert_eq!(v["list"][0], "x *** y");
    }

    #[test]
    fn secret_objects_give_their_values() {
        let mut s = SecretValues::default();
        let secret = json!({"kind": "Secret", "data": {"t": "Z2xydC1mcm9tLWRhdGE="},
            "stringData": {"u": "plain-secret"}});
        let cm = json!({"kind": "ConfigMap", "data": {"t": "not-a-secret"}});
        s.add_secrets_of([&secret, &cm]);
        assert_eq!(
            s.mask_str("glrt-from-data plain-secret not-a-secret"),
            "*** *** not-a-secret"
        );
    }
}
