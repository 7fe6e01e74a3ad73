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

/// A copy of `value` with Secret `data`/`stringData` values replaced by [`MASK`].
pub fn mask_secret(value: &Value) -> Value {
    let mut v = value.clone();
    if v.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(map)) = v.get_mut(field) {
                for (_, val) in map.iter_mut() {
                    *val = Value::String(MASK.into());
                }
            }
        }
    }
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
