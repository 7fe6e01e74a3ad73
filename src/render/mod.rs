//! Rendering: values -> the chart's Kubernetes objects, ordered and schema-checked.
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::values::Values;

mod context;
mod order;
mod output;
mod validate;
mod yaml;

pub use context::{DEFAULT_IMAGE_TAG, default_rules, fullname};
pub use output::{MASK, OutputFormat};

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
    RunnerConfig(#[from] crate::runner_config::Error),
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

/// The templates, embedded: (name, text). Rendered in this order; the output is then sorted
/// into install order.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "manifests/namespace.json.tera",
        include_str!("../../manifests/namespace.json.tera"),
    ),
    (
        "manifests/secret.json.tera",
        include_str!("../../manifests/secret.json.tera"),
    ),
    (
        "manifests/configmap.json.tera",
        include_str!("../../manifests/configmap.json.tera"),
    ),
    (
        "manifests/service-account.json.tera",
        include_str!("../../manifests/service-account.json.tera"),
    ),
    (
        "manifests/rbac.json.tera",
        include_str!("../../manifests/rbac.json.tera"),
    ),
    (
        "manifests/service.json.tera",
        include_str!("../../manifests/service.json.tera"),
    ),
    (
        "manifests/monitors.json.tera",
        include_str!("../../manifests/monitors.json.tera"),
    ),
    (
        "manifests/session-server.json.tera",
        include_str!("../../manifests/session-server.json.tera"),
    ),
    (
        "manifests/deployment.json.tera",
        include_str!("../../manifests/deployment.json.tera"),
    ),
    (
        "manifests/hpa.json.tera",
        include_str!("../../manifests/hpa.json.tera"),
    ),
];

/// The runner's scripts, embedded and shipped in the ConfigMap: (key, text).
pub const SCRIPTS: &[(&str, &str)] = &[
    (
        "entrypoint",
        include_str!("../../manifests/scripts/entrypoint"),
    ),
    (
        "check-live",
        include_str!("../../manifests/scripts/check-live"),
    ),
];

/// Source name given to objects from `extraObjects`.
pub const EXTRA_OBJECTS_SOURCE: &str = "values: extraObjects";

fn engine() -> &'static tera::Tera {
    static ENGINE: OnceLock<tera::Tera> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut tera = tera::Tera::new();
        tera.register_filter("json", tera_contrib::json::json_encode);
        tera.register_filter("b64", tera_contrib::base64::b64_encode);
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .unwrap_or_else(|e| panic!("embedded templates must parse: {e}"));
        tera
    })
}

fn render_template(name: &str, ctx: &tera::Context) -> Result<Vec<Object>, Error> {
    render_template_text(name, ctx).and_then(|text| parse_documents(name, &text))
}

fn render_template_text(name: &str, ctx: &tera::Context) -> Result<String, Error> {
    engine().render(name, ctx).map_err(|e| Error::Template {
        template: name.to_string(),
        message: error_chain(&e),
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        cur = s.source();
    }
    msg
}

/// Parse a template's output: zero or more JSON objects, where a comma may trail the last
/// member of an object or list (so templates can add members conditionally).
fn parse_documents(source: &str, text: &str) -> Result<Vec<Object>, Error> {
    let json = strip_trailing_commas(text);
    let mut objects = Vec::new();
    for value in serde_json::Deserializer::from_str(&json).into_iter::<Value>() {
        let mut value = value.map_err(|e| Error::Object {
            template: source.to_string(),
            message: format!("{e}\n--- rendered text ---\n{json}"),
        })?;
        drop_nulls(&mut value);
        objects.push(Object {
            source: source.to_string(),
            value,
        });
    }
    Ok(objects)
}

/// Remove commas that directly precede `}` or `]` (outside strings).
fn strip_trailing_commas(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' => {
                let next = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
                if matches!(next, Some(b'}' | b']')) {
                    out.push_str(&text[start..i]);
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    out.push_str(&text[start..]);
    out
}

/// A `null` field means "not set" to Kubernetes; leave such fields out of the object.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
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

/// Render a release into its objects, in install order, schema-checked.
///
/// Pure: no I/O, no cluster. The same release always gives the same manifest.
pub fn render(release: &Release) -> Result<Manifest, Error> {
    let mut warnings = Vec::new();
    let derived = context::Derived::new(release, &mut warnings)?;
    let mut template_values = release.values.as_json().clone();
    fill_removed(&mut template_values, crate::values::default_tree());
    let mut ctx = tera::Context::new();
    ctx.insert("Values", &template_values);
    ctx.insert(
        "Release",
        &serde_json::json!({"Name": release.name, "Namespace": release.namespace}),
    );
    ctx.insert(
        "scripts",
        &SCRIPTS
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect::<serde_json::Map<_, _>>(),
    );

    // ConfigMap and Secret first: their checksums go into the pod template.
    ctx.insert("chart", &derived);
    let secret_text = render_template_text("manifests/secret.json.tera", &ctx)?;
    let configmap_text = render_template_text("manifests/configmap.json.tera", &ctx)?;
    let secret = parse_documents("manifests/secret.json.tera", &secret_text)?;
    let configmap = parse_documents("manifests/configmap.json.tera", &configmap_text)?;
    let mut checksums = serde_json::Map::new();
    checksums.insert("configmap".into(), checksum(&[&configmap_text]).into());
    if let Some(name) = &derived.secret_name {
        // For a user's Secret, its name stands in: runnerctl cannot see its data offline.
        let basis = if secret.is_empty() {
            name.as_str()
        } else {
            secret_text.as_str()
        };
        checksums.insert("secrets".into(), checksum(&[basis]).into());
    }
    ctx.insert("checksums", &checksums);

    let mut objects = Vec::new();
    for (name, _) in TEMPLATES {
        match *name {
            "manifests/secret.json.tera" => objects.extend(secret.iter().cloned()),
            "manifests/configmap.json.tera" => objects.extend(configmap.iter().cloned()),
            _ => objects.extend(render_template(name, &ctx)?),
        }
    }
    objects.extend(extra_objects(release)?);
    for o in &objects {
        validate::check(o)?;
    }
    order::sort(&mut objects);
    Ok(Manifest { objects, warnings })
}

/// Keys of the defaults that the user deleted with `null` come back as `null` (maps as `{}`),
/// so templates see "unset" rather than an undefined variable.
fn fill_removed(values: &mut Value, defaults: &Value) {
    let (Value::Object(map), Value::Object(defaults)) = (values, defaults) else {
        return;
    };
    for (key, default) in defaults {
        match map.get_mut(key) {
            Some(v) => fill_removed(v, default),
            None => {
                let mut blank = if default.is_object() {
                    Value::Object(Default::default())
                } else {
                    Value::Null
                };
                fill_removed(&mut blank, default);
                map.insert(key.clone(), blank);
            }
        }
    }
}

/// `extraObjects`: each item as given, with template expressions in its strings evaluated.
fn extra_objects(release: &Release) -> Result<Vec<Object>, Error> {
    let values = release.values.as_json();
    let Some(Value::Array(items)) = context::lookup(values, "extraObjects") else {
        return Ok(Vec::new());
    };
    let scope = crate::runner_config::Scope {
        release_name: &release.name,
        release_namespace: &release.namespace,
        values,
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("extraObjects[{i}]");
        let value = match item {
            Value::String(text) => {
                let text = crate::runner_config::evaluate(text, &scope)
                    .map_err(|e| Error::InvalidValue {
                        key: key.clone(),
                        message: e.to_string(),
                    })?
                    .text;
                serde_saphyr::from_str(&text).map_err(|e| Error::InvalidValue {
                    key: key.clone(),
                    message: format!("not YAML: {e}"),
                })?
            }
            other => expand_strings(other, &scope).map_err(|message| Error::InvalidValue {
                key: key.clone(),
                message,
            })?,
        };
        let Value::Object(mut map) = value else {
            return Err(Error::InvalidValue {
                key,
                message: "must be a Kubernetes object (a map with apiVersion, kind, metadata.name)"
                    .into(),
            });
        };
        for field in ["apiVersion", "kind"] {
            if !map.get(field).is_some_and(Value::is_string) {
                return Err(Error::InvalidValue {
                    key,
                    message: format!("{field} is missing"),
                });
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
            return Err(Error::InvalidValue {
                key,
                message: "metadata.name is missing".into(),
            });
        }
        out.push(Object {
            source: EXTRA_OBJECTS_SOURCE.to_string(),
            value: Value::Object(map),
        });
    }
    Ok(out)
}

fn expand_strings(v: &Value, scope: &crate::runner_config::Scope<'_>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.contains("{{") => Value::String(
            crate::runner_config::evaluate(s, scope)
                .map_err(|e| e.to_string())?
                .text,
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| expand_strings(x, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), expand_strings(x, scope)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_go_but_strings_keep_theirs() {
        let text =
            "{\"a\": [1, 2, ], \"b\": \",}\", \"c\": {\"d\": \"\\\",]\",\n  },\n}\n{\"e\": 1,}";
        let objects = parse_documents("t", text).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(
            objects[0].value,
            serde_json::json!({"a": [1, 2], "b": ",}", "c": {"d": "\",]"}})
        );
        assert_eq!(objects[1].value, serde_json::json!({"e": 1}));
    }

    #[test]
    fn a_broken_template_output_names_the_template() {
        let err = parse_documents("manifests/x.json.tera", "{\"a\": }").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("manifests/x.json.tera: rendered an invalid object"),
            "{err}"
        );
    }
}
