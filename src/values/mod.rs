//! Values: the embedded defaults, user files and `--set` flags merged with helm's rules.

/// The embedded default values (`values/values.yaml`).
pub const DEFAULT_VALUES_YAML: &str = include_str!("../../values/values.yaml");

/// One merged values tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Values(serde_json::Value);

impl Values {
    /// The merged tree as JSON.
    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }
}

/// Builds [`Values`] from defaults, files and flags (stub, replaced by the real builder).
#[derive(Debug, Default)]
pub struct ValuesBuilder {}
