//! The embedded templates and scripts, the Tera engine, and reading a template's output
//! (JSON objects, trailing commas allowed, `null` fields dropped) into [`Object`]s.
use std::sync::OnceLock;

use serde_json::Value;

use super::chart::Chart;
use super::{Error, Object, Release};

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
    (
        "manifests/pod-disruption-budget.json.tera",
        include_str!("../../manifests/pod-disruption-budget.json.tera"),
    ),
];

// `SCRIPTS`, made by build.rs from manifests/scripts/.
include!(concat!(env!("OUT_DIR"), "/scripts.rs"));

/// The Tera engine with every template of [`TEMPLATES`], compiled once per process.
fn engine() -> &'static tera::Tera {
    static ENGINE: OnceLock<tera::Tera> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut tera = new_engine();
        tera.add_raw_templates(TEMPLATES.iter().copied())
            .unwrap_or_else(|e| panic!("embedded templates must parse: {e}"));
        tera
    })
}

/// A Tera engine with runnerctl's filters and no templates.
fn new_engine() -> tera::Tera {
    let mut tera = tera::Tera::new();
    tera.register_filter("json", json_encode);
    tera.register_filter("members", json_members);
    tera.register_filter("b64", tera_contrib::base64::b64_encode);
    tera.register_filter("toml", toml_encode);
    tera
}

/// What one template rendered: its text, and the objects read from it.
pub(super) struct Rendered {
    /// The template, e.g. `manifests/deployment.json.tera`.
    pub template: &'static str,
    /// The text it rendered (the checksums are taken of it).
    pub text: String,
    /// The objects in the text, in order.
    pub objects: Vec<Object>,
}

/// Render every template of [`TEMPLATES`] once, in order, for the context `ctx` (see
/// [`context`]). Each template holds the condition for rendering anything at all.
pub(super) fn render_all(ctx: &tera::Context) -> Result<Vec<Rendered>, Error> {
    TEMPLATES
        .iter()
        .map(|(template, _)| {
            let text = engine()
                .render(template, ctx)
                .map_err(|e| Error::Template {
                    template: template.to_string(),
                    message: error_chain(&e),
                })?;
            let objects = parse_documents(template, &text)?;
            Ok(Rendered {
                template,
                text,
                objects,
            })
        })
        .collect()
}

/// An error and its causes, `: `-separated.
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
/// member of an object or list (so templates can add members conditionally); `null` members
/// are left out (Kubernetes reads `null` as "not set"; a later `null` member removes an
/// earlier one of the same key, as a later member replaces it).
///
/// serde_json reads it; a hand-written reader was 0.1 M instructions (about 20 µs) a render
/// faster, nothing a user notices (`cargo bench --bench render`, callgrind).
pub(super) fn parse_documents(source: &str, text: &str) -> Result<Vec<Object>, Error> {
    let json = without_trailing_commas(text);
    serde_json::Deserializer::from_str(&json)
        .into_iter::<Value>()
        .map(|value| {
            let mut value = value.map_err(|e| invalid_output(source, text, &e))?;
            drop_nulls(&mut value);
            Ok(Object {
                source: source.to_string(),
                value,
            })
        })
        .collect()
}

/// `text` with each comma outside strings that only whitespace separates from a closing `}`
/// or `]` replaced by a space: JSON, with everything else where it was (so the reader's
/// error positions are the text's).
fn without_trailing_commas(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let (mut in_string, mut escaped, mut comma) = (false, false, None);
    for i in 0..bytes.len() {
        let b = bytes[i];
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
            b',' => comma = Some(i),
            b'}' | b']' => {
                if let Some(at) = comma.take() {
                    bytes[at] = b' ';
                }
            }
            b' ' | b'\n' | b'\t' | b'\r' => {}
            b'"' => {
                in_string = true;
                comma = None;
            }
            _ => comma = None,
        }
    }
    String::from_utf8(bytes).expect("an ASCII comma replaced by a space keeps the text UTF-8")
}

/// Remove the `null` members of every map in `value`, keeping the order of the others.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A template's output that is not JSON: the error names the template and the place, never
/// the text there (the rendered text holds values, tokens too).
fn invalid_output(source: &str, text: &str, e: &serde_json::Error) -> Error {
    let (line, column) = (e.line(), e.column());
    // The reader's message ends with the same place: only what was wrong is kept of it.
    let message = e.to_string();
    let what = message.split(" at line ").next().unwrap_or_default();
    Error::Object {
        template: source.to_string(),
        message: match field_on_line(text, line) {
            Some(field) => format!("{what} at line {line} column {column} (near field {field:?})"),
            None => format!("{what} at line {line} column {column}"),
        },
    }
}

/// `{{ value | json }}`: the value as compact JSON, as serde_json writes it.
fn json_encode(
    val: &tera::Value,
    _: tera::Kwargs,
    _: &tera::State,
) -> tera::TeraResult<tera::Value> {
    write_json(|buffer| serde_json::to_writer(buffer, val))
}

/// `{{ map | members }}`: the members of a map as JSON, each followed by a comma
/// (`"a":"1","b":"2",`), to be written inside an object: `{ {{ a | members }}{{ b | members }} }`
/// is `a` with `b`'s members added, a key of both taking `b`'s value at `a`'s place, as
/// reading the output does. Nothing for `null`; an error for anything but a map.
fn json_members(
    val: &tera::Value,
    _: tera::Kwargs,
    _: &tera::State,
) -> tera::TeraResult<tera::Value> {
    if val.is_none() || val.is_undefined() {
        return Ok(tera::Value::from(""));
    }
    let map = val
        .as_map()
        .ok_or_else(|| tera::Error::message(format!("members needs a map, not {}", val.name())))?;
    write_json(|buffer| {
        for (key, value) in map {
            serde_json::to_writer(&mut *buffer, key)?;
            buffer.push(b':');
            serde_json::to_writer(&mut *buffer, value)?;
            buffer.push(b',');
        }
        Ok(())
    })
}

/// The JSON text `write` writes, as a template value. The text is built in a buffer kept per
/// thread, so a call allocates only when the result is too long to be kept inline in the
/// template value (over 21 bytes).
fn write_json(
    write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> tera::TeraResult<tera::Value> {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        write(buffer)
            .map_err(|e| tera::Error::message(format!("cannot write the value as JSON: {e}")))?;
        let value =
            tera::Value::from(std::str::from_utf8(buffer).expect("serde_json writes UTF-8"));
        // A huge value does not stay held by the thread.
        if buffer.capacity() > 1 << 16 {
            *buffer = Vec::new();
        }
        Ok(value)
    })
}

/// `{{ value | toml }}`: a TOML scalar. A string is TOML-encoded (quoted, escaped: it can
/// never end its string or add a key or table), a number or boolean is written as is;
/// anything else is an error.
fn toml_encode(val: &tera::Value, _: tera::Kwargs, _: &tera::State) -> tera::TeraResult<String> {
    if let Some(s) = val.as_str() {
        return Ok(toml::Value::String(s.to_string()).to_string());
    }
    if let Some(b) = val.as_bool() {
        return Ok(b.to_string());
    }
    if let Some(i) = val.as_i64() {
        return Ok(i.to_string());
    }
    match val.as_f64() {
        Some(f) if f.is_finite() => Ok(f.to_string()),
        _ => Err(tera::Error::message(format!(
            "a TOML value must be a string, number or boolean, not {}",
            val.name()
        ))),
    }
}

/// The field a line of rendered JSON sets (`"name": ...`), when it is a plain field name
/// (letters, digits, `.`, `_`, `/`, `-`): never a value.
fn field_on_line(json: &str, line: usize) -> Option<&str> {
    let text = json.lines().nth(line.checked_sub(1)?)?.trim_start();
    let rest = text.strip_prefix('"')?;
    let (name, after) = rest.split_once('"')?;
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    (plain && after.trim_start().starts_with(':')).then_some(name)
}

/// The variables the templates see: `Values` (with the defaults the user removed back as
/// unset), `Release` and `chart`.
pub(super) fn context(release: &Release, chart: &Chart) -> tera::Context {
    let mut ctx = tera::Context::new();
    // The defaults as a template value, once per process: parts of the values equal to their
    // default (most of them) are shared from it instead of converted again.
    static DEFAULTS_VALUE: OnceLock<tera::Value> = OnceLock::new();
    let defaults = crate::values::default_tree();
    let converted = DEFAULTS_VALUE.get_or_init(|| tera::Value::from_serializable(defaults));
    ctx.insert(
        "Values",
        &Filled {
            values: Some(release.values.as_json()),
            defaults,
            converted: Some(converted),
        },
    );
    /// `Release`: helm's names for them.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct ReleaseNames<'a> {
        name: &'a str,
        namespace: &'a str,
    }
    ctx.insert(
        "Release",
        &ReleaseNames {
            name: &release.name,
            namespace: &release.namespace,
        },
    );
    ctx.insert("chart", chart);
    ctx
}

/// `null`, to borrow where a value is missing.
static NULL: Value = Value::Null;

/// The values as templates see them, serialised without a copy: keys of the defaults that the
/// user deleted with `null` come back as `null` (maps as `{}`, their keys filled the same
/// way), after the user's keys, so templates see "unset" rather than an undefined variable.
struct Filled<'a> {
    /// The user's value here; `None` where the key is missing.
    values: Option<&'a Value>,
    /// The default at the same place (`null` where there is none): the process's defaults,
    /// whose keys the template value borrows.
    defaults: &'static Value,
    /// `defaults` as a template value, where known: used as it is (shared, not converted) when
    /// the user's value equals the default.
    converted: Option<&'a tera::Value>,
}

/// `a == b` with maps compared in order (the order the templates see): equal values whose keys
/// come in another order are "different", which only costs a conversion.
fn same_in_order(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_in_order(va, vb))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_in_order(a, b))
        }
        _ => a == b,
    }
}

impl serde::Serialize for Filled<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeStruct};
        if let (Some(values), Some(converted)) = (self.values, self.converted)
            && same_in_order(values, self.defaults)
        {
            return converted.serialize(serializer);
        }
        let Value::Object(defaults) = self.defaults else {
            return self.values.unwrap_or(&NULL).serialize(serializer);
        };
        let values = match self.values {
            Some(Value::Object(values)) => Some(values),
            Some(other) => return other.serialize(serializer),
            None => None,
        };
        let entries = filled_entries(values, defaults, self.converted);
        // When every key is a default's (the usual case), the keys are written as a struct's
        // fields: the template value then borrows each name from the defaults, where a map's
        // keys would each be copied.
        if entries.iter().all(|(_, known, _)| known.is_some()) {
            let mut fields = serializer.serialize_struct("Values", entries.len())?;
            for (_, known, value) in &entries {
                fields.serialize_field(known.unwrap_or_default(), value)?;
            }
            return fields.end();
        }
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, _, value) in &entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The members of a map as templates see them: the user's keys, then the defaults' keys the
/// user removed (as unset). Each with its key, the key as the defaults hold it (`None` when
/// only the user's), and its value.
fn filled_entries<'a>(
    values: Option<&'a serde_json::Map<String, Value>>,
    defaults: &'static serde_json::Map<String, Value>,
    converted: Option<&'a tera::Value>,
) -> Vec<(&'a str, Option<&'static str>, Filled<'a>)> {
    // Room for every key when the user's keys are the defaults' or a subset of them.
    let mut entries =
        Vec::with_capacity(defaults.len().max(values.map_or(0, serde_json::Map::len)));
    // The merged values keep the defaults' order, so each key is usually the next default
    // (found without a lookup, and with its converted value at the same index).
    let converted = converted.and_then(tera::Value::as_map);
    let mut next = defaults.iter().enumerate().peekable();
    let mut found = 0;
    for (key, value) in values.into_iter().flatten() {
        let (known, converted) = match next.next_if(|(_, (k, _))| *k == key) {
            Some((i, (k, d))) => (
                Some((k, d)),
                converted.and_then(|c| c.get_index(i)).map(|(_, v)| v),
            ),
            None => (defaults.get_key_value(key), None),
        };
        found += usize::from(known.is_some());
        entries.push((
            key.as_str(),
            known.map(|(k, _)| k.as_str()),
            Filled {
                values: Some(value),
                defaults: known.map_or(&NULL, |(_, d)| d),
                converted,
            },
        ));
    }
    if found < defaults.len() {
        for (key, defaults) in defaults {
            if !values.is_some_and(|v| v.contains_key(key)) {
                entries.push((
                    key.as_str(),
                    Some(key.as_str()),
                    Filled {
                        values: None,
                        defaults,
                        converted: None,
                    },
                ));
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner's environment as the Deployment template wrote it before `chart.env`
    /// (the reference the Rust version is held to), with `RUNNERCTL_UNREGISTER` added since.
    const RUNNER_ENV_TEMPLATE: &str = r#"[
  {"name": "CI_SERVER_URL", "value": {{ Values.gitlabUrl | json }}},
  {"name": "RUNNER_EXECUTOR", "value": {{ (Values.runners.executor or "kubernetes") | json }}},
  {"name": "REGISTER_LOCKED", "value": {{ ("true" if Values.runners.locked is none or Values.runners.locked else "false") | json }}},
  {"name": "RUNNER_TAG_LIST", "value": {{ (Values.runners.tags or "") | str | json }}},
{%- if Values.runners.name %}
  {"name": "RUNNER_NAME", "value": {{ Values.runners.name | str | json }}},
{%- endif %}
{%- if Values.runners.runUntagged is not none %}
  {"name": "REGISTER_RUN_UNTAGGED", "value": {{ Values.runners.runUntagged | str | json }}},
{%- endif %}
{%- if Values.runners.protected %}
  {"name": "REGISTER_ACCESS_LEVEL", "value": "ref_protected"},
{%- endif %}
{%- if Values.runners.maximumTimeout %}
  {"name": "REGISTER_MAXIMUM_TIMEOUT", "value": {{ Values.runners.maximumTimeout | str | json }}},
{%- endif %}
{%- if not chart.setsNamespace %}
  {"name": "KUBERNETES_NAMESPACE", "value": {{ chart.jobNamespace | json }}},
{%- endif %}
{%- if chart.sessionServer and not Values.sessionServer.publicIP %}
{%- set ss = Values.sessionServer %}
  {"name": "SESSION_SERVER_SERVICE", "value": {{ chart.sessionServerName | json }}},
{%- if ss.serviceType == "NodePort" %}
  {"name": "SESSION_SERVER_ADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
{%- if ss.nodePort %}
  {"name": "SESSION_SERVER_PORT", "value": {{ ss.nodePort | str | json }}},
{%- endif %}
{%- else %}
{%- if ss.serviceType != "LoadBalancer" %}
  {"name": "SESSION_SERVER_ADDRESS", "value": {{ (chart.sessionServerName ~ "." ~ chart.namespace ~ ".svc.cluster.local") | json }}},
{%- endif %}
  {"name": "SESSION_SERVER_PORT", "value": {{ ss.externalPort | str | json }}},
{%- endif %}
{%- endif %}
{%- if Values.unregisterRunners and not Values.deploymentLifecycle %}
  {"name": "RUNNERCTL_UNREGISTER", "value": "true"},
{%- endif %}
]"#;

    /// The probes as the Deployment template wrote them before `chart.livenessProbe` and
    /// `chart.readinessProbe` (one loop over the two, which differed only in their command
    /// and in the liveness probe's grace period).
    const PROBES_TEMPLATE: &str = r#"[
{%- for probe in [
      {"key": "livenessProbe", "command": ["/bin/bash", "/configmaps/check-live"]},
      {"key": "readinessProbe", "command": ["/usr/bin/pgrep", "gitlab.*runner"]}
    ] %}
{%- set p = Values[probe.key] %}
            {
              "exec": {"command": {{ probe.command | json }}},
              "initialDelaySeconds": {{ p.initialDelaySeconds | default(value=60) | json }},
              "periodSeconds": {{ p.periodSeconds | default(value=60) | json }},
              "timeoutSeconds": {{ Values.probeTimeoutSeconds | json }},
              "successThreshold": {{ p.successThreshold | default(value=1) | json }},
              "failureThreshold": {{ p.failureThreshold | default(value=3) | json }},
{%- if probe.key == "livenessProbe" and p.terminationGracePeriodSeconds %}
              "terminationGracePeriodSeconds": {{ p.terminationGracePeriodSeconds | json }},
{%- endif %}
            },
{%- endfor %}
]"#;

    /// The user's part of the environment (`envVars`, `extraEnv`, `extraEnvFrom`) as the
    /// Deployment template wrote it before `chart.env`, after the runner's own entries.
    const USER_ENV_TEMPLATE: &str = r#"
{%- for e in Values.envVars %}
  {{ e | json }},
{%- endfor %}
{%- for name, value in Values.extraEnv %}
  {"name": {{ name | json }}, "value": {{ value | str | json }}},
{%- endfor %}
{%- for name, from in Values.extraEnvFrom %}
  {"name": {{ name | json }}, "valueFrom": {{ from | json }}},
{%- endfor %}
]"#;

    /// Renders `template` (one JSON list) for the release `sets` (JSON values) make, with the
    /// chart's own filters; `None` when the values refuse a setting.
    fn reference(template: &str, sets: &[String]) -> Option<(Value, Chart)> {
        let mut tera = new_engine();
        tera.add_raw_template("reference", template).unwrap();
        let mut b = crate::ValuesBuilder::new()
            .set("runnerToken=glrt-x")
            .set("gitlabUrl=https://gitlab.example.com");
        for set in sets {
            b = b.set_json(set.clone());
        }
        // Values the schema refuses never reach a template.
        let values = b.build().ok()?.0;
        let release = Release {
            name: "r".into(),
            namespace: "ns".into(),
            values,
            create_namespace: false,
            api_versions: vec![],
        };
        let chart = Chart::new(&release, &mut Vec::new()).unwrap();
        let text = tera
            .render("reference", &context(&release, &chart))
            .unwrap();
        let mut list = parse_documents("reference", &text).unwrap();
        Some((list.remove(0).value, chart))
    }

    /// `chart.livenessProbe` and `chart.readinessProbe` equal what the template wrote, for
    /// each timing unset, set, zero and removed (`null`), one probe at a time and all at once.
    #[test]
    fn probes_equal_the_template_they_replaced() {
        let fields = [
            "initialDelaySeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
            "terminationGracePeriodSeconds",
        ];
        let mut cases: Vec<Vec<String>> = vec![vec![]];
        for timeout in ["null", "0", "9"] {
            cases.push(vec![format!("probeTimeoutSeconds={timeout}")]);
        }
        for probe in ["livenessProbe", "readinessProbe"] {
            for field in fields {
                for value in ["null", "0", "1", "45"] {
                    cases.push(vec![format!("{probe}.{field}={value}")]);
                }
            }
            let all = fields.iter().enumerate();
            cases.push(all.map(|(i, f)| format!("{probe}.{f}={}", i * 7)).collect());
        }
        // Through the `json` filter and the reader, as the Deployment template writes them
        // (a `null` member is left out).
        let now = "[{{ chart.livenessProbe | json }}, {{ chart.readinessProbe | json }}]";
        let mut checked = 0;
        for sets in &cases {
            let Some((expected, _)) = reference(PROBES_TEMPLATE, sets) else {
                continue;
            };
            checked += 1;
            assert_eq!(reference(now, sets).unwrap().0, expected, "{sets:?}");
        }
        assert!(checked > 35, "{checked} of {} cases", cases.len());
    }

    /// The environment as the Deployment template writes it now.
    const ENV: &str = "{{ chart.env | json }}";

    /// `chart.env`, with none of the user's entries, equals what the template wrote for the
    /// runner's own, for every value of each setting it reads (over a base, one setting at a
    /// time) and for 400 mixed releases.
    #[test]
    fn runner_env_equals_the_template_it_replaced() {
        let choices: &[(&str, &[&str])] = &[
            ("runners.executor", &["\"kubernetes\"", "\"docker\""]),
            ("runners.locked", &["null", "true", "false"]),
            (
                "runners.tags",
                &["null", "\"\"", "\"a, b\"", "0", "7", "1000.0"],
            ),
            ("runners.name", &["null", "\"\"", "\"runner-1\"", "0", "12"]),
            ("runners.runUntagged", &["null", "true", "false"]),
            ("runners.protected", &["null", "true", "false"]),
            (
                "runners.maximumTimeout",
                &["null", "0", "3600", "\"7200\"", "3600.0", "\"\""],
            ),
            ("sessionServer.enabled", &["false", "true"]),
            (
                "sessionServer.serviceType",
                &["\"LoadBalancer\"", "\"ClusterIP\"", "\"NodePort\""],
            ),
            ("sessionServer.nodePort", &["null", "30001", "32767"]),
            (
                "sessionServer.publicIP",
                &["null", "\"\"", "\"203.0.113.7\"", "0", "5"],
            ),
            ("sessionServer.externalPort", &["9000", "null", "8443"]),
            (
                "runners.config",
                &[
                    "\"[[runners]]\\n\"",
                    "\"[[runners]]\\n[runners.kubernetes]\\nnamespace = \\\"jobs\\\"\\n\"",
                ],
            ),
            (
                "gitlabUrl",
                &[
                    "\"https://gitlab.example.com\"",
                    "\"https://g.example.org/x\"",
                ],
            ),
            ("unregisterRunners", &["true", "false"]),
            (
                "deploymentLifecycle",
                &[
                    "{}",
                    "null",
                    r#"{"preStop": {"exec": {"command": ["true"]}}}"#,
                ],
            ),
        ];
        let check = |picks: &[usize]| {
            let sets: Vec<String> = choices
                .iter()
                .zip(picks)
                .map(|((key, values), pick)| format!("{key}={}", values[*pick]))
                .collect();
            let (expected, chart) = reference(RUNNER_ENV_TEMPLATE, &sets)?;
            // With no envVars, extraEnv or extraEnvFrom, the runner's own entries alone.
            assert_eq!(reference(ENV, &sets).unwrap().0, expected, "{picks:?}");
            Some(chart.session.session_server)
        };
        let base = vec![0; choices.len()];
        let (mut with_session_server, mut refused) = (0, 0);
        for (i, (_, values)) in choices.iter().enumerate() {
            for pick in 0..values.len() {
                let mut picks = base.clone();
                picks[i] = pick;
                // The session server's settings count only with the server enabled.
                if choices[i].0.starts_with("sessionServer.")
                    && choices[i].0 != "sessionServer.enabled"
                {
                    picks[7] = 1;
                }
                let checked = check(&picks);
                with_session_server += usize::from(checked == Some(true));
                refused += usize::from(checked.is_none());
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..400 {
            let picks: Vec<usize> = choices
                .iter()
                .map(|(_, values)| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    usize::try_from(seed % values.len() as u64).unwrap()
                })
                .collect();
            let checked = check(&picks);
            with_session_server += usize::from(checked == Some(true));
            refused += usize::from(checked.is_none());
        }
        assert!(with_session_server > 100, "{with_session_server}");
        assert!(refused < 100, "{refused} of the releases refused");
    }

    /// `chart.env` equals what the template wrote, the runner's own entries followed by the
    /// user's, for `envVars` (string values; numbers and booleans become strings, which the
    /// template never did), `extraEnv` of every kind of value and `extraEnvFrom` with `null`s
    /// inside, each alone and all together.
    #[test]
    fn env_equals_the_template_it_replaced() {
        let reference_env = format!(
            "{}{USER_ENV_TEMPLATE}",
            RUNNER_ENV_TEMPLATE.strip_suffix(']').unwrap()
        );
        let env_vars = r#"envVars=[{"name": "A", "value": "1"}, {"value": "v", "name": "B"},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": null}}}]"#;
        let extra_env =
            r#"extraEnv={"S": "text", "I": 7, "F": 1.5, "T": true, "N": null, "Z": ""}"#;
        let extra_env_from = r#"extraEnvFrom={"X": {"fieldRef": {"fieldPath": "metadata.name", "apiVersion": null}}, "Y": {}}"#;
        let cases = [
            vec![],
            vec![env_vars],
            vec![extra_env],
            vec![extra_env_from],
            vec![extra_env_from, env_vars, extra_env],
        ];
        for sets in cases {
            let sets: Vec<String> = sets.into_iter().map(str::to_string).collect();
            let (expected, _) = reference(&reference_env, &sets).unwrap();
            assert_eq!(reference(ENV, &sets).unwrap().0, expected, "{sets:?}");
        }
    }

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
    fn null_members_go_and_a_later_member_wins_in_place() {
        let text = r#"{"a": 1, "b": 2, "a": null, "c": [null, {"x": null}], "b": 3, "d": {"e": 1, "e": null,},}"#;
        let objects = parse_documents("t", text).unwrap();
        assert_eq!(
            serde_json::to_string(&objects[0].value).unwrap(),
            r#"{"b":3,"c":[null,{}],"d":{}}"#
        );
        for not_json in ["[1,,]", "[,1]", "[1, 2", "{\"a\": 1}}", "{\"a\": 1,}x"] {
            assert!(parse_documents("t", not_json).is_err(), "{not_json}");
        }
        assert_eq!(parse_documents("t", " \n").unwrap(), vec![]);
        // A lone trailing comma is one too.
        assert_eq!(
            parse_documents("t", "{ , }").unwrap()[0].value,
            serde_json::json!({})
        );
    }

    #[test]
    fn a_broken_template_output_names_the_template_and_field_not_the_text() {
        let text = "{\n  \"token\": \"glrt-SECRET\",\n  \"env\": glrt-SECRET\n}";
        let err = parse_documents("manifests/x.json.tera", text)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("manifests/x.json.tera: rendered an invalid object"),
            "{err}"
        );
        assert!(
            err.contains("line 3") && err.contains("near field \"env\""),
            "{err}"
        );
        assert!(!err.contains("glrt-SECRET"), "{err}");
        assert_eq!(field_on_line("  \"a b\": 1", 1), None, "not a plain name");
        assert_eq!(field_on_line("  \"x\"", 1), None, "a value, not a field");
    }

    #[test]
    fn removed_defaults_come_back_unset() {
        let values = serde_json::json!({"a": {"keep": 1, "x": [1]}, "s": "given", "z": null});
        let defaults = serde_json::json!({"a": {"keep": 0, "gone": "x", "m": {"k": 1}},
            "m": {"n": 1, "o": {"p": []}}, "s": "y", "t": [1], "z": {"q": 1}});
        let defaults = Box::leak(Box::new(defaults));
        let filled = serde_json::to_value(Filled {
            values: Some(&values),
            defaults,
            converted: None,
        })
        .unwrap();
        assert_eq!(
            serde_json::to_string(&filled).unwrap(),
            concat!(
                r#"{"a":{"keep":1,"x":[1],"gone":null,"m":{"k":null}},"s":"given","z":null,"#,
                r#""m":{"n":null,"o":{"p":null}},"t":null}"#
            )
        );
    }

    /// Template values equal in every part, maps in order, numbers of the same kind; a key
    /// borrowed or owned alike.
    fn same_value(a: &tera::Value, b: &tera::Value) -> bool {
        if let (Some(a), Some(b)) = (a.as_map(), b.as_map()) {
            return a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka.as_str() == kb.as_str() && same_value(va, vb));
        }
        if let (Some(a), Some(b)) = (a.as_array(), b.as_array()) {
            return a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b));
        }
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn values_equal_to_defaults_are_shared_and_convert_the_same() {
        let defaults = crate::values::default_tree();
        let converted = tera::Value::from_serializable(defaults);
        let convert = |values: &Value, shared: bool| {
            tera::Value::from_serializable(&Filled {
                values: Some(values),
                defaults,
                converted: shared.then_some(&converted),
            })
        };
        fn reversed(map: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.reverse();
            entries.into_iter().collect()
        }
        type Edit = dyn Fn(&mut serde_json::Map<String, Value>);
        let edits: [&Edit; 8] = [
            &|_| {},
            // a default removed with null (keys after it no longer line up)
            &|v| {
                v.shift_remove("rbac");
            },
            &|v| {
                v["runners"].as_object_mut().unwrap().shift_remove("cache");
            },
            // a new key, and a changed leaf deep down
            &|v| {
                v.insert("zzz".into(), serde_json::json!({"a": 1}));
                v["rbac"]["create"] = Value::Bool(true);
            },
            // the same keys in another order
            &|v| {
                let runners = v["runners"].as_object_mut().unwrap();
                *runners = reversed(std::mem::take(runners));
            },
            &|v| *v = reversed(std::mem::take(v)),
            // the default 10 written as 10.0: equal as numbers, not as JSON values
            &|v| v["concurrent"] = serde_json::json!(10.0),
            // a map replaced by a scalar and a list by a map
            &|v| {
                v["rbac"] = Value::Bool(false);
                v["volumes"] = serde_json::json!({"a": []});
            },
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut values = defaults.as_object().unwrap().clone();
            edit(&mut values);
            let values = Value::Object(values);
            let shared = convert(&values, true);
            let full = convert(&values, false);
            assert!(same_value(&shared, &full), "edit {i}: {shared:?} {full:?}");
        }
        assert!(
            same_in_order(defaults, &defaults.clone())
                && !same_in_order(
                    &serde_json::json!({"a": 1, "b": 2}),
                    &serde_json::json!({"b": 2, "a": 1})
                )
                && !same_in_order(&serde_json::json!(1), &serde_json::json!(1.0))
        );
    }

    /// `members` writes each member as serde_json does, comma after each; written between
    /// braces after another map's, the output reads as the first map with the second's
    /// members added and its keys overriding in place.
    /// `json` writes what serde_json writes for the value, strings of every kind included.
    #[test]
    fn json_writes_as_serde_json_does() {
        let ctx = tera::Context::new();
        let state = tera::State::new(&ctx);
        for v in [
            serde_json::json!("plain"),
            serde_json::json!("q\"b\\n\nt\tc\u{1}\u{7f}ü€😀\u{2028}"),
            serde_json::json!(""),
            serde_json::json!("a string longer than twenty-one bytes"),
            serde_json::json!(1),
            serde_json::json!(-1.5),
            serde_json::json!(true),
            Value::Null,
            serde_json::json!({"k": ["v", 2, {"n": null}]}),
        ] {
            let written = json_encode(
                &tera::Value::from_serializable(&v),
                tera::Kwargs::default(),
                &state,
            )
            .unwrap();
            assert_eq!(written.as_str(), Some(v.to_string().as_str()), "{v}");
        }
    }

    #[test]
    fn members_write_a_map_inside_another() {
        let ctx = tera::Context::new();
        let state = tera::State::new(&ctx);
        let members = |v: serde_json::Value| {
            json_members(
                &tera::Value::from_serializable(&v),
                tera::Kwargs::default(),
                &state,
            )
            .map(|v| v.as_str().unwrap().to_string())
        };
        let a = serde_json::json!({"app": "x", "q\"k\n": "ü\u{1}", "n": 1, "gone": "y"});
        let b = serde_json::json!({"gone": null, "app": "y", "new": [true]});
        assert_eq!(
            members(a.clone()).unwrap(),
            r#""app":"x","q\"k\n":"ü\u0001","n":1,"gone":"y","#
        );
        assert_eq!(members(serde_json::json!({})).unwrap(), "");
        assert_eq!(members(Value::Null).unwrap(), "");
        let text = format!("{{{}{}}}", members(a).unwrap(), members(b).unwrap());
        let read = parse_documents("t", &text).unwrap();
        assert_eq!(
            serde_json::to_string(&read[0].value).unwrap(),
            r#"{"app":"y","q\"k\n":"ü\u0001","n":1,"new":[true]}"#
        );
        for not_a_map in [
            serde_json::json!("s"),
            serde_json::json!([1]),
            serde_json::json!(2),
        ] {
            let e = members(not_a_map).unwrap_err().to_string();
            assert!(e.contains("members needs a map"), "{e}");
        }
    }

    #[test]
    fn every_script_is_in_the_configmap() {
        let chart_values = crate::ValuesBuilder::new()
            .values_file(
                "v.yaml",
                "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-t\n",
            )
            .build()
            .unwrap()
            .0;
        let release = Release {
            name: "r".into(),
            namespace: "n".into(),
            values: chart_values,
            create_namespace: false,
            api_versions: Vec::new(),
        };
        let objects = super::super::render(&release).unwrap().objects;
        let configmap = objects.iter().find(|o| o.kind() == "ConfigMap").unwrap();
        for (key, text) in SCRIPTS {
            assert_eq!(configmap.value["data"][key], *text, "{key}");
        }
    }
}
