//! Build modes against the real Pod Security admission of the test control plane: each mode's
//! job pod (from `runnerctl job-pod`) is admitted in a namespace enforcing the level runnerctl
//! says it needs, and rejected in one enforcing the next stricter level. The pair of example
//! runners installs into namespaces runnerctl labels for them, and their runner pods start.

use crate::support::cluster::*;

const URL_AND_TOKEN: &[&str] = &[
    "--set",
    "gitlabUrl=https://gitlab.example.com",
    "--set",
    "runnerToken=glrt-test-XXXX",
];

/// A namespace enforcing one Pod Security level; deleted when dropped.
struct Enforcing {
    ns: TestNamespace,
}

impl Enforcing {
    fn new(level: &str) -> Enforcing {
        let ns = namespace(&format!("psa-{level}"));
        create_namespace_enforcing(&ns, level);
        Enforcing { ns }
    }
}

/// Server-side dry-run create of `pod` in `ns`: `Ok` when admitted, else the server's words.
fn dry_run_create(pod: &serde_json::Value, ns: &str) -> Result<(), String> {
    let mut pod = pod.clone();
    pod["metadata"]["namespace"] = ns.into();
    let r = kubectl(
        &["create", "--dry-run=server", "-f", "-", "-o", "name"],
        Some(&pod.to_string()),
    );
    if r.code == 0 { Ok(()) } else { Err(r.stderr) }
}

/// The job pod and the level runnerctl says it needs, for value flags `extra`.
fn job_pod(extra: &[&str]) -> (serde_json::Value, String) {
    let r = runnerctl(&[&["job-pod", "-n", "ci", "-o", "json"], URL_AND_TOKEN, extra].concat())
        .expect(0);
    let pod: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let level = pod["metadata"]["annotations"]["runnerctl.io/pod-security-level"]
        .as_str()
        .unwrap()
        .to_string();
    (pod, level)
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn each_job_pod_is_admitted_at_its_level_and_rejected_one_stricter() {
    let levels = ["privileged", "baseline", "restricted"];
    let namespaces: Vec<Enforcing> = levels.iter().map(|l| Enforcing::new(l)).collect();
    let ns_of = |level: &str| {
        let i = levels.iter().position(|l| *l == level).unwrap();
        (
            namespaces[i].ns.to_string(),
            namespaces.get(i + 1).map(|n| n.ns.to_string()),
        )
    };
    let cases: &[(&str, &[&str], &str)] = &[
        ("dind", &["--build-mode", "dind"], "privileged"),
        ("dind-tls", &["--build-mode", "dind-tls"], "privileged"),
        (
            "buildkit-rootless",
            &["--build-mode", "buildkit-rootless"],
            "privileged",
        ),
        ("none", &["--build-mode", "none"], "restricted"),
        ("no mode (the chart's config)", &[], "baseline"),
        ("seed", &["-f", "values/examples/seed.yaml"], "privileged"),
        (
            "a config that adds a capability",
            &[
                "--set-string",
                "runners.config=[[runners]]\n[runners.kubernetes]\ncap_add = [\"SYS_ADMIN\"]\n",
            ],
            "privileged",
        ),
    ];
    for (name, extra, expected) in cases {
        let (pod, level) = job_pod(extra);
        assert_eq!(level, *expected, "{name}");
        let (at, stricter) = ns_of(&level);
        dry_run_create(&pod, &at)
            .unwrap_or_else(|e| panic!("{name}: not admitted at {level}: {e}"));
        if let Some(stricter) = stricter {
            let e = dry_run_create(&pod, &stricter)
                .expect_err(&format!("{name}: admitted one level stricter than {level}"));
            assert!(e.contains("violates PodSecurity"), "{name}: {e}");
        }
    }
}

/// The example pair installs, each into the namespace runnerctl creates and labels, and the
/// runner pods pass that namespace's admission (deploy-runner's is "restricted").
#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn build_and_deploy_runners_install_side_by_side() {
    for (release, file, level) in [
        (
            "build-runner",
            "values/examples/build-runner.yaml",
            "privileged",
        ),
        (
            "deploy-runner",
            "values/examples/deploy-runner.yaml",
            "restricted",
        ),
    ] {
        let ns = namespace(release);
        runnerctl(&[
            "apply",
            release,
            "-n",
            &ns,
            "--create-namespace",
            "-f",
            file,
            "--yes",
            "--timeout",
            "60s",
        ])
        .expect(0);
        let namespace = get_json(&["namespace", &ns]);
        assert_eq!(
            namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], level,
            "{release}"
        );
        let pods = get_json(&["pods", "-n", &ns]);
        assert_eq!(
            pods["items"].as_array().unwrap().len(),
            1,
            "{release}: {pods}"
        );
        // The job pod is admitted there too (deploy-runner's jobs run as the service account
        // "deployer", which the platform team creates: without it the server refuses the pod).
        let (pod, _) = job_pod(&["-f", file]);
        if release == "deploy-runner" {
            assert!(
                dry_run_create(&pod, &ns)
                    .unwrap_err()
                    .contains("serviceaccount \"deployer\" not found")
            );
            kubectl(&["create", "serviceaccount", "deployer", "-n", &ns], None).expect(0);
        }
        dry_run_create(&pod, &ns).unwrap_or_else(|e| panic!("{release}: {e}"));
    }
}
