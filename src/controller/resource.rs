//! The `GitLabRunner` resource as the controller reads it, and its values: the defaults, then
//! each `spec.valuesFrom` entry in order, then `spec.values`, then `spec.buildMode`, merged
//! and checked exactly as `runnerctl apply -f ... --set runnerctl.buildMode=...` would.
use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::crd::{GROUP, KIND, PLURAL, VERSION};

/// A `GitLabRunner` (runnerctl.io/v1alpha1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GitLabRunner {
    /// Standard metadata.
    pub metadata: ObjectMeta,
    /// What the runner should be.
    #[serde(default)]
    pub spec: Spec,
    /// What the controller last saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// `spec` of a `GitLabRunner`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// The chart's values (no tokens).
    #[serde(default)]
    pub values: Option<Value>,
    /// Values from ConfigMaps and Secrets, in merge order.
    #[serde(default)]
    pub values_from: Vec<ValuesFrom>,
    /// `runnerctl.buildMode`.
    #[serde(default)]
    pub build_mode: Option<String>,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
}

/// One `spec.valuesFrom` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesFrom {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Its name, in the resource's namespace.
    pub name: String,
    /// The key holding a values YAML document (default `values.yaml`).
    #[serde(default)]
    pub key: Option<String>,
    /// Skip it when missing.
    #[serde(default)]
    pub optional: bool,
}

impl ValuesFrom {
    /// The key, `values.yaml` unless given.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("values.yaml")
    }
}

impl kube::Resource for GitLabRunner {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(KIND)
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(VERSION)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(PLURAL)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl GitLabRunner {
    /// Its name.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// Its namespace.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// Its generation.
    pub fn generation(&self) -> i64 {
        self.metadata.generation.unwrap_or(0)
    }
}
