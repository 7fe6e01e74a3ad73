//! The pod the runner creates for a CI job, derived from the rendered `runners.config` the way
//! GitLab Runner's Kubernetes executor builds it: an `init-permissions` init container (helper
//! image), the `build` container (the job's image), the `helper` container and one service
//! container (`svc-0`); each with the security context the config gives it (its own
//! `*_container_security_context` over the `[runners.kubernetes]` defaults: `privileged`,
//! `allow_privilege_escalation`, `cap_add`/`cap_drop` after the executor's default drop of
//! `NET_RAW`), the pod security context, the config's volumes mounted in every container next
//! to the executor's own `repo`, `scripts` and `logs` emptyDirs, and the config's `environment`
//! in the build and service containers.
//!
//! Images the job chooses (`image:`, `services:`) are the build mode's (its jobs name them),
//! else the config's `image` and first `services` entry, else placeholders that say so.
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::build_mode::BuildMode;
use super::pod_security::{self, Assessment};

/// The helper image the runner uses unless `helper_image` is set (its version follows the
/// runner image of [`DEFAULT_IMAGE_TAG`](super::DEFAULT_IMAGE_TAG)).
pub const DEFAULT_HELPER_IMAGE: &str =
    "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v18.9.0";

/// Stands for the job's `image:` when neither the config nor the build mode names one.
pub const JOB_IMAGE_PLACEHOLDER: &str = "job-image.invalid/from-gitlab-ci:image";
/// Stands for a `services:` entry of the job when neither the config nor the mode names one.
pub const SERVICE_IMAGE_PLACEHOLDER: &str = "job-service.invalid/from-gitlab-ci:services";

/// The preview of a job pod and the Pod Security level it needs. The pod itself is built when
/// first asked for ([`JobPod::pod`]): a render needs only the assessment.
#[derive(Debug, Clone, Default)]
pub struct JobPod {
    /// Its Pod Security assessment.
    pub assessment: Assessment,
    /// What the pod is built from.
    source: Option<PodSource>,
    /// The pod, once built.
    pod: OnceLock<Value>,
}

/// The `[[runners]]` entry, namespace and build mode a job pod is built from.
#[derive(Clone)]
struct PodSource {
    runner: toml::Table,
    namespace: String,
    mode: Option<BuildMode>,
}

/// Without the runner entry, which holds its token.
impl std::fmt::Debug for PodSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodSource")
            .field("namespace", &self.namespace)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl JobPod {
    /// The Pod object (v1); `null` for a `JobPod::default()`.
    pub fn pod(&self) -> &Value {
        self.pod.get_or_init(|| match &self.source {
            Some(s) => pod(&s.runner, &s.namespace, s.mode),
            None => Value::Null,
        })
    }
}

/// The executor's container security context for one container: `own` (the container's
/// `*_container_security_context` table) over the `[runners.kubernetes]` defaults `k`.
fn container_security_context(k: &toml::Table, own: Option<&toml::Value>) -> Value {
    let own = own.and_then(toml::Value::as_table);
    let get = |key: &str| own.and_then(|t| t.get(key));
    let mut ctx = Map::new();
    // Capabilities: the executor drops NET_RAW, then cap_add / cap_drop; a container's own
    // `capabilities.add` / `.drop` replace the merged lists.
    let mut enabled: Vec<(String, bool)> = vec![("NET_RAW".into(), false)];
    let mut set = |name: &str, add: bool| match enabled.iter_mut().find(|(n, _)| n == name) {
        Some(e) => e.1 = add,
        None => enabled.push((name.to_string(), add)),
    };
    for (key, add) in [("cap_add", true), ("cap_drop", false)] {
        for cap in strings(k.get(key)) {
            set(&cap, add);
        }
    }
    let mut add: Vec<Value> = enabled.iter().filter(|e| e.1).map(|e| json!(e.0)).collect();
    let mut drop: Vec<Value> = enabled
        .iter()
        .filter(|e| !e.1)
        .map(|e| json!(e.0))
        .collect();
    if let Some(caps) = get("capabilities").and_then(toml::Value::as_table) {
        if caps.contains_key("add") {
            add = strings(caps.get("add"))
                .into_iter()
                .map(Value::from)
                .collect();
        }
        if caps.contains_key("drop") {
            drop = strings(caps.get("drop"))
                .into_iter()
                .map(Value::from)
                .collect();
        }
    }
    let mut caps = Map::new();
    if !add.is_empty() {
        caps.insert("add".into(), Value::Array(add));
    }
    if !drop.is_empty() {
        caps.insert("drop".into(), Value::Array(drop));
    }
    if !caps.is_empty() {
        ctx.insert("capabilities".into(), Value::Object(caps));
    }
    for (field, key) in [
        ("privileged", "privileged"),
        ("allowPrivilegeEscalation", "allow_privilege_escalation"),
    ] {
        if let Some(v) = get(key)
            .or_else(|| k.get(key))
            .and_then(toml::Value::as_bool)
        {
            ctx.insert(field.into(), json!(v));
        }
    }
    if let Some(own) = own {
        copy_ids(&mut ctx, own);
        copy(
            &mut ctx,
            own,
            &[("readOnlyRootFilesystem", "read_only_root_filesystem")],
            boolean,
        );
        copy(&mut ctx, own, &[("procMount", "proc_mount")], |v| {
            let unmasked = v.as_str()?.eq_ignore_ascii_case("unmasked");
            Some(Value::from(if unmasked { "Unmasked" } else { "Default" }))
        });
        copy_profiles(&mut ctx, own);
    }
    Value::Object(ctx)
}

/// Copy each value of `own` at a TOML key to its JSON field (`(field, key)` pairs), as `read`
/// converts it; a value `read` does not take (not of the type the field needs) is left out.
fn copy(
    ctx: &mut Map<String, Value>,
    own: &toml::Table,
    fields: &[(&str, &str)],
    read: impl Fn(&toml::Value) -> Option<Value>,
) {
    for (field, key) in fields {
        if let Some(v) = own.get(*key).and_then(&read) {
            ctx.insert((*field).into(), v);
        }
    }
}

/// An integer, for [`copy`].
fn integer(v: &toml::Value) -> Option<Value> {
    v.as_integer().map(Value::from)
}

/// A boolean, for [`copy`].
fn boolean(v: &toml::Value) -> Option<Value> {
    v.as_bool().map(Value::from)
}

/// A string, for [`copy`].
fn string(v: &toml::Value) -> Option<Value> {
    v.as_str().map(Value::from)
}

/// `run_as_user`, `run_as_group`, `run_as_non_root` and `selinux_type` of a security context.
fn copy_ids(ctx: &mut Map<String, Value>, own: &toml::Table) {
    let ids = [("runAsUser", "run_as_user"), ("runAsGroup", "run_as_group")];
    copy(ctx, own, &ids, integer);
    copy(ctx, own, &[("runAsNonRoot", "run_as_non_root")], boolean);
    copy(ctx, own, &[("seLinuxOptions", "selinux_type")], |v| {
        Some(json!({ "type": v.as_str()? }))
    });
}

/// `seccomp_profile` and `app_armor_profile` of a security context.
fn copy_profiles(ctx: &mut Map<String, Value>, own: &toml::Table) {
    for (field, key) in [
        ("seccompProfile", "seccomp_profile"),
        ("appArmorProfile", "app_armor_profile"),
    ] {
        let Some(profile) = own.get(key).and_then(toml::Value::as_table) else {
            continue;
        };
        let mut p = Map::new();
        let fields = [("type", "type"), ("localhostProfile", "localhost_profile")];
        copy(&mut p, profile, &fields, string);
        ctx.insert(field.into(), Value::Object(p));
    }
}

/// The pod security context (`pod_security_context`), `None` when it sets nothing.
fn pod_security_context(k: &toml::Table) -> Option<Value> {
    let own = k
        .get("pod_security_context")
        .and_then(toml::Value::as_table)?;
    let mut ctx = Map::new();
    copy(&mut ctx, own, &[("fsGroup", "fs_group")], integer);
    copy(
        &mut ctx,
        own,
        &[("supplementalGroups", "supplemental_groups")],
        |v| {
            let groups = v.as_array()?.iter().filter_map(toml::Value::as_integer);
            Some(Value::from(groups.collect::<Vec<i64>>()))
        },
    );
    copy_ids(&mut ctx, own);
    copy_profiles(&mut ctx, own);
    (!ctx.is_empty()).then_some(Value::Object(ctx))
}

fn strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The config's volumes and the mounts every container gets, then the executor's own; the
/// mounts only in full detail (an assessment does not read them).
fn volumes(k: &toml::Table, detail: Detail) -> (Vec<Value>, Vec<Value>) {
    let full = detail == Detail::Full;
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let config = k.get("volumes").and_then(toml::Value::as_table);
    type Source = fn(&toml::Table) -> Value;
    let kinds: [(&str, Source); 7] = [
        ("host_path", |t| {
            let path = str_of(t, "host_path").or_else(|| str_of(t, "mount_path"));
            json!({ "hostPath": { "path": path } })
        }),
        (
            "pvc",
            |t| json!({ "persistentVolumeClaim": { "claimName": str_of(t, "name") } }),
        ),
        (
            "config_map",
            |t| json!({ "configMap": { "name": str_of(t, "name") } }),
        ),
        (
            "secret",
            |t| json!({ "secret": { "secretName": str_of(t, "name") } }),
        ),
        ("empty_dir", |t| {
            let mut dir = Map::new();
            if let Some(m) = str_of(t, "medium") {
                dir.insert("medium".into(), json!(m));
            }
            if let Some(s) = str_of(t, "size_limit") {
                dir.insert("sizeLimit".into(), json!(s));
            }
            object([("emptyDir", Value::Object(dir))])
        }),
        (
            "csi",
            |t| json!({ "csi": { "driver": str_of(t, "driver") } }),
        ),
        (
            "nfs",
            |t| json!({ "nfs": { "server": str_of(t, "server"), "path": str_of(t, "host_path") } }),
        ),
    ];
    for (kind, source) in kinds {
        let entries = config
            .and_then(|c| c.get(kind))
            .and_then(toml::Value::as_array);
        for entry in entries
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_table)
        {
            let name = str_of(entry, "name").unwrap_or_default();
            let mut volume = source(entry);
            volume["name"] = json!(name);
            volumes.push(volume);
            if !full {
                continue;
            }
            let mut mount = json!({ "name": name, "mountPath": str_of(entry, "mount_path") });
            if let Some(sub) = str_of(entry, "sub_path") {
                mount["subPath"] = json!(sub);
            }
            if entry.get("read_only").and_then(toml::Value::as_bool) == Some(true) {
                mount["readOnly"] = json!(true);
            }
            mounts.push(mount);
        }
    }
    for (name, path) in [
        ("repo", "/builds"),
        ("scripts", "/scripts-0-0"),
        ("logs", "/logs-0-0"),
    ] {
        volumes.push(json!({ "name": name, "emptyDir": {} }));
        if full {
            mounts.push(json!({ "name": name, "mountPath": path }));
        }
    }
    (volumes, mounts)
}

/// A JSON object of these fields, in this order.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn str_of<'a>(t: &'a toml::Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(toml::Value::as_str)
}

/// The job pod of a runner config: `runner` is the `[[runners]]` entry of the final config,
/// `namespace` where job pods go, `mode` the build mode if any. Environment values are as
/// configured: see [`mask_environment`](crate::secret::mask_environment).
pub fn job_pod(runner: toml::Table, namespace: &str, mode: Option<BuildMode>) -> JobPod {
    // The assessment reads the security settings, volumes and names of the pod and its
    // containers, never their images, mounts or environment: it is made from a spec without
    // them (a test checks it equals the full pod's).
    let assessment = pod_security::assess(&spec(&runner, mode, Detail::Security));
    JobPod {
        assessment,
        source: Some(PodSource {
            runner,
            namespace: namespace.to_string(),
            mode,
        }),
        pod: OnceLock::new(),
    }
}

/// How much of a job pod's spec to build.
#[derive(Clone, Copy, PartialEq)]
enum Detail {
    /// Everything.
    Full,
    /// What a Pod Security assessment reads: no images, mounts or environment.
    Security,
}

/// The job pod (see [`job_pod`]).
fn pod(runner: &toml::Table, namespace: &str, mode: Option<BuildMode>) -> Value {
    object([
        ("apiVersion", Value::from("v1")),
        ("kind", Value::from("Pod")),
        (
            "metadata",
            json!({
                "generateName": "runner-preview-project-0-concurrent-0-",
                "namespace": namespace,
                "labels": { "pod": "runner-preview-project-0-concurrent-0" },
            }),
        ),
        ("spec", spec(runner, mode, Detail::Full)),
    ])
}

/// The job pod's spec, in the detail asked for.
fn spec(runner: &toml::Table, mode: Option<BuildMode>, detail: Detail) -> Value {
    let full = detail == Detail::Full;
    let empty = toml::Table::new();
    let k = runner
        .get("kubernetes")
        .and_then(toml::Value::as_table)
        .unwrap_or(&empty);
    let build_image = mode
        .and_then(BuildMode::build_image)
        .or_else(|| str_of(k, "image"))
        .unwrap_or(JOB_IMAGE_PLACEHOLDER);
    let helper_image = str_of(k, "helper_image").unwrap_or(DEFAULT_HELPER_IMAGE);
    let configured_service = k
        .get("services")
        .and_then(toml::Value::as_array)
        .and_then(|s| s.first())
        .and_then(toml::Value::as_table)
        .and_then(|s| str_of(s, "name"));
    let service_image = mode
        .and_then(BuildMode::service_image)
        .map(|s| s.0)
        .or(configured_service)
        .unwrap_or(SERVICE_IMAGE_PLACEHOLDER);
    let env: Vec<Value> = strings(runner.get("environment").filter(|_| full))
        .iter()
        .map(|entry| {
            let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
            json!({ "name": name, "value": value })
        })
        .collect();
    let (volumes, mounts) = volumes(k, detail);
    let context = |own: &str| container_security_context(k, k.get(own));
    // Built from parts (moved, or cloned where shared), not with `json!`, which would copy
    // each part again by serialising it.
    let container = |name: &str, image: &str, own: &str, env: &[Value]| {
        if !full {
            return object([
                ("name", Value::from(name)),
                ("securityContext", context(own)),
            ]);
        }
        let mut c = object([
            ("name", Value::from(name)),
            ("image", Value::from(image)),
            ("securityContext", context(own)),
            ("volumeMounts", Value::Array(mounts.clone())),
        ]);
        if !env.is_empty() {
            c["env"] = Value::Array(env.to_vec());
        }
        c
    };
    let mut spec = object([
        ("restartPolicy", Value::from("Never")),
        (
            "initContainers",
            Value::Array(vec![container(
                "init-permissions",
                helper_image,
                "init_permissions_container_security_context",
                &[],
            )]),
        ),
        (
            "containers",
            Value::Array(vec![
                container(
                    "build",
                    build_image,
                    "build_container_security_context",
                    &env,
                ),
                container(
                    "helper",
                    helper_image,
                    "helper_container_security_context",
                    &[],
                ),
                container(
                    "svc-0",
                    service_image,
                    "service_container_security_context",
                    &env,
                ),
            ]),
        ),
        ("volumes", Value::Array(volumes)),
    ]);
    if let Some(ctx) = pod_security_context(k) {
        spec["securityContext"] = ctx;
    }
    if let Some(sa) = str_of(k, "service_account").filter(|s| !s.is_empty()) {
        spec["serviceAccountName"] = json!(sa);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::pod_security::Level;

    fn runner(kubernetes: &str) -> toml::Table {
        let t: toml::Table =
            toml::from_str(&format!("[[runners]]\n[runners.kubernetes]\n{kubernetes}")).unwrap();
        t["runners"][0].as_table().unwrap().clone()
    }

    fn pod_of(mode: BuildMode) -> JobPod {
        let text = mode
            .merge_into("[[runners]]\n[runners.kubernetes]\n")
            .unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        job_pod(
            t["runners"][0].as_table().unwrap().clone(),
            "ci",
            Some(mode),
        )
    }

    #[test]
    fn each_mode_gets_its_level() {
        let levels = [
            (BuildMode::Dind, Level::Privileged),
            (BuildMode::DindTls, Level::Privileged),
            (BuildMode::BuildkitRootless, Level::Privileged),
            (BuildMode::None, Level::Restricted),
        ];
        for (mode, level) in levels {
            let p = pod_of(mode);
            assert_eq!(p.assessment.level, level, "{mode}: {:?}", p.assessment);
        }
        // BuildKit: nothing privileged, only the unconfined profiles keep it from baseline.
        let reasons = pod_of(BuildMode::BuildkitRootless).assessment.not_baseline;
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons.iter().all(|r| r.starts_with("container \"build\"")),
            "{reasons:?}"
        );
    }

    #[test]
    fn the_default_config_is_baseline_and_drops_net_raw() {
        let p = job_pod(runner("image = \"alpine\"\n"), "ci", None);
        assert_eq!(p.assessment.level, Level::Baseline);
        let build = &p.pod()["spec"]["containers"][0];
        assert_eq!(build["image"], "alpine");
        assert_eq!(
            build["securityContext"]["capabilities"],
            json!({"drop": ["NET_RAW"]})
        );
        assert_eq!(
            p.pod()["spec"]["containers"][2]["image"],
            SERVICE_IMAGE_PLACEHOLDER
        );
    }

    #[test]
    fn container_contexts_override_the_defaults() {
        let p = job_pod(
            runner(
                "privileged = true\ncap_add = [\"SYS_ADMIN\"]\n\
                 [runners.kubernetes.helper_container_security_context]\nprivileged = false\n\
                 [runners.kubernetes.helper_container_security_context.capabilities]\ndrop = [\"ALL\"]\n",
            ),
            "ci",
            None,
        );
        let containers = &p.pod()["spec"]["containers"];
        assert_eq!(containers[0]["securityContext"]["privileged"], true);
        assert_eq!(
            containers[0]["securityContext"]["capabilities"],
            json!({"add": ["SYS_ADMIN"], "drop": ["NET_RAW"]})
        );
        assert_eq!(containers[1]["securityContext"]["privileged"], false);
        assert_eq!(
            containers[1]["securityContext"]["capabilities"]["drop"],
            json!(["ALL"])
        );
    }

    /// The assessment made from the spec without images, mounts and environment is the full
    /// pod's, for every build mode and for configs that touch each thing it checks.
    #[test]
    fn the_assessment_is_the_full_pods() {
        let configs = [
            "",
            "image = \"alpine\"\nhelper_image = \"h\"\nservice_account = \"sa\"\n",
            "privileged = true\ncap_add = [\"SYS_ADMIN\", \"NET_RAW\"]\ncap_drop = [\"ALL\"]\n",
            "allow_privilege_escalation = false\n\
             [runners.kubernetes.build_container_security_context]\nrun_as_user = 0\n\
             run_as_non_root = false\nproc_mount = \"Unmasked\"\n\
             [runners.kubernetes.build_container_security_context.capabilities]\nadd = [\"SYS_TIME\"]\n",
            "[runners.kubernetes.pod_security_context]\nrun_as_user = 0\nfs_group = 1\n\
             [runners.kubernetes.pod_security_context.seccomp_profile]\ntype = \"Unconfined\"\n",
            "[runners.kubernetes.helper_container_security_context]\nprivileged = true\n\
             [runners.kubernetes.helper_container_security_context.seccomp_profile]\ntype = \"RuntimeDefault\"\n",
            "[[runners.kubernetes.volumes.host_path]]\nname = \"docker\"\nmount_path = \"/var/run/docker.sock\"\n\
             [[runners.kubernetes.volumes.empty_dir]]\nname = \"e\"\nmount_path = \"/e\"\nmedium = \"Memory\"\n\
             [[runners.kubernetes.volumes.secret]]\nname = \"s\"\nmount_path = \"/s\"\n",
        ];
        let mut pods: Vec<JobPod> = configs
            .iter()
            .map(|c| job_pod(runner(c), "ci", None))
            .collect();
        pods.extend(BuildMode::ALL.iter().map(|m| pod_of(*m)));
        let mut levels = std::collections::BTreeSet::new();
        for p in &pods {
            let full = pod_security::assess(&p.pod()["spec"]);
            assert_eq!(p.assessment, full, "{}", p.pod());
            levels.insert(p.assessment.level);
        }
        assert_eq!(levels.len(), 3, "every level met: {levels:?}");
    }

    #[test]
    fn secret_environment_values_are_masked() {
        let t: toml::Table =
            toml::from_str("[[runners]]\nenvironment = [\"A=1\", \"AWS_SECRET_ACCESS_KEY=xyz\"]\n")
                .unwrap();
        let runner = t["runners"][0].as_table().unwrap();
        let mut pod = job_pod(runner.clone(), "ci", None).pod().clone();
        assert!(pod.to_string().contains("xyz"));
        crate::secret::mask_environment(&mut pod);
        let masked = pod.to_string();
        assert!(
            !masked.contains("xyz") && masked.contains("\"A\",\"value\":\"1\""),
            "{masked}"
        );
    }
}
