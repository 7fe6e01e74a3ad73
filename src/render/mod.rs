//! Rendering: values -> the chart's Kubernetes objects, ordered and schema-checked.
//!
//! The parts, in the order [`render`] uses them: `chart.rs` works out names, labels and
//! decisions from the values (evaluating the [`gotmpl`] expressions in `image.tag` and
//! [`runner_config`]); the embedded Tera templates render the objects; `extraObjects` are
//! added; each object is schema-checked and the list sorted into install order. [`to_yaml`]
//! and [`mask_secret_values`] print objects the same way everywhere.
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::values::Values;

mod chart;
mod extra_objects;
pub mod gotmpl;
mod order;
mod output;
pub mod runner_config;
mod templates;
mod validate;
mod yaml;

pub use chart::{DEFAULT_IMAGE_TAG, default_rules, fullname};
pub use extra_objects::EXTRA_OBJECTS_SOURCE;
pub use output::{LAST_APPLIED_ANNOTATION, MASK, OutputFormat, mask_secret, mask_secret_values};
pub use templates::{SCRIPTS, TEMPLATES};
pub use yaml::to_yaml;

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
    /// The template that produced it, e.g. `manifests/deployment.json.tera`.
    pub source: String,
    /// The object itself.
    pub value: serde_json::Value,
}

impl Object {
    fn str_at(&self, ptr: &str) -> &str {
        self.value
            .pointer(ptr)
            .and_then(|v| v.as_str())
            .unwrap_or("")
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
        self.value
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str())
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

/// Errors from rendering. Each names the place and what would fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `gitlabUrl` is not set.
    #[error(
        "gitlabUrl is not set: set it to your GitLab instance, e.g. --set gitlabUrl=https://gitlab.example.com"
    )]
    MissingGitlabUrl,
    /// Neither a token nor an existing Secret.
    #[error(
        "no runner token: set runnerToken to the runner authentication token (glrt-...) created in \
         GitLab, or runners.secret to the name of an existing Secret with the keys runner-token and \
         runner-registration-token"
    )]
    MissingToken,
    /// A value that cannot be used.
    #[error("{key}: {message}")]
    InvalidValue {
        /// Key path in the values.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `runners.config` is invalid.
    #[error(transparent)]
    RunnerConfig(#[from] runner_config::Error),
    /// A template expression in a value (`image.tag`, `extraObjects`) cannot be evaluated;
    /// the error names the value.
    #[error(transparent)]
    Expression(#[from] gotmpl::Error),
    /// A template failed to render (a defect in runnerctl's templates or an unusable value).
    #[error("template {template}: {message}")]
    Template {
        /// The template.
        template: String,
        /// The engine's message.
        message: String,
    },
    /// A template rendered something that is not a valid object.
    #[error("{template}: rendered an invalid object: {message}")]
    Object {
        /// The template.
        template: String,
        /// What is wrong.
        message: String,
    },
    /// An object has a field its Kubernetes type does not know, or a field of the wrong type.
    #[error("{object}: {message}")]
    Schema {
        /// `Kind/namespace/name`.
        object: String,
        /// Field path and problem.
        message: String,
    },
}

fn checksum(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The checksums the pod template carries, so that the pod restarts when they change: of the
/// ConfigMap, and of the Secret the runner reads (`secret_text` when runnerctl renders it,
/// else the name of the user's Secret, as runnerctl cannot see its data offline).
fn checksums(
    configmap_text: &str,
    secret_text: Option<&str>,
    secret_name: Option<&str>,
) -> serde_json::Map<String, Value> {
    let mut checksums = serde_json::Map::new();
    checksums.insert("configmap".into(), checksum(&[configmap_text]).into());
    if let Some(name) = secret_name {
        let basis = secret_text.unwrap_or(name);
        checksums.insert("secrets".into(), checksum(&[basis]).into());
    }
    checksums
}

/// Render a release into its objects, in install order, schema-checked.
///
/// Pure: no I/O, no cluster. The same release always gives the same manifest.
pub fn render(release: &Release) -> Result<Manifest, Error> {
    let mut warnings = Vec::new();
    let chart = chart::Chart::new(release, &mut warnings)?;
    let mut ctx = templates::context(release, &chart);

    // ConfigMap and Secret first: their checksums go into the pod template.
    let secret_text = templates::render_template_text("manifests/secret.json.tera", &ctx)?;
    let configmap_text = templates::render_template_text("manifests/configmap.json.tera", &ctx)?;
    let secret = templates::parse_documents("manifests/secret.json.tera", &secret_text)?;
    let configmap = templates::parse_documents("manifests/configmap.json.tera", &configmap_text)?;
    let checksums = checksums(
        &configmap_text,
        (!secret.is_empty()).then_some(secret_text.as_str()),
        chart.tokens.secret_name.as_deref(),
    );
    ctx.insert("checksums", &checksums);

    let mut objects = Vec::new();
    for (name, _) in TEMPLATES {
        match *name {
            "manifests/secret.json.tera" => objects.extend(secret.iter().cloned()),
            "manifests/configmap.json.tera" => objects.extend(configmap.iter().cloned()),
            _ => objects.extend(templates::render_template(name, &ctx)?),
        }
    }
    objects.extend(extra_objects::extra_objects(release)?);
    for o in &objects {
        validate::check(o)?;
    }
    order::sort(&mut objects);
    Ok(Manifest { objects, warnings })
}
