//! Build modes: how CI jobs build container images, picked with `runnerctl.buildMode` (or
//! `--build-mode`). Each mode is a set of `[runners.kubernetes]` settings merged into the
//! user's `runners.config`; a setting the config already has with another value is an error
//! naming both. Without a mode the config is left as written (what the chart renders).
//!
//! | mode | job pods | build tool |
//! |------|----------|------------|
//! | `dind` | privileged | `docker:27` with a `docker:27-dind` service, tcp 2375 without TLS |
//! | `dind-tls` | privileged | the same over TLS (2376), client certs on an in-memory volume |
//! | `buildkit-rootless` | unprivileged, uid 1000, unconfined seccomp and AppArmor | `moby/buildkit:rootless` |
//! | `none` | non-root, RuntimeDefault seccomp, all capabilities dropped, no escalation | none |
use serde::Serialize;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

use super::pod_security::{Assessment, Level};
use super::toml_text::{self, key_indent, set_key_indent};

/// The values key that picks the mode.
pub const KEY: &str = "runnerctl.buildMode";

/// How CI jobs build container images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildMode {
    /// Docker-in-Docker without TLS: privileged job pods, `DOCKER_HOST=tcp://docker:2375`.
    Dind,
    /// Docker-in-Docker with TLS: privileged job pods, client certificates shared through an
    /// in-memory volume at `/certs/client`, `DOCKER_HOST=tcp://docker:2376`.
    DindTls,
    /// Rootless BuildKit in the build container: nothing privileged; the build container runs
    /// as uid 1000 with unconfined seccomp and AppArmor profiles and its state on an emptyDir.
    BuildkitRootless,
    /// No image builds: every container non-root, RuntimeDefault seccomp, no privilege
    /// escalation, all capabilities dropped.
    None,
}

/// An unknown mode name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown build mode; expected one of: {}", BuildMode::NAMES.join(", "))]
pub struct UnknownMode;

impl std::str::FromStr for BuildMode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, UnknownMode> {
        BuildMode::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or(UnknownMode)
    }
}

impl std::fmt::Display for BuildMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A setting of `runners.config` (or of the values) that contradicts the build mode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{source_key} sets {key} = {configured}, but {KEY} \"{mode}\" needs {key} = {wanted}; \
     remove the setting or choose another build mode"
)]
pub struct Conflict {
    /// Where the contradicting setting is: `runners.config` or a values key.
    pub source_key: String,
    /// The setting, as a TOML key path (`runners.kubernetes.privileged`).
    pub key: String,
    /// What the config sets.
    pub configured: String,
    /// The mode.
    pub mode: BuildMode,
    /// What the mode needs.
    pub wanted: String,
}

/// A container security context that locks the container down (mode `none`).
macro_rules! locked_down_container {
    ($section:literal) => {
        concat!(
            "[",
            $section,
            "]\nrun_as_non_root = true\nallow_privilege_escalation = false\n[",
            $section,
            ".capabilities]\ndrop = [\"ALL\"]\n"
        )
    };
}

impl BuildMode {
    /// Every mode, in documentation order.
    pub const ALL: [BuildMode; 4] = [
        BuildMode::Dind,
        BuildMode::DindTls,
        BuildMode::BuildkitRootless,
        BuildMode::None,
    ];

    /// The modes' names, as written in values and flags.
    pub const NAMES: [&'static str; 4] = ["dind", "dind-tls", "buildkit-rootless", "none"];

    /// The mode's name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The image of the build container that builds images in this mode (the job's `image:`).
    pub fn build_image(self) -> Option<&'static str> {
        match self {
            BuildMode::Dind | BuildMode::DindTls => Some("docker:27"),
            BuildMode::BuildkitRootless => Some("moby/buildkit:rootless"),
            BuildMode::None => None,
        }
    }

    /// The service image the mode's jobs declare (`services:`), with its alias.
    pub fn service_image(self) -> Option<(&'static str, &'static str)> {
        match self {
            BuildMode::Dind | BuildMode::DindTls => Some(("docker:27-dind", "docker")),
            BuildMode::BuildkitRootless | BuildMode::None => None,
        }
    }

    /// The CI variables the mode's jobs need.
    pub fn variables(self) -> &'static [(&'static str, &'static str)] {
        match self {
            BuildMode::Dind => &[
                ("DOCKER_HOST", "tcp://docker:2375"),
                ("DOCKER_TLS_CERTDIR", ""),
            ],
            BuildMode::DindTls => &[
                ("DOCKER_HOST", "tcp://docker:2376"),
                ("DOCKER_TLS_CERTDIR", "/certs"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/certs/client"),
            ],
            BuildMode::BuildkitRootless => {
                &[("BUILDKITD_FLAGS", "--oci-worker-no-process-sandbox")]
            }
            BuildMode::None => &[],
        }
    }

    /// Whether the mode's job pods run privileged.
    pub fn privileged(self) -> bool {
        matches!(self, BuildMode::Dind | BuildMode::DindTls)
    }

    /// The `[runners.kubernetes]` settings of the mode, as TOML below that table.
    pub fn settings(self) -> &'static str {
        match self {
            BuildMode::Dind => "privileged = true\n",
            BuildMode::DindTls => {
                "privileged = true\n\
                 [[volumes.empty_dir]]\nname = \"docker-certs\"\nmount_path = \"/certs/client\"\nmedium = \"Memory\"\n"
            }
            BuildMode::BuildkitRootless => {
                "privileged = false\n\
                 [build_container_security_context]\nrun_as_user = 1000\nrun_as_group = 1000\n\
                 [build_container_security_context.seccomp_profile]\ntype = \"Unconfined\"\n\
                 [build_container_security_context.app_armor_profile]\ntype = \"Unconfined\"\n\
                 [[volumes.empty_dir]]\nname = \"buildkit-state\"\nmount_path = \"/home/user/.local/share/buildkit\"\n"
            }
            BuildMode::None => concat!(
                "privileged = false\nallow_privilege_escalation = false\n",
                "[pod_security_context]\nrun_as_non_root = true\nrun_as_user = 1000\n",
                "run_as_group = 1000\nfs_group = 1000\n",
                "[pod_security_context.seccomp_profile]\ntype = \"RuntimeDefault\"\n",
                locked_down_container!("build_container_security_context"),
                locked_down_container!("helper_container_security_context"),
                locked_down_container!("service_container_security_context"),
                locked_down_container!("init_permissions_container_security_context"),
            ),
        }
    }

    /// Check the job pod the merged config gives against what the mode promises: with `none`
    /// it passes the restricted Pod Security level, with `buildkit-rootless` no container is
    /// privileged. `Err` lists what the config added that breaks the promise.
    pub fn check_pod(self, assessment: &Assessment) -> Result<(), PodConflict> {
        let broken: Vec<String> = match self {
            BuildMode::None => assessment.reasons_against(Level::Restricted).to_vec(),
            BuildMode::BuildkitRootless => assessment
                .not_baseline
                .iter()
                .filter(|r| r.ends_with("privileged: true"))
                .cloned()
                .collect(),
            BuildMode::Dind | BuildMode::DindTls => Vec::new(),
        };
        if broken.is_empty() {
            Ok(())
        } else {
            Err(PodConflict { mode: self, broken })
        }
    }

    /// The mode's settings merged into `[runners.kubernetes]` of the one `[[runners]]` of the
    /// config `text` (a document the caller has parsed); the user's layout and comments stay.
    pub fn merge_into(self, text: &str) -> Result<String, MergeError> {
        let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            MergeError::Toml(format!("runners.config: {}", e.message().trim()))
        })?;
        let settings: DocumentMut = self.settings().parse().expect("mode settings are TOML");
        let runner = toml_text::runner_mut(&mut doc)
            .ok_or_else(|| MergeError::Toml("runners.config: no [[runners]] table".into()))?;
        let kubernetes = runner
            .entry("kubernetes")
            .or_insert_with(|| Item::Table(Table::new()));
        let indent = kubernetes.as_table().map(key_indent).unwrap_or_default();
        let inline = kubernetes.is_inline_table();
        let Some(kubernetes) = kubernetes.as_table_like_mut() else {
            return Err(MergeError::Toml(format!(
                "runners.config: runners.kubernetes is not a table, so build mode \"{self}\" \
                 cannot add its settings; write it as [runners.kubernetes]"
            )));
        };
        let mut merge = Merge { mode: self, indent };
        merge.table(
            kubernetes,
            inline,
            settings.as_table(),
            "runners.kubernetes",
        )?;
        Ok(doc.to_string())
    }
}

/// Settings of `runners.config` that break what the build mode promises about job pods.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "runners.config gives job pods settings that {KEY} \"{mode}\" rules out ({}); remove them \
     or choose another build mode",
    .broken.join("; ")
)]
pub struct PodConflict {
    /// The mode.
    pub mode: BuildMode,
    /// What breaks it, one entry per container setting.
    pub broken: Vec<String>,
}

/// Why the mode's settings could not be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// The config contradicts the mode.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The config's structure does not allow the merge.
    #[error("{0}")]
    Toml(String),
}

struct Merge {
    mode: BuildMode,
    /// The indentation of the keys of the user's `[runners.kubernetes]`.
    indent: String,
}

/// Lay out an item taken from the mode's settings for the user's document: no document
/// position (so it is written after its parent), headers at `indent`, keys two deeper.
fn lay_out(item: &mut Item, indent: &str) {
    match item {
        Item::Table(t) => lay_out_table(t, indent),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| lay_out_table(t, indent)),
        _ => {}
    }
}

fn lay_out_table(table: &mut Table, indent: &str) {
    table.set_position(None);
    table.decor_mut().set_prefix(indent.to_string());
    let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    for key in keys {
        if table.get(&key).is_some_and(Item::is_value) {
            set_key_indent(table, &key, &format!("{indent}  "));
        } else if let Some(child) = table.get_mut(&key) {
            lay_out(child, indent);
        }
    }
}

impl Merge {
    fn conflict(&self, key: &str, configured: String, wanted: String) -> MergeError {
        MergeError::Conflict(Conflict {
            source_key: toml_text::KEY.to_string(),
            key: key.to_string(),
            configured,
            mode: self.mode,
            wanted,
        })
    }

    /// Merge `mode` into `user` at `path`.
    /// `inline`: `user` is an inline table (`kubernetes = { ... }`).
    fn table(
        &mut self,
        user: &mut dyn TableLike,
        inline: bool,
        mode: &Table,
        path: &str,
    ) -> Result<(), MergeError> {
        for (key, wanted) in mode.iter() {
            let here = format!("{path}.{key}");
            match (user.get_mut(key), wanted) {
                (None, wanted) => {
                    let mut item = wanted.clone();
                    lay_out(&mut item, &self.indent);
                    let is_value = item.is_value();
                    if inline {
                        // An inline table takes the mode's tables inline.
                        item = item.into_value().map(Item::Value).unwrap_or_else(|i| i);
                    }
                    user.insert(key, item);
                    if is_value && !inline {
                        set_key_indent(user, key, &self.indent);
                    }
                }
                (Some(have), Item::Value(wanted)) => match have.as_value() {
                    Some(v) if same(v, wanted) => {}
                    _ => return Err(self.conflict(&here, shown(have), shown_value(wanted))),
                },
                (Some(have), Item::Table(wanted)) => {
                    match (have.is_inline_table(), have.as_table_like_mut()) {
                        (inline, Some(have)) => self.table(have, inline, wanted, &here)?,
                        (_, None) => {
                            return Err(self.conflict(&here, shown(have), "a table".into()));
                        }
                    }
                }
                (Some(have), Item::ArrayOfTables(wanted)) => match have.as_array_of_tables_mut() {
                    Some(have) => self.entries(have, wanted, &here)?,
                    None => {
                        return Err(MergeError::Toml(format!(
                            "runners.config: write {here} as [[{here}]] tables so build mode \
                             \"{}\" can add its entry",
                            self.mode
                        )));
                    }
                },
                (Some(_), Item::None) => {}
            }
        }
        Ok(())
    }

    /// Add the mode's volume entries: an entry of the same name must be the same volume, and
    /// no other entry may use its mount path.
    fn entries(
        &mut self,
        user: &mut ArrayOfTables,
        mode: &ArrayOfTables,
        path: &str,
    ) -> Result<(), MergeError> {
        for wanted in mode.iter() {
            let name = wanted.get("name").and_then(Item::as_str).unwrap_or("");
            let mount = wanted
                .get("mount_path")
                .and_then(Item::as_str)
                .unwrap_or("");
            let existing = user
                .iter()
                .position(|t| t.get("name").and_then(Item::as_str) == Some(name));
            if let Some(i) = existing {
                let have = user.get_mut(i).expect("found above");
                let here = format!("{path}[name = \"{name}\"]");
                self.table(have, false, wanted, &here)?;
                continue;
            }
            if let Some(clash) = user
                .iter()
                .find(|t| t.get("mount_path").and_then(Item::as_str) == Some(mount))
            {
                let other = clash.get("name").and_then(Item::as_str).unwrap_or("");
                let other = crate::secret::redact_token(other);
                return Err(self.conflict(
                    &format!("{path}[name = \"{other}\"].mount_path"),
                    format!("\"{mount}\""),
                    format!("a volume named \"{name}\" at \"{mount}\""),
                ));
            }
            let mut entry = wanted.clone();
            lay_out_table(&mut entry, &self.indent);
            user.push(entry);
        }
        Ok(())
    }
}

/// Two TOML values equal in content, whatever their layout.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Integer(a), Value::Integer(b)) => a.value() == b.value(),
        (Value::Float(a), Value::Float(b)) => a.value() == b.value(),
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(a, b)| same(a, b))
        }
        (Value::InlineTable(a), Value::InlineTable(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

/// A configured item as the error shows it: its value without layout, or what it is.
fn shown(item: &Item) -> String {
    match item {
        Item::Value(v) => shown_value(v),
        Item::Table(_) => "a table".into(),
        Item::ArrayOfTables(_) => "an array of tables".into(),
        Item::None => "nothing".into(),
    }
}

/// A configured value as the error shows it; a string that looks like a token is not echoed.
fn shown_value(v: &Value) -> String {
    match v {
        Value::String(s) if crate::secret::looks_like_token(s.value()) => "a string".into(),
        _ => v.clone().decorated("", "").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[[runners]]\n  # jobs\n  [runners.kubernetes]\n    namespace = \"ci\"\n    image = \"alpine\"\n";

    fn kubernetes(text: &str) -> toml::Table {
        let table: toml::Table = toml::from_str(text).unwrap();
        table["runners"][0]["kubernetes"]
            .as_table()
            .unwrap()
            .clone()
    }

    #[test]
    fn names_round_trip() {
        for mode in BuildMode::ALL {
            assert_eq!(mode.name().parse::<BuildMode>(), Ok(mode));
        }
        assert_eq!("kaniko".parse::<BuildMode>(), Err(UnknownMode));
    }

    #[test]
    fn every_mode_merges_into_a_config_and_keeps_it() {
        for mode in BuildMode::ALL {
            let text = mode.merge_into(CONFIG).unwrap();
            assert!(
                text.starts_with("[[runners]]\n  # jobs\n  [runners.kubernetes]\n"),
                "{text}"
            );
            let k = kubernetes(&text);
            assert_eq!(k["namespace"].as_str(), Some("ci"));
            assert_eq!(k["privileged"].as_bool(), Some(mode.privileged()), "{mode}");
            // The settings are all there, and merging again changes nothing.
            let settings: toml::Table = toml::from_str(mode.settings()).unwrap();
            for (key, value) in &settings {
                if key != "volumes" {
                    assert_eq!(&k[key], value, "{mode} {key}");
                }
            }
            assert_eq!(mode.merge_into(&text).unwrap(), text, "{mode}");
        }
    }

    #[test]
    fn volumes_are_appended_to_the_users() {
        let config = format!(
            "{CONFIG}  [[runners.kubernetes.volumes.empty_dir]]\n    name = \"cache\"\n    mount_path = \"/cache\"\n"
        );
        let text = BuildMode::DindTls.merge_into(&config).unwrap();
        let k = kubernetes(&text);
        let dirs = k["volumes"]["empty_dir"].as_array().unwrap();
        assert_eq!(dirs.len(), 2);
        assert_eq!(dirs[1]["mount_path"].as_str(), Some("/certs/client"));
        assert_eq!(dirs[1]["medium"].as_str(), Some("Memory"));
    }

    #[test]
    fn contradictions_name_both_sides() {
        let cases = [
            (
                BuildMode::None,
                "    privileged = true\n",
                "runners.kubernetes.privileged = true",
                "privileged = false",
            ),
            (
                BuildMode::Dind,
                "    privileged = false\n",
                "runners.kubernetes.privileged = false",
                "privileged = true",
            ),
            (
                BuildMode::BuildkitRootless,
                "    [runners.kubernetes.build_container_security_context.seccomp_profile]\n      type = \"RuntimeDefault\"\n",
                "seccomp_profile.type = \"RuntimeDefault\"",
                "type = \"Unconfined\"",
            ),
            (
                BuildMode::DindTls,
                "    [[runners.kubernetes.volumes.empty_dir]]\n      name = \"docker-certs\"\n      mount_path = \"/certs\"\n",
                "empty_dir[name = \"docker-certs\"].mount_path = \"/certs\"",
                "\"/certs/client\"",
            ),
            (
                BuildMode::DindTls,
                "    [[runners.kubernetes.volumes.empty_dir]]\n      name = \"mine\"\n      mount_path = \"/certs/client\"\n",
                "empty_dir[name = \"mine\"].mount_path",
                "a volume named \"docker-certs\"",
            ),
        ];
        for (mode, extra, configured, wanted) in cases {
            let e = mode
                .merge_into(&format!("{CONFIG}{extra}"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("runners.config sets runners.kubernetes."),
                "{e}"
            );
            assert!(e.contains(configured), "{mode}: {e}");
            assert!(
                e.contains(&format!("runnerctl.buildMode \"{mode}\" needs")),
                "{e}"
            );
            assert!(e.contains(wanted), "{mode}: {e}");
        }
    }

    #[test]
    fn shapes_the_mode_cannot_merge_into_are_errors() {
        let e = BuildMode::Dind
            .merge_into("[[runners]]\n  kubernetes = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("runners.config: runners.kubernetes is not a table"),
            "{e}"
        );
        let inline = "[[runners]]\n[runners.kubernetes]\nvolumes = { empty_dir = [{ name = \"a\", mount_path = \"/a\" }] }\n";
        let e = BuildMode::DindTls
            .merge_into(inline)
            .unwrap_err()
            .to_string();
        assert!(e.contains("write runners.kubernetes.volumes.empty_dir as [[runners.kubernetes.volumes.empty_dir]]"), "{e}");
    }

    #[test]
    fn token_like_values_are_not_echoed() {
        let token = "glrt-AbCdEfGh1234567890";
        let e = BuildMode::Dind
            .merge_into(&format!("{CONFIG}    privileged = \"{token}\"\n"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains(token) && e.contains("= a string"), "{e}");
    }

    #[test]
    fn a_config_without_kubernetes_table_gets_one() {
        let text = BuildMode::Dind
            .merge_into("[[runners]]\n  name = \"x\"\n")
            .unwrap();
        assert_eq!(kubernetes(&text)["privileged"].as_bool(), Some(true));
        let inline = "[[runners]]\n  kubernetes = { namespace = \"ci\" }\n";
        let text = BuildMode::Dind.merge_into(inline).unwrap();
        assert_eq!(kubernetes(&text)["privileged"].as_bool(), Some(true));
    }
}
