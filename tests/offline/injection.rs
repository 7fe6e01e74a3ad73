//! Templates cannot be injected: every leaf of the values tree (defaults that are `null`
//! included), set one at a time to a string built to break out of JSON and TOML, either
//! fails naming that key or reaches the output only as a string.
use runnerctl::{Release, ValuesBuilder, render};
use serde_json::Value;

/// Quotes, commas, braces, newlines, a TOML key and table header, a template expression.
const HOSTILE: &str = "v\", \"injected\": {\"a\": 1}, \"z\": \"\n\"\"\"\ninjected = \"evil\"\n[[runners]]\n{{ 1 }},}]'";

/// Every leaf path of the defaults (maps are walked; lists, scalars and nulls are leaves).
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, x) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, &path, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// Whether any object key anywhere is `key`.
fn has_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| k == key || has_key(x, key)),
        Value::Array(a) => a.iter().any(|x| has_key(x, key)),
        _ => false,
    }
}

/// Whether a TOML document holds the value "evil" or a key "injected" anywhere.
fn toml_injected(v: &toml::Value) -> bool {
    match v {
        toml::Value::String(s) => s == "evil",
        toml::Value::Table(t) => t.iter().any(|(k, x)| k == "injected" || toml_injected(x)),
        toml::Value::Array(a) => a.iter().any(toml_injected),
        _ => false,
    }
}

/// The bases the hostile value is added to: most optional objects on.
const BASES: &[&[&str]] = &[
    &[
        "gitlabUrl=https://gitlab.example.com",
        "runnerToken=glrt-injection-test",
        "rbac.create=true",
        "serviceAccount.create=true",
        "metrics.enabled=true",
        "service.enabled=true",
        "sessionServer.enabled=true",
        "sessionServer.serviceType=NodePort",
        "sessionServer.ingress.enabled=true",
    ],
    &[
        "gitlabUrl=https://gitlab.example.com",
        "runnerRegistrationToken=legacy-injection-test",
        "hpa.maxReplicas=3",
        "metrics.enabled=true",
        "metrics.serviceMonitor.enabled=true",
        "metrics.podMonitor.enabled=true",
    ],
];

#[test]
fn every_leaf_fails_naming_its_key_or_stays_a_string() {
    let defaults: Value = serde_saphyr::from_str(runnerctl::values::DEFAULT_VALUES_YAML).unwrap();
    let mut paths = Vec::new();
    leaves(&defaults, "", &mut paths);
    assert!(
        paths.len() > 100,
        "the whole tree is walked: {}",
        paths.len()
    );
    let hostile_json = serde_json::to_string(HOSTILE).unwrap();
    let mut problems = Vec::new();
    let (mut failed, mut rendered) = (0, 0);
    for base in BASES {
        for path in &paths {
            let mut b = ValuesBuilder::new();
            for s in *base {
                b = b.set(*s);
            }
            b = b.set_json(format!("{path}={hostile_json}"));
            let last = path.rsplit('.').next().unwrap();
            let values = match b.build() {
                Ok((v, _)) => v,
                Err(e) => {
                    failed += 1;
                    let text = e.to_string();
                    if !text.contains(last) {
                        problems.push(format!("{path}: values error does not name it: {text}"));
                    }
                    continue;
                }
            };
            let release = Release {
                name: "inj".into(),
                namespace: "ns".into(),
                values,
                create_namespace: true,
                api_versions: vec!["monitoring.coreos.com/v1".into()],
            };
            let manifest = match render(&release) {
                Ok(m) => m,
                Err(e) => {
                    failed += 1;
                    let text = e.to_string();
                    if !text.contains(last) {
                        problems.push(format!("{path}: render error does not name it: {text}"));
                    }
                    continue;
                }
            };
            rendered += 1;
            for o in &manifest.objects {
                if has_key(&o.value, "injected") {
                    problems.push(format!("{path}: {} gained a field", o.kind()));
                }
                if o.kind() != "ConfigMap" {
                    continue;
                }
                for (name, text) in o.value["data"].as_object().unwrap() {
                    if !name.ends_with(".toml") {
                        continue;
                    }
                    match text.as_str().unwrap().parse::<toml::Table>() {
                        Ok(t) if toml_injected(&toml::Value::Table(t.clone())) => {
                            problems.push(format!("{path}: {name} gained a key or value"))
                        }
                        Ok(t) => {
                            let runners = t
                                .get("runners")
                                .and_then(|r| r.as_array())
                                .map_or(0, Vec::len);
                            if runners > 1 {
                                problems.push(format!("{path}: {name} gained a [[runners]]"));
                            }
                        }
                        Err(e) => problems.push(format!("{path}: {name} is no longer TOML: {e}")),
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        failed > 0 && rendered > 0,
        "both outcomes are exercised: {failed} failed, {rendered} rendered"
    );
}
