//! Printing a manifest: multi-document YAML with `# Source:` lines, or JSON; secrets masked.
use serde_json::Value;

use super::Manifest;
use crate::secret::masked;

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

impl Manifest {
    /// Render the manifest as text; unless `show_secrets`, Secret values are masked and so is
    /// every known secret value wherever it appears (see
    /// [`SecretValues`](crate::secret::SecretValues)).
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
