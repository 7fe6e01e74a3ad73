//! The values JSON Schema (`values/values.schema.json`, draft-07): each user source (a values
//! file, one `--set`-family assignment) is validated against it before it is merged, and a
//! problem is reported in the loader's terms: where (`file:line:col` or the flag), the key path,
//! what the schema expects, what was given (never the value of a sensitive key, a token-like
//! value or a URL with credentials in it).
//!
//! The schema is compiled once per process; only user sources are validated, never the merged
//! tree with the defaults.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::check::{self, Source};
use super::error::Error;
use super::path::{KeyPath, Seg};
use super::yaml::Locations;
use crate::secret::url_has_credentials;

/// The schema text, embedded.
pub(crate) const SCHEMA_JSON: &str = include_str!("../../values/values.schema.json");

/// What a `pattern` of the schema means, for messages: (pattern, words).
const PATTERN_WORDS: &[(&str, &str)] = &[
    (
        r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+([/?#]\S*)?$",
        "an http:// or https:// URL without user:password in it",
    ),
    (
        "^[0-9]*$",
        "an integer of 0 or more (or its digits as a string)",
    ),
    (
        "^[0-9]+%$",
        "an integer of 0 or more, or a percentage such as \"50%\"",
    ),
];

/// The parsed schema, parsed once per process.
pub(crate) fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(SCHEMA_JSON).expect("values.schema.json is JSON"))
}

/// The validator of values/values.schema.json, generated at build time from the file (no
/// schema is compiled when runnerctl runs).
#[jsonschema::validator(path = "values/values.schema.json", draft = Draft7)]
struct ValuesSchema;

/// One problem found, in the loader's terms.
struct Problem {
    at: Option<(u64, u64)>,
    path: KeyPath,
    /// JSON pointer of the schema node whose keyword failed.
    node: String,
    given: Value,
}

/// Validates one user source against the schema; the first problem (in file order when the
/// locations are known) is an [`Error::Type`]. `null` values are not checked: they delete a
/// key (or are the gaps `--set list[2]=x` leaves), whatever its type.
pub(crate) fn check_source(
    tree: &Map<String, Value>,
    source: &Source,
    locs: Option<&Locations>,
) -> Result<(), Error> {
    // The clone costs little next to parsing the source, and only a source with a problem
    // goes on to collect errors.
    let mut checked = tree.clone();
    // A string gitlabUrl is checked by hand against its pattern (see `is_gitlab_url`): the
    // validator would compile a regular expression for it on every run.
    let url_problem = match checked.get(GITLAB_URL) {
        Some(Value::String(url)) => {
            let bad = !is_gitlab_url(url);
            let given = checked.shift_remove(GITLAB_URL).unwrap_or_default();
            bad.then(|| Problem {
                at: locs.and_then(|l| l.get(GITLAB_URL).copied()),
                path: KeyPath(vec![Seg::Key(GITLAB_URL.to_owned())]),
                node: format!("/properties/{GITLAB_URL}"),
                given,
            })
        }
        _ => None,
    };
    let instance = Value::Object(checked);
    if url_problem.is_none() && ValuesSchema::is_valid(&instance) {
        return Ok(());
    }
    let mut problems: Vec<Problem> = ValuesSchema::iter_errors(&instance)
        .filter(|e| !e.instance().is_null())
        .map(|e| {
            let path = key_path(e.instance_path());
            let schema_path = e.schema_path().as_str();
            let node = schema_path
                .rsplit_once('/')
                .map_or("", |(node, _keyword)| node)
                .to_owned();
            Problem {
                at: locs.and_then(|l| l.get(&path.to_string()).copied()),
                path,
                node,
                given: e.instance().clone().into_owned(),
            }
        })
        .collect();
    problems.extend(url_problem);
    // Stable: problems without a location keep the validator's order.
    problems.sort_by_key(|p| p.at.unwrap_or((u64::MAX, u64::MAX)));
    let Some(p) = problems.into_iter().next() else {
        return Ok(());
    };
    let node = schema().pointer(&p.node).unwrap_or(&Value::Null);
    let sensitive = p.path.is_sensitive() || p.given.as_str().is_some_and(url_has_credentials);
    let default = p.path.find(super::default_tree());
    Err(Error::Type {
        source_desc: source.describe(p.at),
        path: p.path.to_string(),
        expected: expected(node),
        default_hint: default.map_or_else(String::new, |d| check::default_hint(d, sensitive)),
        got: check::describe(&p.given, sensitive),
    })
}

/// The top-level key whose pattern is checked by [`is_gitlab_url`].
const GITLAB_URL: &str = "gitlabUrl";

/// Whether `url` matches the schema's gitlabUrl pattern,
/// `^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+([/?#]\S*)?$` with `\s` as JSON Schema (ECMA-262)
/// reads it: a scheme, a host part without `/?#@` or whitespace, then nothing or a path,
/// query or fragment without whitespace. A test holds it equal to a regex-based validator.
fn is_gitlab_url(url: &str) -> bool {
    let bytes = url.as_bytes();
    let scheme = if bytes.len() >= 5 && bytes[..5].eq_ignore_ascii_case(b"https") {
        5
    } else if bytes.len() >= 4 && bytes[..4].eq_ignore_ascii_case(b"http") {
        4
    } else {
        return false;
    };
    let Some(rest) = url[scheme..].strip_prefix("://") else {
        return false;
    };
    let host_end = rest
        .find(|c: char| matches!(c, '/' | '?' | '#' | '@') || is_ecma_whitespace(c))
        .unwrap_or(rest.len());
    let tail = &rest[host_end..];
    host_end > 0
        && (tail.is_empty()
            || (tail.starts_with(['/', '?', '#']) && !tail.chars().any(is_ecma_whitespace)))
}

/// ECMA-262 `\s`: white space and line terminators.
fn is_ecma_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// The key path of a JSON pointer location from the validator.
fn key_path(location: &jsonschema::paths::Location) -> KeyPath {
    KeyPath(
        location
            .iter()
            .map(|seg| match seg {
                jsonschema::paths::LocationSegment::Property(k) => Seg::Key(k.into_owned()),
                jsonschema::paths::LocationSegment::Index(i) => Seg::Index(i),
            })
            .collect(),
    )
}

/// What a schema node accepts, in words: "an integer from 1 to 65535", "one of ClusterIP,
/// NodePort, LoadBalancer", "a list", ...
pub(crate) fn expected(node: &Value) -> String {
    // A map whose keys exclude each other (`not: {required: [a, b]}`).
    if let Some(Value::Array(exclusive)) = node.pointer("/not/required") {
        let names: Vec<&str> = exclusive.iter().filter_map(Value::as_str).collect();
        return format!("a map that does not set both {}", names.join(" and "));
    }
    if let Some(Value::Array(options)) = node.get("enum") {
        let shown: Vec<String> = options
            .iter()
            .filter(|o| !o.is_null() && o.as_str() != Some(""))
            .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_owned))
            .collect();
        return format!("one of {}", shown.join(", "));
    }
    if let Some(Value::String(pattern)) = node.get("pattern") {
        return PATTERN_WORDS
            .iter()
            .find(|(p, _)| p == pattern)
            .map_or_else(
                || format!("a string matching {pattern}"),
                |(_, words)| (*words).to_owned(),
            );
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let has = |t: &str| types.contains(&t);
    if has("array") {
        return "a list".to_owned();
    }
    if has("integer") {
        let bound = |k: &str| node.get(k).and_then(Value::as_i64);
        return match (bound("minimum"), bound("maximum")) {
            (Some(lo), Some(hi)) => format!("an integer from {lo} to {hi}"),
            (Some(lo), None) => format!("an integer of {lo} or more"),
            (None, Some(hi)) => format!("an integer of {hi} or less"),
            (None, None) if has("string") => "a string".to_owned(),
            (None, None) => "an integer".to_owned(),
        };
    }
    let words: Vec<&str> = types
        .iter()
        .filter_map(|t| match *t {
            "string" => Some("a string"),
            "number" => Some("a number"),
            "boolean" => Some("a boolean"),
            "object" => Some("a map"),
            _ => None,
        })
        .collect();
    if words.is_empty() {
        "any value".to_owned()
    } else {
        words.join(" or ")
    }
}

/// Replaces `{}` by `[]` where the schema says a list (values exported from Rancher write an
/// empty list as `{}`), so the templates always see a list there.
pub(crate) fn empty_maps_as_lists(tree: &mut Map<String, Value>) {
    // Most values have no `{}` at all: then the schema is not even parsed.
    if !tree.values().any(has_empty_map) {
        return;
    }
    if let Some(props) = schema().get("properties") {
        normalise(tree, props);
    }
}

/// Whether `v` is or holds (in maps, at any depth) an empty map.
fn has_empty_map(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty() || m.values().any(has_empty_map),
        _ => false,
    }
}

fn normalise(tree: &mut Map<String, Value>, props: &Value) {
    for (k, v) in tree.iter_mut() {
        let Some(node) = props.get(k) else { continue };
        match v {
            Value::Object(m) if m.is_empty() && is_list(node) => *v = Value::Array(Vec::new()),
            Value::Object(m) => {
                if let Some(sub) = node.get("properties") {
                    normalise(m, sub);
                }
            }
            _ => {}
        }
    }
}

/// Whether a schema node is a list (its `type` names `array`).
fn is_list(node: &Value) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value, locs: Option<&Locations>) -> Result<(), String> {
        let Value::Object(m) = v else { panic!() };
        check_source(&m, &Source::File("v.yaml".into()), locs).map_err(|e| e.to_string())
    }

    /// The hand-written gitlabUrl check accepts exactly what the schema's pattern accepts in
    /// a regex-based validator.
    #[test]
    fn gitlab_url_check_agrees_with_the_pattern() {
        let runtime = jsonschema::draft7::new(schema()).expect("a valid draft-07 schema");
        let mut urls: Vec<String> = [
            "https://gitlab.example.com",
            "https://gitlab.example.com/",
            "http://gitlab.example.com:8080/sub/path?x=1#frag",
            "HTTPS://GITLAB.EXAMPLE.COM",
            "HtTp://h",
            "https://h?",
            "https://h#",
            "https://h/p@q",
            "https://u:p@gitlab.example.com",
            "https://token@h",
            "https://@h",
            "https://",
            "http://",
            "https:/h",
            "https//h",
            "httpss://h",
            "ftp://h",
            "gitlab.example.com",
            "",
            " https://h",
            "https://h ",
            "https://h/a b",
            "https://h\n",
            "https://h/\t",
            "https://ü.example/ä",
            "https://h/\u{85}",
            "https://h\u{85}x",
            "https://h:port",
            "https://[::1]:8443/",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for ws in [
            '\u{b}', '\u{c}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{2028}', '\u{2029}',
            '\u{202f}', '\u{205f}', '\u{3000}', '\u{feff}', '\u{200b}', '\u{180e}',
        ] {
            urls.push(format!("https://h{ws}x"));
            urls.push(format!("https://h/{ws}"));
        }
        for url in &urls {
            let expected = runtime.is_valid(&json!({ "gitlabUrl": url }));
            assert_eq!(is_gitlab_url(url), expected, "{url:?}");
            let given = check(json!({ "gitlabUrl": url }), None);
            assert_eq!(given.is_ok(), expected, "{url:?}: {given:?}");
        }
        let err = check(json!({"gitlabUrl": "ftp://h", "concurrent": 1}), None).unwrap_err();
        assert!(
            err.contains("gitlabUrl") && err.contains("an http:// or https:// URL"),
            "{err}"
        );
    }

    #[test]
    fn the_schema_compiles_and_every_pattern_has_words() {
        // The file is a valid draft-07 schema for runtime validators too (editors, helm), and
        // the one generated at build time agrees with a runtime one on the defaults and a
        // broken copy of them.
        let runtime = jsonschema::draft7::new(schema()).expect("a valid draft-07 schema");
        let defaults = crate::values::default_tree().clone();
        let mut broken = defaults.clone();
        broken["replicas"] = Value::String("many".into());
        for instance in [&defaults, &broken] {
            assert_eq!(runtime.is_valid(instance), ValuesSchema::is_valid(instance));
        }
        assert!(!ValuesSchema::is_valid(&broken));
        fn patterns<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(p)) = m.get("pattern") {
                        out.push(p);
                    }
                    m.values().for_each(|x| patterns(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| patterns(x, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        patterns(schema(), &mut found);
        assert!(!found.is_empty());
        for p in found {
            assert!(
                PATTERN_WORDS.iter().any(|(q, _)| *q == p),
                "no words for pattern {p}"
            );
        }
    }

    #[test]
    fn messages_name_the_place_the_key_what_was_expected_and_given() {
        let mut locs = Locations::new();
        locs.insert("sessionServer.nodePort".into(), (3, 13));
        assert_eq!(
            check(json!({"sessionServer": {"nodePort": 70000}}), Some(&locs)).unwrap_err(),
            "values file v.yaml:3:13: sessionServer.nodePort: expected an integer from 1 to 65535, got the integer 70000"
        );
        assert_eq!(
            check(json!({"replicas": "two"}), None).unwrap_err(),
            "values file v.yaml: replicas: expected an integer of 0 or more, got the string \"two\""
        );
        assert_eq!(
            check(json!({"service": {"type": "Clusterip"}}), None).unwrap_err(),
            "values file v.yaml: service.type: expected one of ClusterIP, NodePort, LoadBalancer (default \"ClusterIP\"), got the string \"Clusterip\""
        );
        assert_eq!(
            check(json!({"tolerations": {"key": "a"}}), None).unwrap_err(),
            "values file v.yaml: tolerations: expected a list (default []), got a map"
        );
        assert_eq!(
            check(json!({"concurrent": 0}), None).unwrap_err(),
            "values file v.yaml: concurrent: expected an integer of 1 or more (default 10), got the integer 0"
        );
        assert_eq!(
            check(json!({"hpa": {"maxReplicas": "3"}}), None).unwrap_err(),
            "values file v.yaml: hpa.maxReplicas: expected an integer of 1 or more, got the string \"3\""
        );
        // A budget takes one of minAvailable and maxUnavailable: integers or percentages.
        let budget = |b: Value| check(json!({"runnerctl": {"podDisruptionBudget": b}}), None);
        assert_eq!(
            budget(json!({"minAvailable": 1, "maxUnavailable": "50%"})).unwrap_err(),
            "values file v.yaml: runnerctl.podDisruptionBudget: expected a map that does not set \
             both maxUnavailable and minAvailable, got a map"
        );
        assert_eq!(
            budget(json!({"minAvailable": "half"})).unwrap_err(),
            "values file v.yaml: runnerctl.podDisruptionBudget.minAvailable: expected an integer \
             of 0 or more, or a percentage such as \"50%\", got the string \"half\""
        );
        for fine in [
            json!({"minAvailable": 2, "maxUnavailable": null}),
            json!({"minAvailable": "100%"}),
            json!({"enabled": true, "maxUnavailable": 0}),
        ] {
            assert_eq!(budget(fine.clone()), Ok(()), "{fine}");
        }
    }

    #[test]
    fn the_first_problem_in_file_order_is_reported() {
        let mut locs = Locations::new();
        locs.insert("replicas".into(), (9, 11));
        locs.insert("concurrent".into(), (2, 13));
        let msg = check(json!({"replicas": "x", "concurrent": "y"}), Some(&locs)).unwrap_err();
        assert!(
            msg.starts_with("values file v.yaml:2:13: concurrent:"),
            "{msg}"
        );
    }

    #[test]
    fn secrets_and_credentials_are_never_shown() {
        let msg = check(json!({"runnerToken": 1_234_567_890}), None).unwrap_err();
        assert_eq!(
            msg,
            "values file v.yaml: runnerToken: expected a string, got the integer <redacted>"
        );
        let msg = check(json!({"concurrent": "glrt-abcdef"}), None).unwrap_err();
        assert!(msg.ends_with("got the string <redacted>"), "{msg}");
        let msg = check(
            json!({"gitlabUrl": "https://root:hunter2@gitlab.example.com/"}),
            None,
        )
        .unwrap_err();
        assert_eq!(
            msg,
            "values file v.yaml: gitlabUrl: expected an http:// or https:// URL without user:password in it, got the string <redacted>"
        );
        let msg = check(json!({"gitlabUrl": "gitlab.example.com"}), None).unwrap_err();
        assert!(
            msg.ends_with("got the string \"gitlab.example.com\""),
            "{msg}"
        );
    }

    #[test]
    fn nulls_and_what_the_chart_takes_today_pass() {
        for ok in [
            json!({"replicas": null, "envVars": [null, {"name": "A", "value": 1}]}),
            json!({"tolerations": {}, "volumes": {}, "hpa": {"metrics": {}}}),
            json!({"global": {"cattle": {"systemProjectId": "p-1"}}, "runners": {"cache": {"cacheType": "s3"}}}),
            json!({"image": {"tag": 18}, "sessionServer": {"nodePort": ""}, "runners": {"maximumTimeout": "3600"}}),
            json!({"gitlabUrl": "https://gitlab.example.com:8443/sub/path"}),
        ] {
            assert_eq!(check(ok.clone(), None), Ok(()), "{ok}");
        }
    }

    #[test]
    fn empty_maps_become_lists_where_the_schema_says_list() {
        let Value::Object(mut m) = json!({
            "tolerations": {},
            "hpa": {"metrics": {}},
            "affinity": {},
            "volumes": {"x": 1},
            "unknown": {},
        }) else {
            panic!()
        };
        empty_maps_as_lists(&mut m);
        assert_eq!(
            Value::Object(m),
            json!({"tolerations": [], "hpa": {"metrics": []}, "affinity": {}, "volumes": {"x": 1}, "unknown": {}})
        );
    }
}
