//! A GitLabRunner manifest for a release installed with `runnerctl apply`, and the
//! GitLabRunners that exist.
use serde_json::{Map, Value, json};

use super::crd::{GROUP, KIND, VERSION};
use super::resource::GitLabRunner;

/// The parts of `values` that differ from `defaults` (`None`: nothing differs).
pub fn overlay(values: &Value, defaults: &Value) -> Option<Value> {
    match (values, defaults) {
        (Value::Object(v), Value::Object(d)) => {
            let out: Map<String, Value> = v
                .iter()
                .filter_map(|(k, x)| match d.get(k) {
                    Some(dx) => overlay(x, dx).map(|o| (k.clone(), o)),
                    None => Some((k.clone(), x.clone())),
                })
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (v, d) if v == d => None,
        (v, _) => Some(v.clone()),
    }
}

/// The manifest for release `name` in `namespace` with merged `values`: only what differs from
/// the defaults, the tokens taken out. When the values held a token, the manifest names a
/// Secret `<name>-runner-token` with `runners.secret`; the pair says it and the Secret the
/// release's token is in now.
pub fn export(name: &str, namespace: &str, values: &Value) -> (Value, Option<(String, String)>) {
    let defaults = crate::values::Values::defaults().into_json();
    let mut spec = overlay(values, &defaults).unwrap_or_else(|| json!({}));
    let had_token = ["runnerToken", "runnerRegistrationToken"].iter().any(|k| {
        values
            .get(*k)
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty())
    }) || values
        .pointer("/runnerctl/runnerTokens")
        .is_some_and(|t| !t.is_null());
    if let Some(m) = spec.as_object_mut() {
        m.remove("runnerToken");
        m.remove("runnerRegistrationToken");
        if let Some(r) = m.get_mut("runnerctl").and_then(Value::as_object_mut) {
            r.remove("runnerTokens");
        }
    }
    let mut moved = None;
    if had_token {
        let from = values
            .pointer("/runners/secret")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map_or_else(|| crate::render::fullname(name, values), str::to_string);
        let secret = format!("{name}-runner-token");
        spec["runners"]["secret"] = json!(secret);
        moved = Some((secret, from));
    }
    let manifest = json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"values": spec},
    });
    (manifest, moved)
}

/// `namespace/name` of every GitLabRunner (none when the CRD is not installed).
pub async fn list_runners(client: &kube::Client) -> Result<Vec<String>, kube::Error> {
    let api: kube::Api<GitLabRunner> = kube::Api::all(client.clone());
    match api.list(&Default::default()).await {
        Ok(list) => Ok(list
            .items
            .iter()
            .map(|g| format!("{}/{}", g.namespace(), g.name()))
            .collect()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_keeps_what_differs_and_never_a_token() {
        let mut values = crate::values::Values::defaults().into_json();
        values["gitlabUrl"] = json!("https://gitlab.example.com");
        values["runnerToken"] = json!("glrt-SECRET-never-exported");
        values["concurrent"] = json!(4);
        let (m, moved) = export("r", "ci", &values);
        let text = m.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(m["spec"]["values"]["concurrent"], json!(4));
        assert_eq!(
            m["spec"]["values"]["runners"]["secret"],
            json!("r-runner-token")
        );
        assert_eq!(
            moved,
            Some(("r-runner-token".into(), "r-gitlab-runner".into()))
        );
        assert!(
            m["spec"]["values"].get("rbac").is_none(),
            "defaults left out: {text}"
        );
    }
}
