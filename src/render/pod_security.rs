//! The Pod Security Standards level a pod needs: the strictest of `restricted`, `baseline` and
//! `privileged` whose checks its spec passes, with the reason for each failed check.
//!
//! The checks follow the Pod Security Standards of Kubernetes (the `latest` version enforced by
//! Pod Security Admission): baseline forbids host namespaces, privileged containers, added
//! capabilities outside the default set, hostPath volumes, host ports, unconfined seccomp and
//! AppArmor profiles, custom SELinux types, unmasked /proc and unsafe sysctls; restricted adds
//! the volume type allowlist, `allowPrivilegeEscalation: false`, `runAsNonRoot: true`, no
//! `runAsUser: 0`, a seccomp profile, and `capabilities.drop: [ALL]`. Tests hold each level
//! against the real admission of the test control plane: a pod assessed at a level is admitted
//! in a namespace enforcing it and rejected in one enforcing the next stricter level.
use serde::Serialize;
use serde_json::Value;

/// A Pod Security Standards level, ordered from the least to the most strict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No restriction.
    Privileged,
    /// Known privilege escalations prevented.
    #[default]
    Baseline,
    /// Hardened pods only.
    Restricted,
}

impl Level {
    /// The name used in namespace labels (`pod-security.kubernetes.io/enforce`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// The next stricter level, if any.
    pub fn stricter(self) -> Option<Level> {
        match self {
            Level::Privileged => Some(Level::Baseline),
            Level::Baseline => Some(Level::Restricted),
            Level::Restricted => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level a pod needs and why it needs no stricter one.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Assessment {
    /// The strictest level the pod passes.
    pub level: Level,
    /// Why the pod fails `baseline` (empty when it passes).
    pub not_baseline: Vec<String>,
    /// Why the pod fails `restricted` (empty when it passes).
    pub not_restricted: Vec<String>,
}

impl Assessment {
    /// The reasons the pod does not pass `level` (empty when it does).
    pub fn reasons_against(&self, level: Level) -> &[String] {
        match level {
            Level::Privileged => &[],
            Level::Baseline => &self.not_baseline,
            Level::Restricted => {
                if self.not_baseline.is_empty() {
                    &self.not_restricted
                } else {
                    &self.not_baseline
                }
            }
        }
    }
}

/// Capabilities baseline allows a container to add.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// SELinux types baseline allows.
const BASELINE_SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Sysctls baseline allows.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// Volume types restricted allows.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
    "image",
];

/// Assess a pod spec (the `spec` of a Pod, or a pod template's `spec`).
pub fn assess(spec: &Value) -> Assessment {
    let mut baseline = Vec::new();
    let mut restricted = Vec::new();
    let pod_ctx = spec.get("securityContext").unwrap_or(&Value::Null);
    pod_checks(spec, pod_ctx, &mut baseline, &mut restricted);
    for (kind, container) in containers(spec) {
        let name = named(container.get("name").and_then(Value::as_str).unwrap_or(""));
        let place = format!("{kind} \"{name}\"");
        container_checks(&place, container, pod_ctx, &mut baseline, &mut restricted);
    }
    let level = if !baseline.is_empty() {
        Level::Privileged
    } else if !restricted.is_empty() {
        Level::Baseline
    } else {
        Level::Restricted
    };
    Assessment {
        level,
        not_baseline: baseline,
        not_restricted: restricted,
    }
}

/// Every container of the spec with its kind: init, regular, ephemeral.
fn containers(spec: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    [
        ("initContainer", "initContainers"),
        ("container", "containers"),
        ("ephemeralContainer", "ephemeralContainers"),
    ]
    .into_iter()
    .flat_map(move |(kind, field)| items(spec, field).map(move |c| (kind, c)))
}

/// A name from the pod as reasons show it: one that looks like a token is never echoed, and
/// control characters are escaped (reasons are printed in YAML comments).
fn named(s: &str) -> std::borrow::Cow<'_, str> {
    super::yaml::one_line(crate::secret::redact_token(s))
}

/// The items of the list at `field` of `v` (none when it is not a list).
fn items<'a>(v: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    v.get(field).and_then(Value::as_array).into_iter().flatten()
}

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// The pod-level checks: host namespaces, volumes, sysctls, the pod's profiles and user.
fn pod_checks(spec: &Value, ctx: &Value, baseline: &mut Vec<String>, restricted: &mut Vec<String>) {
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(spec.get(field)) {
            baseline.push(format!("pod: {field}: true"));
        }
    }
    for volume in items(spec, "volumes") {
        let name = named(volume.get("name").and_then(Value::as_str).unwrap_or(""));
        let kinds = volume
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str());
        for kind in kinds.filter(|k| *k != "name") {
            if kind == "hostPath" {
                baseline.push(format!("pod: volume \"{name}\" is a hostPath volume"));
            } else if !RESTRICTED_VOLUMES.contains(&kind) {
                restricted.push(format!("pod: volume \"{name}\" has type {kind}"));
            }
        }
    }
    for sysctl in items(ctx, "sysctls") {
        let name = sysctl.get("name").and_then(Value::as_str).unwrap_or("");
        if !SAFE_SYSCTLS.contains(&name) {
            baseline.push(format!("pod: sysctl {} is not a safe sysctl", named(name)));
        }
    }
    profile_checks("pod", ctx, baseline);
    if ctx.get("runAsUser").and_then(Value::as_i64) == Some(0) {
        restricted.push("pod: runAsUser: 0".to_string());
    }
}

/// The profile checks that apply to the pod and to each container: seccomp, AppArmor, SELinux.
fn profile_checks(place: &str, ctx: &Value, baseline: &mut Vec<String>) {
    if str_at(ctx, &["seccompProfile", "type"]) == Some("Unconfined") {
        baseline.push(format!("{place}: seccompProfile.type: Unconfined"));
    }
    if str_at(ctx, &["appArmorProfile", "type"]) == Some("Unconfined") {
        baseline.push(format!("{place}: appArmorProfile.type: Unconfined"));
    }
    if let Some(selinux) = ctx.get("seLinuxOptions") {
        let kind = str_at(selinux, &["type"]).unwrap_or("");
        if !BASELINE_SELINUX_TYPES.contains(&kind) {
            baseline.push(format!("{place}: seLinuxOptions.type: {}", named(kind)));
        }
        for field in ["user", "role"] {
            if str_at(selinux, &[field]).is_some_and(|v| !v.is_empty()) {
                baseline.push(format!("{place}: seLinuxOptions.{field} is set"));
            }
        }
    }
}

/// The checks of one container, with the pod's security context for the fields it defaults.
fn container_checks(
    place: &str,
    container: &Value,
    pod_ctx: &Value,
    baseline: &mut Vec<String>,
    restricted: &mut Vec<String>,
) {
    let ctx = container.get("securityContext").unwrap_or(&Value::Null);
    if is_true(ctx.get("privileged")) {
        baseline.push(format!("{place}: privileged: true"));
    }
    let caps = ctx.get("capabilities").unwrap_or(&Value::Null);
    let list = |field: &str| -> Vec<String> {
        items(caps, field)
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    for cap in list("add") {
        if !BASELINE_CAPABILITIES.contains(&cap.as_str()) {
            baseline.push(format!("{place}: capability {} added", named(&cap)));
        } else if cap != "NET_BIND_SERVICE" {
            restricted.push(format!("{place}: capability {cap} added"));
        }
    }
    if !list("drop").iter().any(|c| c == "ALL") {
        restricted.push(format!("{place}: capabilities.drop does not include ALL"));
    }
    for port in items(container, "ports") {
        if port.get("hostPort").and_then(Value::as_i64).unwrap_or(0) != 0 {
            baseline.push(format!("{place}: hostPort set"));
        }
    }
    if str_at(ctx, &["procMount"]).is_some_and(|m| m != "Default") {
        baseline.push(format!("{place}: procMount is not Default"));
    }
    profile_checks(place, ctx, baseline);
    if ctx.get("allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false) {
        restricted.push(format!("{place}: allowPrivilegeEscalation is not false"));
    }
    let non_root = ctx
        .get("runAsNonRoot")
        .or_else(|| pod_ctx.get("runAsNonRoot"))
        .and_then(Value::as_bool);
    if non_root != Some(true) {
        restricted.push(format!(
            "{place}: runAsNonRoot is not true (pod or container)"
        ));
    }
    if ctx.get("runAsUser").and_then(Value::as_i64) == Some(0) {
        restricted.push(format!("{place}: runAsUser: 0"));
    }
    let seccomp = str_at(ctx, &["seccompProfile", "type"])
        .or_else(|| str_at(pod_ctx, &["seccompProfile", "type"]));
    if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
        restricted.push(format!(
            "{place}: no seccompProfile of type RuntimeDefault or Localhost (pod or container)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locked_down() -> Value {
        json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "build", "image": "alpine", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
            "volumes": [{"name": "repo", "emptyDir": {}}],
        })
    }

    /// Replace the value at `pointer`, or add it to its parent object.
    fn set(pod: &mut Value, pointer: &str, value: &Value) {
        if let Some(slot) = pod.pointer_mut(pointer) {
            *slot = value.clone();
            return;
        }
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        let parent = pod
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{pointer}"));
        parent[field] = value.clone();
    }

    #[test]
    fn a_locked_down_pod_is_restricted() {
        let a = assess(&locked_down());
        assert_eq!(a.level, Level::Restricted, "{a:?}");
        assert!(a.reasons_against(Level::Restricted).is_empty());
    }

    #[test]
    fn each_restricted_check_lowers_to_baseline() {
        let cases: &[(&str, Value)] = &[
            ("/securityContext/runAsNonRoot", json!(false)),
            ("/securityContext/runAsUser", json!(0)),
            (
                "/containers/0/securityContext/allowPrivilegeEscalation",
                json!(true),
            ),
            (
                "/containers/0/securityContext/capabilities/drop",
                json!(["NET_RAW"]),
            ),
            (
                "/containers/0/securityContext/capabilities/add",
                json!(["CHOWN"]),
            ),
            ("/securityContext/seccompProfile/type", json!("Other")),
            (
                "/volumes/0",
                json!({"name": "n", "nfs": {"server": "s", "path": "/"}}),
            ),
        ];
        each_lowers_to(cases, Level::Baseline);
    }

    /// Each change of the locked-down pod (a value set at a pointer) gives `level`, with one
    /// reason against the next stricter level.
    fn each_lowers_to(cases: &[(&str, Value)], level: Level) {
        let stricter = level.stricter().unwrap();
        for (pointer, value) in cases {
            let mut pod = locked_down();
            set(&mut pod, pointer, value);
            let a = assess(&pod);
            assert_eq!(a.level, level, "{pointer}: {a:?}");
            assert_eq!(a.reasons_against(stricter).len(), 1, "{pointer}: {a:?}");
        }
    }

    #[test]
    fn each_baseline_check_lowers_to_privileged() {
        let cases: &[(&str, Value)] = &[
            ("/containers/0/securityContext/privileged", json!(true)),
            (
                "/containers/0/securityContext/capabilities/add",
                json!(["SYS_ADMIN"]),
            ),
            ("/containers/0/securityContext/procMount", json!("Unmasked")),
            (
                "/containers/0/securityContext/seccompProfile",
                json!({"type": "Unconfined"}),
            ),
            (
                "/containers/0/securityContext/appArmorProfile",
                json!({"type": "Unconfined"}),
            ),
            (
                "/containers/0/ports",
                json!([{"containerPort": 80, "hostPort": 80}]),
            ),
            ("/securityContext/seLinuxOptions", json!({"type": "spc_t"})),
            (
                "/securityContext/sysctls",
                json!([{"name": "kernel.msgmax", "value": "1"}]),
            ),
            ("/hostNetwork", json!(true)),
            (
                "/volumes/0",
                json!({"name": "n", "hostPath": {"path": "/"}}),
            ),
        ];
        each_lowers_to(cases, Level::Privileged);
    }

    #[test]
    fn token_like_names_are_not_echoed() {
        let mut pod = locked_down();
        let token = "glrt-AbCdEfGh1234567890";
        pod["containers"][0]["securityContext"]["capabilities"]["add"] = json!([token]);
        let a = assess(&pod);
        assert_eq!(
            a.not_baseline,
            ["container \"build\": capability <redacted> added"]
        );
    }

    #[test]
    fn names_with_newlines_stay_on_one_line() {
        let mut pod = locked_down();
        pod["volumes"][0] = json!({"name": "a\nkind: Evil", "hostPath": {"path": "/"}});
        let a = assess(&pod);
        assert_eq!(
            a.not_baseline,
            ["pod: volume \"\"a\\nkind: Evil\"\" is a hostPath volume"]
        );
    }

    #[test]
    fn a_pod_without_settings_is_baseline() {
        let a = assess(&json!({"containers": [{"name": "c", "image": "alpine"}]}));
        assert_eq!(a.level, Level::Baseline);
        assert_eq!(a.reasons_against(Level::Restricted).len(), 4, "{a:?}");
    }
}
