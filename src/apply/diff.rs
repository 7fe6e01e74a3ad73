//! Presenting a plan: unified diffs of live and dry-run objects (normalised, Secret values
//! masked), colored on request.
use serde_json::Value;

use super::managed_fields::normalize;
use super::plan::{Adoption, Change, Plan, PlannedAction};
use crate::render::to_yaml;
use crate::secret::{SecretValues, mask_secrets};

/// How to print diffs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DiffOptions {
    /// Print Secret values (tokens!) instead of masking them.
    pub show_secrets: bool,
    /// ANSI colors.
    pub color: bool,
    /// Values masked wherever they appear (besides Secret values, which are always masked
    /// unless `show_secrets`); [`Plan::diff`] adds the plan's own.
    pub secrets: SecretValues,
}

setters!(DiffOptions {
    /// Set whether Secret values are printed.
    show_secrets: bool,
    /// Set whether ANSI colors are used.
    color: bool,
    /// Set the values masked wherever they appear.
    secrets: SecretValues,
});

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Keys sorted at every level (as kubectl diff prints), so that two serialisations of one
/// object compare line by line.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// An object as the diff shows it: keys sorted, written by the one YAML writer.
fn yaml(v: Option<&Value>) -> String {
    v.map(|v| to_yaml(&sorted(v))).unwrap_or_default()
}

/// A unified diff of two (already normalised) objects; empty when equal.
pub(crate) fn unified(
    title: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    opts: &DiffOptions,
) -> String {
    let (mut b, mut a) = if opts.show_secrets {
        (before.cloned(), after.cloned())
    } else {
        mask_secrets(before, after)
    };
    if !opts.show_secrets {
        for v in [b.as_mut(), a.as_mut()].into_iter().flatten() {
            opts.secrets.mask(v);
        }
    }
    let (bt, at) = (yaml(b.as_ref()), yaml(a.as_ref()));
    if bt == at {
        return String::new();
    }
    let diff = similar::TextDiff::from_lines(&bt, &at);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{title} (live)"),
            &format!("{title} (after apply)"),
        )
        .to_string();
    if !opts.color {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.split_inclusive('\n') {
        let color = if line.starts_with("+++") || line.starts_with("---") {
            BOLD
        } else if line.starts_with('+') {
            GREEN
        } else if line.starts_with('-') {
            RED
        } else if line.starts_with("@@") {
            CYAN
        } else {
            ""
        };
        if color.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(color);
            out.push_str(line.trim_end_matches('\n'));
            out.push_str(RESET);
            out.push('\n');
        }
    }
    out
}

impl Change {
    /// The unified diff of this change (live -> after apply), Secret values masked unless
    /// asked; empty when unchanged. A prune shows the whole object as deleted.
    pub fn diff(&self, opts: &DiffOptions) -> String {
        let title = self.object.to_string();
        match self.action {
            PlannedAction::Unchanged => return String::new(),
            PlannedAction::Keep => {
                return format!(
                    "# {title}: existed before runnerctl: left alone (not labelled, never deleted by runnerctl)\n"
                );
            }
            _ => {}
        }
        let before = self.live.as_ref().map(normalize);
        let after = match self.action {
            PlannedAction::Prune => None,
            _ => self.after.as_ref().map(normalize),
        };
        let mut text = unified(&title, before.as_ref(), after.as_ref(), opts);
        let mut notes = Vec::new();
        match &self.adoption {
            Some(Adoption::HelmRelease) => notes.push(format!(
                "# {title}: adopt: created by helm for this release; it becomes part of the release"
            )),
            Some(Adoption::Requested) => notes.push(format!(
                "# {title}: adopt (as requested): it becomes part of the release and is deleted with it"
            )),
            None => {}
        }
        if !self.adopt.is_empty() {
            notes.push(format!(
                "# {title}: takes over the fields of {} (fields they set that runnerctl does not render will be removed)",
                self.adopt.join(", ")
            ));
        }
        if let Some(m) = &self.immutable {
            notes.push(format!("# {title}: must be recreated: {m}"));
        } else if self.action == PlannedAction::Recreate {
            notes.push(format!(
                "# {title}: is being deleted (an interrupted recreate?): created again once it is gone"
            ));
        }
        if text.is_empty() && self.action == PlannedAction::Update && notes.is_empty() {
            notes.push(format!("# {title}: field ownership changes only"));
        }
        for n in notes {
            text.push_str(&n);
            text.push('\n');
        }
        text
    }
}

impl Plan {
    /// All diffs, in apply order, prunes last; the plan's [secrets](Plan::secrets) are
    /// masked wherever they appear.
    pub fn diff(&self, opts: &DiffOptions) -> String {
        let mut opts = opts.clone();
        opts.secrets.extend(&self.secrets);
        self.changes
            .iter()
            .chain(self.prune.iter())
            .map(|c| c.diff(&opts))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_but_changed_keys_show() {
        let before = json!({"kind":"Secret","metadata":{"name":"s","annotations":{crate::secret::LAST_APPLIED_ANNOTATION:"{\"token\":\"glrt-old\"}"}},
            "data":{"runner-token":"Z2xydC1vbGQ=","same":"eA=="}});
        let after = json!({"kind":"Secret","metadata":{"name":"s"},
            "data":{"runner-token":"Z2xydC1uZXc=","same":"eA==","new":"eQ=="}});
        let text = unified(
            "Secret/n/s",
            Some(&before),
            Some(&after),
            &DiffOptions::default(),
        );
        assert!(!text.contains("Z2xydC1"), "{text}");
        assert!(!text.contains("glrt-old"), "{text}");
        assert!(
            text.contains("-  runner-token: '*** (before)'")
                || text.contains("-  runner-token: \"*** (before)\""),
            "{text}"
        );
        assert!(text.contains("+  new:"), "{text}");
        assert!(
            !text.contains("-  same") && !text.contains("+  same"),
            "unchanged keys do not change: {text}"
        );
        let shown = unified(
            "Secret/n/s",
            Some(&before),
            Some(&after),
            &DiffOptions {
                show_secrets: true,
                color: false,
                ..Default::default()
            },
        );
        assert!(shown.contains("Z2xydC1uZXc="), "{shown}");
    }

    #[test]
    fn known_secrets_are_masked_outside_secrets_too() {
        let before =
            json!({"kind":"ConfigMap","data":{"config.toml":"token = \"glrt-OLD-value\"\nx = 1"}});
        let after =
            json!({"kind":"ConfigMap","data":{"config.toml":"token = \"glrt-NEW-value\"\nx = 2"}});
        let mut secrets = SecretValues::default();
        secrets.add_secrets_of([&json!({"kind":"Secret","stringData":{"t":"glrt-OLD-value"}})]);
        secrets.add("glrt-NEW-value");
        let opts = DiffOptions {
            secrets,
            ..Default::default()
        };
        let text = unified("ConfigMap/n/c", Some(&before), Some(&after), &opts);
        assert!(!text.contains("glrt-"), "{text}");
        assert!(text.contains("x = 2"), "{text}");
        let shown = unified(
            "ConfigMap/n/c",
            Some(&before),
            Some(&after),
            &DiffOptions {
                show_secrets: true,
                ..opts
            },
        );
        assert!(shown.contains("glrt-NEW-value"), "{shown}");
    }

    #[test]
    fn color_only_when_asked() {
        let a = json!({"kind":"ConfigMap","data":{"k":"1"}});
        let b = json!({"kind":"ConfigMap","data":{"k":"2"}});
        let plain = unified("ConfigMap/n/c", Some(&a), Some(&b), &DiffOptions::default());
        assert!(!plain.contains('\x1b'));
        assert!(
            plain.contains("-  k: '1'") || plain.contains("-  k: \"1\""),
            "{plain}"
        );
        let colored = unified(
            "ConfigMap/n/c",
            Some(&a),
            Some(&b),
            &DiffOptions {
                color: true,
                ..Default::default()
            },
        );
        assert!(colored.contains(GREEN) && colored.contains(RED));
        assert_eq!(
            unified("x", Some(&a), Some(&a), &DiffOptions::default()),
            ""
        );
    }
}
