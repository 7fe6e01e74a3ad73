//! Rendering: values -> the chart's Kubernetes objects, ordered and schema-checked.
//!
//! The parts, in the order [`render`] uses them: `chart.rs` works out names, labels and
//! decisions from the values (evaluating the [`gotmpl`] expressions in `image.tag` and
//! [`runner_config`]; how the runner pod stops in `lifecycle.rs`); the embedded Tera templates (`templates.rs`) render the objects, each
//! template once, each deciding itself whether it renders anything; `post_pass.rs` fills in
//! what only the rendered output tells (scripts, checksums, Pod Security labels);
//! `extraObjects` are added; each object is schema-checked and the list sorted into install
//! order. The release's runners (name, job namespace, token source) are listed in
//! `runners.rs` ([`RunnerEntry`]). [`to_yaml`] and
//! [`mask_secret_values`](crate::secret::mask_secret_values) print objects the same way
//! everywhere.
use serde_json::Value;

use crate::secret::{SecretValues, mask_secret, masked, redact_token_like};
use crate::values::Values;

pub mod build_mode;
mod chart;
pub mod ci_example;
mod extra_objects;
pub mod gotmpl;
pub(crate) mod job_pod;
mod lifecycle;
pub(crate) mod names;
mod order;
mod output;
pub mod pod_security;
mod post_pass;
pub mod runner_config;
mod runners;
mod templates;
mod toml_text;
mod validate;
mod yaml;

use build_mode::BuildMode;
pub use chart::{
    DEFAULT_IMAGE_TAG, RUNNER_TOKENS, TOKEN_ROTATION, default_rules, fullname, runner_token_key,
};
pub use extra_objects::EXTRA_OBJECTS_SOURCE;
use job_pod::JobPod;
pub use output::OutputFormat;
pub(crate) use post_pass::hex;
pub use runners::{RunnerEntry, TokenSource, runners_of, system_id_of_pod};
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
#[derive(Clone, PartialEq)]
pub struct Object {
    /// The template that produced it, e.g. `manifests/deployment.json.tera`.
    pub source: String,
    /// The object itself.
    pub value: serde_json::Value,
}

impl Object {
    /// The string at `key` of the object, or of its `metadata`.
    fn str_at(&self, metadata: bool, key: &str) -> Option<&str> {
        let map = if metadata {
            self.value.get("metadata")?
        } else {
            &self.value
        };
        map.get(key)?.as_str()
    }
    /// `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        self.str_at(false, "apiVersion").unwrap_or("")
    }
    /// `kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        self.str_at(false, "kind").unwrap_or("")
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.str_at(true, "name").unwrap_or("")
    }
    /// `metadata.namespace`, `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.str_at(true, "namespace")
    }
}

/// `Debug` masks Secret values and token-like strings: a debug print never shows a token.
impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut value = mask_secret(&self.value);
        redact_token_like(&mut value);
        f.debug_struct("Object")
            .field("source", &self.source)
            .field("value", &value)
            .finish()
    }
}

/// `Debug` shows objects with every known secret masked.
impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let objects: Vec<Value> = self
            .objects
            .iter()
            .map(|o| masked(&o.value, &self.secrets))
            .collect();
        f.debug_struct("Manifest")
            .field("objects", &objects)
            .field("warnings", &self.warnings)
            .field("secrets", &self.secrets)
            .field("jobs", &self.jobs.build_mode)
            .finish()
    }
}

/// The rendered objects in install order, plus warnings for the user.
#[derive(Clone, Default)]
pub struct Manifest {
    /// Objects in helm's install order.
    pub objects: Vec<Object>,
    /// Warnings (unknown keys, risky settings), one line each.
    pub warnings: Vec<String>,
    /// The secret values the objects hold, masked wherever they appear in output.
    pub secrets: SecretValues,
    /// What the first runner's CI jobs get (the only runner's, with one): build mode,
    /// namespace, the job pod. Each runner's: [`Manifest::jobs_of`].
    pub jobs: JobSetup,
    /// Each `[[runners]]` of the release, in the config's order: its name, job namespace and
    /// where its token comes from (one entry without a config).
    pub runners: Vec<RunnerEntry>,
    /// What each runner's CI jobs get, in the order of [`runners`](Self::runners).
    runner_jobs: Vec<JobSetup>,
}

/// What the runner's CI jobs get, derived from the rendered config.
#[derive(Clone, Default)]
pub struct JobSetup {
    /// The runner's name in the cluster (the Deployment's name).
    pub runner: String,
    /// The `[[runners]]` name when the release has several runners (`None` with one).
    pub runner_name: Option<String>,
    /// The build mode, if one is set (`runnerctl.buildMode`).
    pub build_mode: Option<BuildMode>,
    /// Where job pods run.
    pub namespace: String,
    /// Each job gets a namespace of its own.
    pub namespace_per_job: bool,
    /// The runner's tags (`runners.tags`, comma separated in the values).
    pub tags: Vec<String>,
    /// The pod the runner creates for a job, unmasked: print it with [`Manifest::job_pod`].
    pub job_pod: JobPod,
}

/// A runner was asked for that the release does not have, or none when it has several.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunnerChoice {
    /// Several runners and no name.
    #[error("the release has several runners ({}): name one", .0.join(", "))]
    NoneChosen(Vec<String>),
    /// No runner of that name.
    #[error("the release has no runner named {name:?}; its runners: {}", .names.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The runners' names.
        names: Vec<String>,
    },
}

impl JobSetup {
    /// The runner as headers name it: the Deployment, and the `[[runners]]` name when the
    /// release has several runners (`gitlab-runner ([[runners]] build)`).
    pub fn runner_label(&self) -> String {
        match &self.runner_name {
            Some(name) => format!("{} ([[runners]] {name})", self.runner),
            None => self.runner.clone(),
        }
    }
}

impl Manifest {
    /// What the CI jobs of the runner named `runner` get; `None` picks the only runner, and
    /// is an error when the release has several.
    pub fn jobs_of(&self, runner: Option<&str>) -> Result<&JobSetup, RunnerChoice> {
        let names = || {
            self.runners
                .iter()
                .map(|r| r.name.clone().unwrap_or_default())
                .collect::<Vec<_>>()
        };
        match runner {
            None if self.runner_jobs.len() > 1 => Err(RunnerChoice::NoneChosen(names())),
            None => Ok(&self.jobs),
            Some(name) => self
                .runners
                .iter()
                .position(|r| r.name.as_deref() == Some(name))
                .map(|i| &self.runner_jobs[i])
                .ok_or_else(|| RunnerChoice::Unknown {
                    name: name.to_string(),
                    names: names(),
                }),
        }
    }

    /// The job pod preview to print (of the first runner; another's: [`job_pod_of`](Self::job_pod_of)):
    /// environment values with secret names and every known secret value masked unless
    /// `show_secrets`.
    pub fn job_pod(&self, show_secrets: bool) -> Value {
        self.job_pod_of(&self.jobs, show_secrets)
    }

    /// The job pod preview of `jobs` (one of this manifest's, see [`jobs_of`](Self::jobs_of)),
    /// masked as [`job_pod`](Self::job_pod) masks it.
    pub fn job_pod_of(&self, jobs: &JobSetup, show_secrets: bool) -> Value {
        let mut pod = jobs.job_pod.pod().clone();
        if !show_secrets {
            crate::secret::mask_environment(&mut pod);
            self.secrets.mask(&mut pod);
        }
        pod
    }
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
    /// A release name, namespace or object name Kubernetes or helm would refuse.
    #[error("{what}: {rule}")]
    InvalidName {
        /// The name and what it is (`release name "My_Runner"`).
        what: String,
        /// The rule it breaks.
        rule: String,
    },
    /// A value that cannot be used.
    #[error("{key}: {message}")]
    InvalidValue {
        /// Key path in the values.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `runners.config` breaks what the build mode promises about job pods.
    #[error(transparent)]
    BuildMode(#[from] build_mode::PodConflict),
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

/// Render a release into its objects, in install order, schema-checked.
///
/// Pure: no I/O, no cluster. The same release always gives the same manifest. One straight
/// pipeline: the context (`Chart::new`, with `Values` and `Release`), every template once
/// (`templates::render_all`), one pass for what only the rendered output tells
/// (`post_pass::fill_in`: scripts, checksums, Pod Security labels), `extraObjects`, the
/// schema check (`validate::check`), install order (`order::sort`), and the secret values to
/// mask in output (`known_secrets`).
pub fn render(release: &Release) -> Result<Manifest, Error> {
    let mut warnings = Vec::new();
    let chart = chart::Chart::new(release, &mut warnings)?;
    let rendered = templates::render_all(&templates::context(release, &chart))?;
    let mut objects = post_pass::fill_in(release, &chart, rendered);
    objects.extend(extra_objects::extra_objects(release)?);
    for o in &objects {
        validate::check(o)?;
    }
    order::sort(&mut objects);
    let secrets = known_secrets(release, &chart, &objects);
    let tags =
        split_tags(&chart::string_at(release.values.as_json(), "runners.tags").unwrap_or_default());
    let runners = runners::entries(&chart);
    let several = chart.jobs.runners.len() > 1;
    let runner_jobs: Vec<JobSetup> = chart
        .jobs
        .runners
        .into_iter()
        .map(|r| JobSetup {
            runner: chart.names.fullname.clone(),
            runner_name: r.name.filter(|_| several),
            build_mode: chart.jobs.build_mode,
            namespace: r.namespace,
            namespace_per_job: r.namespace_per_job,
            tags: tags.clone(),
            job_pod: r.job_pod,
        })
        .collect();
    Ok(Manifest {
        objects,
        warnings,
        secrets,
        jobs: runner_jobs[0].clone(),
        runners,
        runner_jobs,
    })
}

/// Tags as GitLab takes them: comma separated, trimmed, empty ones dropped.
pub fn split_tags(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The secret values of a release: its tokens, sensitive environment variables
/// (`envVars`, `extraEnv`), credentials in the runner config, and every rendered Secret's
/// values.
fn known_secrets(release: &Release, chart: &chart::Chart, objects: &[Object]) -> SecretValues {
    let mut secrets = SecretValues::default();
    secrets.add(&chart.tokens.runner_token);
    secrets.add(&chart.tokens.registration_token);
    for t in &chart.tokens.runner_tokens {
        secrets.add(&t.token);
    }
    let values = release.values.as_json();
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    if let Some(Value::Array(vars)) = values.get("envVars") {
        for var in vars {
            let name = var.get("name").and_then(Value::as_str).unwrap_or("");
            if let Some(v) = var.get("value").and_then(scalar) {
                secrets.add_named(name, &v);
            }
        }
    }
    if let Some(Value::Object(env)) = values.get("extraEnv") {
        for (name, v) in env {
            if let Some(v) = scalar(v) {
                secrets.add_named(name, &v);
            }
        }
    }
    secrets.extend(&chart.jobs.credentials);
    secrets.add_secrets_of(objects.iter().map(|o| &o.value));
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A release `r` in namespace `ns` with `gitlabUrl` and these `--set`s.
    pub(super) fn release(sets: &[&str]) -> Release {
        let mut b = crate::ValuesBuilder::new().set("gitlabUrl=https://gitlab.example.com");
        for s in sets {
            b = b.set(*s);
        }
        Release {
            name: "r".into(),
            namespace: "ns".into(),
            values: b.build().unwrap().0,
            create_namespace: false,
            api_versions: vec![],
        }
    }

    /// A release like [`release`], with a runner token too.
    pub(super) fn with_token(sets: &[&str]) -> Release {
        let mut sets = sets.to_vec();
        sets.push("runnerToken=glrt-secret");
        release(&sets)
    }

    /// The first rendered object of `kind`, if there is one.
    pub(super) fn object_of(manifest: &Manifest, kind: &str) -> Option<Value> {
        let found = manifest.objects.iter().find(|o| o.kind() == kind);
        found.map(|o| o.value.clone())
    }

    #[test]
    fn debug_prints_never_show_a_token() {
        let r = release(&[
            "runnerToken=glrt-DEBUG-LEAK",
            "runners.config=[[runners]]\ntoken = \"glrt-DEBUG-LEAK\"\n",
        ]);
        let m = render(&r).unwrap();
        for text in [
            format!("{r:?}"),
            format!("{m:?}"),
            format!("{:?}", m.objects),
            format!("{:?}", m.secrets),
            format!("{:?}", m.jobs.job_pod),
            format!(
                "{:?}",
                crate::ValuesBuilder::new().set("runnerToken=glrt-DEBUG-LEAK")
            ),
        ] {
            assert!(!text.contains("DEBUG-LEAK"), "{text}");
            assert!(
                !text.contains("Z2xydC1ERUJVRy1MRUFL"),
                "base64 of the token: {text}"
            );
        }
    }
}
