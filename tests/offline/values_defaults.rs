//! The embedded defaults parse and hold the keys the renderer relies on.

use runnerctl::values::DEFAULT_VALUES_YAML;

fn defaults() -> serde_json::Value {
    serde_saphyr::from_str::<serde_json::Value>(DEFAULT_VALUES_YAML).expect("values.yaml parses")
}

#[test]
fn defaults_parse_as_a_map() {
    let v = defaults();
    assert!(v.is_object(), "top level must be a map");
}

#[test]
fn defaults_have_expected_values() {
    let v = defaults();
    assert_eq!(v["concurrent"], 10);
    assert_eq!(v["checkInterval"], 3);
    assert_eq!(v["probeTimeoutSeconds"], 4);
    assert_eq!(v["terminationGracePeriodSeconds"], 3600);
    assert_eq!(v["revisionHistoryLimit"], 10);
    assert_eq!(v["metrics"]["port"], 9252);
    assert_eq!(v["sessionServer"]["internalPort"], 8093);
    assert_eq!(v["imagePullPolicy"], "IfNotPresent");
    assert_eq!(v["unregisterRunners"], true);
    assert_eq!(v["runners"]["executor"], "kubernetes");
    assert_eq!(v["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(v["podSecurityContext"]["runAsUser"], 100);
    for k in [
        "gitlabUrl",
        "runnerToken",
        "runnerRegistrationToken",
        "replicas",
        "automountServiceAccountToken",
    ] {
        assert!(v.as_object().unwrap().contains_key(k), "{k} present");
        assert!(v[k].is_null(), "{k} is null");
    }
    assert!(v["serviceAccount"]["create"].is_null());
    assert!(v["image"]["tag"].is_null());
    assert!(
        v["runners"]["config"]
            .as_str()
            .unwrap()
            .contains("[[runners]]")
    );
    assert!(
        v["runners"]["config"]
            .as_str()
            .unwrap()
            .contains("{{ default .Release.Namespace .Values.runners.jobNamespace }}")
    );
}

#[test]
fn defaults_fed_back_as_a_file_are_clean() {
    use runnerctl::values::{Values, ValuesBuilder};
    let (plain, w) = ValuesBuilder::new().build().expect("defaults build");
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(plain, Values::defaults());
    let (again, w) = ValuesBuilder::new()
        .strict(true)
        .values_file("values.yaml", DEFAULT_VALUES_YAML)
        .build()
        .expect("the defaults pass their own checks");
    assert!(w.is_empty(), "{w:?}");
    // Nulls in a user file delete keys, so only the non-null part must match.
    assert_eq!(again.get("concurrent"), plain.get("concurrent"));
    assert_eq!(again.get("runners.config"), plain.get("runners.config"));
    assert_eq!(again.get("gitlabUrl"), None);
}
