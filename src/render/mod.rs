//! Rendering: values -> the chart's Kubernetes objects, ordered and schema-checked.
use crate::values::Values;

/// What to render: a release name and namespace, its values and cluster capabilities.
#[derive(Debug, Clone)]
pub struct Release {
    /// Release name (helm's RELEASE), e.g. `gitlab-runner`.
    pub name: String,
    /// Release namespace.
    pub namespace: String,
    /// The merged values.
    pub values: Values,
    /// Render a Namespace object for the release namespace.
    pub create_namespace: bool,
    /// Extra API versions the cluster offers (helm's `--api-versions`), e.g. `monitoring.coreos.com/v1`.
    pub api_versions: Vec<String>,
}

/// One rendered object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The template that produced it, e.g. `manifests/deployment.yaml.tera`.
    pub source: String,
    /// The object itself.
    pub value: serde_json::Value,
}

impl Object {
    fn str_at(&self, ptr: &str) -> &str {
        self.value.pointer(ptr).and_then(|v| v.as_str()).unwrap_or("")
    }
    /// `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }
    /// `kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }
    /// `metadata.namespace`, `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.value.pointer("/metadata/namespace").and_then(|v| v.as_str())
    }
}

/// The rendered objects in install order, plus warnings for the user.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// Objects in helm's install order.
    pub objects: Vec<Object>,
    /// Warnings (unknown keys, risky settings), one line each.
    pub warnings: Vec<String>,
}

/// Errors from rendering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Placeholder until the renderer lands.
    #[error("not implemented")]
    Unimplemented,
}

/// Render a release into its objects.
pub fn render(_release: &Release) -> Result<Manifest, Error> {
    Err(Error::Unimplemented)
}
