//! Migration from a real helm release: helm installs the release, `runnerctl apply` with the
//! same values adopts its objects (no object deleted or recreated, the runner pod rolled once
//! at most) and forgets helm's record; a helm release in another namespace is never touched.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::cluster::*;

/// The helm that `cargo xtask test` builds.
fn helm(args: &[&str]) -> Run {
    let bin = std::env::var("RUNNERCTL_TEST_HELM")
        .expect("the migration tests need helm: run them with `cargo xtask test`");
    let out = Command::new(bin)
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("helm runs");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// A chart whose one template is runnerctl's own rendering of the seed release in `ns`:
/// helm then creates exactly the objects runnerctl renders, owned the way helm owns them.
fn chart_of_seed(ns: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let mut args = vec!["render", "gitlab-runner", "-n", ns, "--show-secrets"];
    args.extend_from_slice(SEED);
    let yaml = runnerctl(&args).expect(0).stdout;
    assert!(
        !yaml.contains("{{"),
        "the rendering is used as a literal template"
    );
    let chart = dir.join(format!("chart-{ns}"));
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: gitlab-runner\nversion: 0.86.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("templates").join("runner.yaml"), yaml).unwrap();
    chart
}

/// `Kind/name -> uid` of the release's objects in `ns`.
fn uids(ns: &str) -> BTreeMap<String, String> {
    let list = get_json(&[
        "-n",
        ns,
        "serviceaccount,secret,configmap,role,rolebinding,deployment",
        "-l",
        "app=gitlab-runner",
    ]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            (
                format!(
                    "{}/{}",
                    it["kind"].as_str().unwrap(),
                    it["metadata"]["name"].as_str().unwrap()
                ),
                it["metadata"]["uid"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_helm_release_is_taken_over_without_recreating_anything() {
    let ns = namespace("helm");
    let other = namespace("helm-other");
    let dir = std::env::temp_dir().join(format!("runnerctl-helm-{}", std::process::id()));
    for n in [&ns, &other] {
        let chart = chart_of_seed(n, &dir);
        helm(&[
            "upgrade",
            "--install",
            "gitlab-runner",
            chart.to_str().unwrap(),
            "-n",
            n,
            "--create-namespace",
        ])
        .expect(0);
    }
    let before = uids(&ns);
    let other_before = uids(&other);
    assert_eq!(before.len(), 6, "{before:?}");
    let generation = get_json(&["deployment", "-n", &ns, NAME])["metadata"]["generation"]
        .as_i64()
        .unwrap();

    let diff = runnerctl(&[&["diff", "-n", &ns][..], SEED].concat()).expect(0);
    assert!(
        diff.stdout
            .contains("adopt: created by helm for this release"),
        "{}",
        diff.stdout
    );
    let r = runnerctl(
        &[
            &["apply", "-n", &ns][..],
            SEED,
            &["--yes", "--forget-helm-release"],
        ]
        .concat(),
    )
    .expect(0);
    assert!(!r.stderr.contains("recreated"), "{}", r.stderr);
    assert_eq!(
        uids(&ns),
        before,
        "every object kept its uid: adopted, not recreated"
    );
    let dep = get_json(&["deployment", "-n", &ns, NAME]);
    assert!(
        dep["metadata"]["generation"].as_i64().unwrap() <= generation + 1,
        "the runner rolled once at most: {}",
        dep["metadata"]
    );
    assert!(
        dep["metadata"]["labels"]["applyset.kubernetes.io/part-of"].is_string(),
        "{}",
        dep["metadata"]
    );
    assert!(
        dep["metadata"]["annotations"]
            .get("meta.helm.sh/release-name")
            .is_none(),
        "helm's ownership annotations went with its fields: {}",
        dep["metadata"]
    );
    let listed = helm(&["list", "-n", &ns, "-q"]).expect(0);
    assert!(
        listed.stdout.trim().is_empty(),
        "helm forgot it: {}",
        listed.stdout
    );
    runnerctl(&[&["diff", "-n", &ns][..], SEED, &["--exit-code"]].concat()).expect(0);

    // The release of the same name in another namespace: untouched, still helm's.
    assert_eq!(uids(&other), other_before);
    let dep = get_json(&["deployment", "-n", &other, NAME]);
    assert_eq!(
        dep["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
        other.as_str()
    );
    assert!(
        dep["metadata"]["labels"]
            .get("applyset.kubernetes.io/part-of")
            .is_none()
    );
    let listed = helm(&["list", "-n", &other, "-q"]).expect(0);
    assert_eq!(listed.stdout.trim(), "gitlab-runner");
    std::fs::remove_dir_all(&dir).ok();
}
