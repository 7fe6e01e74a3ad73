//! The one pass over the rendered objects, for what only the rendered output tells: the
//! chart's scripts in the ConfigMap, the checksums of the ConfigMap and the Secret in the
//! Deployment's pod template, and the Pod Security level of the release namespace in its
//! labels. A template marks each such place with `true`; a place a user's entry took (a
//! `configMaps` entry named like a script, a `podAnnotations` entry named like a checksum)
//! keeps that entry.
use serde_json::Value;
use sha2::Sha256;

use super::chart::Chart;
use super::pod_security::{self, Level};
use super::templates::{Rendered, SCRIPTS};
use super::{Object, Release};

/// The template of the ConfigMap, whose text the `checksum/configmap` annotation covers.
const CONFIGMAP_TEMPLATE: &str = "manifests/configmap.json.tera";
/// The template of the token Secret, whose text the `checksum/secrets` annotation covers.
const SECRET_TEMPLATE: &str = "manifests/secret.json.tera";

/// The objects of every template, in order, with the places the templates marked filled in.
pub(super) fn fill_in(release: &Release, chart: &Chart, rendered: Vec<Rendered>) -> Vec<Object> {
    // The text of a template that rendered an object.
    let text_of = |template: &str| {
        rendered
            .iter()
            .find(|r| r.template == template && !r.objects.is_empty())
            .map(|r| r.text.as_str())
    };
    let checksums = checksums(
        release,
        text_of(CONFIGMAP_TEMPLATE).unwrap_or(""),
        text_of(SECRET_TEMPLATE),
        chart.tokens.secret_name.as_deref(),
    );
    let mut objects: Vec<Object> = rendered.into_iter().flat_map(|r| r.objects).collect();
    let levels: Vec<(String, Value)> = chart
        .jobs
        .created_namespaces
        .iter()
        .map(|ns| {
            let level = namespace_level(release, chart, &objects, ns);
            (ns.clone(), Value::from(level.as_str()))
        })
        .collect();
    for o in &mut objects {
        match o.kind() {
            "ConfigMap" => fill(
                o,
                "/data",
                SCRIPTS.iter().map(|(key, text)| (*key, Value::from(*text))),
            ),
            "Deployment" => fill(
                o,
                "/spec/template/metadata/annotations",
                checksums
                    .iter()
                    .map(|(key, sum)| (*key, Value::from(sum.as_str()))),
            ),
            "Namespace" => {
                let level = levels
                    .iter()
                    .find(|(ns, _)| ns == o.name())
                    .map_or(Value::from(Level::Baseline.as_str()), |(_, l)| l.clone());
                fill(
                    o,
                    "/metadata/labels",
                    POD_SECURITY_LABELS.map(|label| (label, level.clone())),
                )
            }
            _ => {}
        }
    }
    objects
}

/// The labels that set the Pod Security level Pod Security Admission enforces, audits and
/// warns about in a namespace.
const POD_SECURITY_LABELS: [&str; 3] = [
    "pod-security.kubernetes.io/audit",
    "pod-security.kubernetes.io/warn",
    "pod-security.kubernetes.io/enforce",
];

/// Put each value in the map at `pointer` of the object where its key holds `true`, the mark
/// a template leaves; any other value there (a user's entry) stays.
fn fill<'a>(
    object: &mut Object,
    pointer: &str,
    entries: impl IntoIterator<Item = (&'a str, Value)>,
) {
    let Some(Value::Object(map)) = object.value.pointer_mut(pointer) else {
        return;
    };
    for (key, value) in entries {
        if let Some(place) = map.get_mut(key)
            && *place == Value::Bool(true)
        {
            *place = value;
        }
    }
}

/// The Pod Security level of a namespace runnerctl creates: the least strict level of the
/// pods that run there, the runner's (from the rendered Deployment, in the release namespace)
/// and the job pods of each runner whose jobs run there.
fn namespace_level(release: &Release, chart: &Chart, objects: &[Object], ns: &str) -> Level {
    let runner = objects
        .iter()
        .filter(|o| o.kind() == "Deployment" && ns == release.namespace)
        .map(|o| pod_security::assess(&o.value["spec"]["template"]["spec"]).level);
    let jobs = chart.jobs.runners.iter().filter(|r| r.namespace == ns);
    let jobs = jobs.map(|r| r.job_pod.assessment.level);
    runner.chain(jobs).min().unwrap_or(Level::Baseline)
}

/// The checksums the pod template carries, so that the pod restarts when they change: of the
/// ConfigMap (its template's text and the scripts added to it), and of the Secret the runner
/// reads (`secret_text`, the Secret template's text, when runnerctl renders it, else the name
/// of the user's Secret, as runnerctl cannot see its data offline). The texts are the
/// templates' output as rendered, byte for byte, not the objects read from them.
fn checksums(
    release: &Release,
    configmap_text: &str,
    secret_text: Option<&str>,
    secret_name: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut checksums = vec![(
        "checksum/configmap",
        checksum(release, configmap_text, scripts_digest()),
    )];
    if let Some(name) = secret_name {
        let basis = secret_text.unwrap_or(name);
        checksums.push(("checksum/secrets", checksum(release, basis, &[])));
    }
    checksums
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::render;
    use crate::render::tests::release;

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
