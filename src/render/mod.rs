//! Rendering: values -> the chart's Kubernetes objects, ordered and schema-checked.
//!
//! The parts, in the order [`render`] uses them: `chart.rs` works out names, labels and
//! decisions from the values (evaluating the [`gotmpl`] expressions in `image.tag` and
//! [`runner_config`]); the embedded Tera templates render the objects; `extraObjects` are
//! added; each object is schema-checked and the list sorted into install order. [`to_yaml`]
//! and [`mask_secret_values`] print objects the same way everywhere.
use serde_json::Value;
use sha2::Sha256;

use crate::values::Values;

pub mod build_mode;
mod chart;
pub mod ci_example;
mod extra_objects;
pub mod gotmpl;
pub mod job_pod;
pub mod names;
mod order;
mod output;
pub mod pod_security;
pub mod runner_config;
mod template_json;
mod templates;
mod toml_text;
mod validate;
mod yaml;

use build_mode::BuildMode;
pub use chart::{DEFAULT_IMAGE_TAG, default_rules, fullname};
pub use extra_objects::EXTRA_OBJECTS_SOURCE;
use job_pod::JobPod;
pub use output::{
    LAST_APPLIED_ANNOTATION, MASK, MIN_MASKED_SECRET_LEN, OutputFormat, SecretValues, mask_secret,
    mask_secret_values, masked,
};
use pod_security::Level;
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
        crate::values::redact_token_like(&mut value);
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
    /// What the runner's CI jobs get: build mode, namespace, the job pod.
    pub jobs: JobSetup,
}

/// What the runner's CI jobs get, derived from the rendered config.
#[derive(Clone, Default)]
pub struct JobSetup {
    /// The runner's name in the cluster (the Deployment's name).
    pub runner: String,
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

impl Manifest {
    /// The job pod preview to print: environment values with secret names and every known
    /// secret value masked unless `show_secrets`.
    pub fn job_pod(&self, show_secrets: bool) -> Value {
        let mut pod = self.jobs.job_pod.pod().clone();
        if !show_secrets {
            job_pod::mask_environment(&mut pod);
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

/// Put the chart's scripts ([`SCRIPTS`]) into the ConfigMap's data, where its template marks
/// their places with `true`; a place a `configMaps` entry took (a string) keeps that entry.
fn add_scripts(configmap: &mut [Object]) {
    let Some(data) = configmap
        .first_mut()
        .and_then(|o| o.value.get_mut("data"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (key, text) in SCRIPTS {
        if let Some(place) = data.get_mut(*key)
            && *place == Value::Bool(true)
        {
            *place = Value::from(*text);
        }
    }
}

/// SHA-256 of the chart's scripts (names and texts), once per process: the ConfigMap's checksum
/// covers them through it, as the rendered text it hashes does not hold them.
fn scripts_digest() -> &'static [u8] {
    static DIGEST: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| digest_of(SCRIPTS))
}

/// SHA-256 of named texts, each name and text preceded by its length (so that no two
/// different lists give the same bytes).
fn digest_of(texts: &[(&str, &str)]) -> Vec<u8> {
    use sha2::Digest;
    let mut sha = Sha256::new();
    for (name, text) in texts {
        for part in [name, text] {
            sha.update((part.len() as u64).to_le_bytes());
            sha.update(part.as_bytes());
        }
    }
    sha.finalize().to_vec()
}

/// A keyed hash (HMAC-SHA256) of `text` and then `extra`, hex. The key is the release's
/// namespace and name, so a checksum annotation is never a plain hash of a token (it cannot be
/// looked up in a table of hashes, nor matched across releases); tokens are long random
/// strings, so guessing one from its checksum is not feasible either way.
fn checksum(release: &Release, text: &str, extra: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let key = format!("runnerctl checksum {}/{}", release.namespace, release.name);
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(text.as_bytes());
    mac.update(extra);
    hex(&mac.finalize().into_bytes())
}

/// Bytes as lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The checksums the pod template carries, so that the pod restarts when they change: of the
/// ConfigMap (its rendered text and the scripts added to it), and of the Secret the runner
/// reads (`secret_text` when runnerctl renders it, else the name of the user's Secret, as
/// runnerctl cannot see its data offline).
fn checksums(
    release: &Release,
    configmap_text: &str,
    secret_text: Option<&str>,
    secret_name: Option<&str>,
) -> serde_json::Map<String, Value> {
    let mut checksums = serde_json::Map::new();
    checksums.insert(
        "configmap".into(),
        checksum(release, configmap_text, scripts_digest()).into(),
    );
    if let Some(name) = secret_name {
        let basis = secret_text.unwrap_or(name);
        checksums.insert("secrets".into(), checksum(release, basis, &[]).into());
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
    // Every template this release may render (one bit each, in the order of TEMPLATES),
    // compiled in one go.
    let used = TEMPLATES
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| templates::may_render(name, release.values.as_json(), &chart))
        .fold(0_u32, |mask, (i, _)| mask | 1 << i);
    templates::compile(used);
    let renders = |name: &str| {
        TEMPLATES
            .iter()
            .position(|(n, _)| *n == name)
            .is_some_and(|i| used & (1 << i) != 0)
    };

    // ConfigMap and Secret first: their checksums go into the pod template.
    let secret_text = if renders("manifests/secret.json.tera") {
        Some(templates::render_template_text(
            "manifests/secret.json.tera",
            &ctx,
        )?)
    } else {
        None
    };
    let secret_text = secret_text.as_ref().map_or("", |t| t.as_str());
    let configmap_text = templates::render_template_text("manifests/configmap.json.tera", &ctx)?;
    let configmap_text = configmap_text.as_str();
    let secret = templates::parse_documents("manifests/secret.json.tera", secret_text)?;
    let mut configmap =
        templates::parse_documents("manifests/configmap.json.tera", configmap_text)?;
    add_scripts(&mut configmap);
    let checksums = checksums(
        release,
        configmap_text,
        (!secret.is_empty()).then_some(secret_text),
        chart.tokens.secret_name.as_deref(),
    );
    ctx.insert("checksums", &checksums);

    let mut objects = Vec::new();
    let mut secret = Some(secret);
    let mut configmap = Some(configmap);
    for (name, _) in TEMPLATES {
        match *name {
            "manifests/secret.json.tera" => objects.extend(secret.take().unwrap_or_default()),
            "manifests/configmap.json.tera" => objects.extend(configmap.take().unwrap_or_default()),
            NAMESPACE_TEMPLATE => {}
            _ if renders(name) => objects.extend(templates::render_template(name, &ctx)?),
            _ => {}
        }
    }
    // The Namespace last: its Pod Security level admits every pod that runs in it.
    if renders(NAMESPACE_TEMPLATE) {
        ctx.insert(
            "podSecurityLevel",
            &namespace_level(release, &chart, &objects),
        );
        objects.extend(templates::render_template(NAMESPACE_TEMPLATE, &ctx)?);
    }
    objects.extend(extra_objects::extra_objects(release)?);
    for o in &objects {
        validate::check(o)?;
    }
    order::sort(&mut objects);
    let secrets = known_secrets(release, &chart, &objects);
    let tags = chart::string_at(release.values.as_json(), "runners.tags").unwrap_or_default();
    let jobs = JobSetup {
        runner: chart.names.fullname.clone(),
        build_mode: chart.jobs.build_mode,
        namespace: chart.jobs.rbac_namespace.clone(),
        namespace_per_job: chart.jobs.namespace_per_job,
        tags: split_tags(&tags),
        job_pod: chart.jobs.job_pod,
    };
    Ok(Manifest {
        objects,
        warnings,
        secrets,
        jobs,
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

const NAMESPACE_TEMPLATE: &str = "manifests/namespace.json.tera";

/// The Pod Security level of the release namespace: the least strict level of the pods that
/// run there, the runner's (from the rendered Deployment) and the job pods when they run there.
fn namespace_level(release: &Release, chart: &chart::Chart, objects: &[Object]) -> Level {
    let runner = objects
        .iter()
        .filter(|o| o.kind() == "Deployment")
        .map(|o| pod_security::assess(&o.value["spec"]["template"]["spec"]).level);
    let jobs = (chart.jobs.rbac_namespace == release.namespace)
        .then_some(chart.jobs.job_pod.assessment.level);
    runner.chain(jobs).min().unwrap_or(Level::Baseline)
}

/// Whether a name (a values key, an environment variable, a TOML key) says its value is
/// secret: token, password, secret, access key, API key, credential.
pub(super) fn sensitive_name(name: &str) -> bool {
    let l = name.to_ascii_lowercase().replace(['_', '-'], "");
    crate::values::path::is_sensitive_key(&l)
        || ["accesskey", "apikey", "credential", "privatekey"]
            .iter()
            .any(|w| l.contains(w))
}

/// The secret values of a release: its tokens, sensitive environment variables
/// (`envVars`, `extraEnv`), credentials in the runner config, and every rendered Secret's
/// values.
fn known_secrets(release: &Release, chart: &chart::Chart, objects: &[Object]) -> SecretValues {
    let mut secrets = SecretValues::default();
    secrets.add(&chart.tokens.runner_token);
    secrets.add(&chart.tokens.registration_token);
    let values = release.values.as_json();
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    if let Some(Value::Array(vars)) = values.get("envVars") {
        for var in vars {
            let name = var.get("name").and_then(Value::as_str).unwrap_or("");
            if sensitive_name(name)
                && let Some(v) = var.get("value").and_then(scalar)
            {
                secrets.add(&v);
            }
        }
    }
    if let Some(Value::Object(env)) = values.get("extraEnv") {
        for (name, v) in env {
            if sensitive_name(name)
                && let Some(v) = scalar(v)
            {
                secrets.add(&v);
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

    /// A template [`templates::may_render`] skips renders nothing for that release; over these
    /// releases each gated template is both skipped and rendered at least once.
    #[test]
    fn templates_skipped_for_a_release_render_nothing_for_it() {
        let releases: &[(&[&str], bool, bool)] = &[
            (&["runnerToken=glrt-x"], false, false),
            (
                &["runners.secret=mine", "serviceAccount.create=false"],
                false,
                false,
            ),
            (
                &[
                    "runnerToken=glrt-x",
                    "rbac.create=true",
                    "metrics.enabled=true",
                    "service.enabled=true",
                    "metrics.serviceMonitor.enabled=true",
                    "sessionServer.enabled=true",
                ],
                true,
                true,
            ),
            (
                &[
                    "runnerToken=glrt-x",
                    "hpa.minReplicas=1",
                    "metrics.enabled=true",
                ],
                true,
                false,
            ),
        ];
        let mut skipped = std::collections::BTreeSet::new();
        let mut rendered = std::collections::BTreeSet::new();
        for (sets, create_namespace, monitoring) in releases {
            let mut r = release(sets);
            r.create_namespace = *create_namespace;
            if *monitoring {
                r.api_versions = vec!["monitoring.coreos.com/v1".into()];
            }
            let chart = chart::Chart::new(&r, &mut Vec::new()).unwrap();
            let mut ctx = templates::context(&r, &chart);
            ctx.insert(
                "checksums",
                &serde_json::json!({"configmap": "c", "secrets": "s"}),
            );
            for (name, _) in TEMPLATES {
                let objects = templates::render_template(name, &ctx).unwrap();
                if templates::may_render(name, r.values.as_json(), &chart) {
                    if !objects.is_empty() {
                        rendered.insert(*name);
                    }
                } else {
                    assert_eq!(objects, vec![], "{name} skipped for {sets:?} but renders");
                    skipped.insert(*name);
                }
            }
        }
        let always = [
            "manifests/configmap.json.tera",
            "manifests/deployment.json.tera",
        ];
        for (name, _) in TEMPLATES {
            assert!(rendered.contains(name), "{name} never rendered");
            assert_eq!(
                skipped.contains(name),
                !always.contains(name),
                "{name}: skipped by some release unless always rendered"
            );
        }
    }

    /// The scripts' digest changes with any byte of any script, and with where a name ends
    /// and its text begins.
    #[test]
    fn the_scripts_digest_covers_every_script() {
        let base = digest_of(SCRIPTS);
        assert_eq!(scripts_digest(), base);
        for (i, (name, text)) in SCRIPTS.iter().enumerate() {
            for at in [0, text.len() / 2, text.len() - 1] {
                let mut changed = text.as_bytes().to_vec();
                changed[at] ^= 1;
                let changed = String::from_utf8(changed).unwrap();
                let mut scripts = SCRIPTS.to_vec();
                scripts[i] = (name, &changed);
                assert_ne!(digest_of(&scripts), base, "{name} at {at}");
            }
        }
        assert_ne!(digest_of(&[("ab", "c")]), digest_of(&[("a", "bc")]));
    }

    /// A `configMaps` entry named like a script replaces that script (even one whose value
    /// reads as `true`), leaves the others in place, and changes the ConfigMap's checksum.
    #[test]
    fn a_configmaps_entry_replaces_the_script_of_its_name() {
        let configmap = |sets: &[&str]| {
            let m = render(&release(&[&["runnerToken=glrt-t"], sets].concat())).unwrap();
            let sum = m
                .objects
                .iter()
                .find(|o| o.kind() == "Deployment")
                .unwrap()
                .value["spec"]["template"]["metadata"]["annotations"]["checksum/configmap"]
                .clone();
            let cm = m.objects.into_iter().find(|o| o.kind() == "ConfigMap");
            (cm.unwrap().value["data"].clone(), sum)
        };
        let (plain, plain_sum) = configmap(&[]);
        for (set, replaced) in [
            ("configMaps.entrypoint=echo mine", "echo mine"),
            ("configMaps.check-live=true", "true"),
        ] {
            let (data, sum) = configmap(&[set]);
            for (key, script) in SCRIPTS {
                let (expected, what) = if set.contains(&format!(".{key}=")) {
                    (replaced, "the entry's text")
                } else {
                    (*script, "the chart's script")
                };
                assert!(data[*key] == expected, "{set}: data.{key} is not {what}");
            }
            assert_ne!(sum, plain_sum, "{set}: the checksum follows the ConfigMap");
        }
        assert_eq!(plain, configmap(&[]).0);
    }

    #[test]
    fn checksums_are_keyed_not_plain_hashes() {
        use sha2::Digest;
        let r = release(&["runnerToken=glrt-CHECKSUM"]);
        let m = render(&r).unwrap();
        let deployment = m.objects.iter().find(|o| o.kind() == "Deployment").unwrap();
        let sum =
            deployment.value["spec"]["template"]["metadata"]["annotations"]["checksum/secrets"]
                .as_str()
                .unwrap()
                .to_string();
        let secret = m.objects.iter().find(|o| o.kind() == "Secret").unwrap();
        let plain: String = sha2::Sha256::digest(serde_json::to_string(&secret.value).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(sum, plain);
        assert_eq!(sum.len(), 64);
        let mut other = release(&["runnerToken=glrt-CHECKSUM"]);
        other.name = "other".into();
        let m2 = render(&other).unwrap();
        let d2 = m2
            .objects
            .iter()
            .find(|o| o.kind() == "Deployment")
            .unwrap();
        assert_ne!(
            d2.value["spec"]["template"]["metadata"]["annotations"]["checksum/secrets"], sum,
            "the same token in another release gives another checksum"
        );
        assert_eq!(render(&r).unwrap().objects, m.objects, "deterministic");
    }
}
