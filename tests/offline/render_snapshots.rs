//! Rendered output of the seed command and of realistic values files, as reviewed snapshots.
use runnerctl::render::OutputFormat;
use runnerctl::{Release, ValuesBuilder, render};

use crate::support;

fn render_example(
    file: &str,
    release: &str,
    namespace: &str,
    create_namespace: bool,
    api_versions: &[&str],
) -> String {
    let path = support::example(file);
    let text = std::fs::read_to_string(&path).expect("example exists");
    let (values, _warnings) = ValuesBuilder::new()
        .values_file(file, text)
        .build()
        .expect("values merge");
    let release = Release {
        name: release.into(),
        namespace: namespace.into(),
        values,
        create_namespace,
        api_versions: api_versions.iter().map(|s| s.to_string()).collect(),
    };
    let manifest = render(&release).unwrap_or_else(|e| panic!("{file}: {e}"));
    manifest.to_text(OutputFormat::Yaml, false)
}

macro_rules! example_snapshot {
    ($test:ident, $file:literal) => {
        example_snapshot!($test, $file, "gitlab-runner", "gitlab-runner", false, &[]);
    };
    ($test:ident, $file:literal, $release:literal, $ns:literal, $create:expr, $apis:expr) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(render_example($file, $release, $ns, $create, $apis));
        }
    };
}

example_snapshot!(
    seed_values_file,
    "seed.yaml",
    "gitlab-runner",
    "gitlab-runner",
    true,
    &[]
);
example_snapshot!(minimal_token, "minimal-token.yaml");
example_snapshot!(
    existing_secret,
    "existing-secret.yaml",
    "ci",
    "ci",
    false,
    &[]
);
example_snapshot!(rbac_cluster_wide, "rbac-cluster-wide.yaml");
example_snapshot!(service_account, "service-account.yaml");
example_snapshot!(existing_service_account, "existing-service-account.yaml");
example_snapshot!(metrics_service, "metrics-service.yaml");
example_snapshot!(
    monitors_with_api,
    "monitors.yaml",
    "gitlab-runner",
    "monitoring",
    false,
    &["monitoring.coreos.com/v1"]
);
example_snapshot!(hpa, "hpa.yaml");
example_snapshot!(
    multi_runner,
    "multi-runner.yaml",
    "gitlab-runner",
    "gitlab-runner",
    true,
    &[]
);
example_snapshot!(disruption_budget, "disruption-budget.yaml");
example_snapshot!(session_server, "session-server.yaml");
example_snapshot!(dind, "dind.yaml", "builds", "ci", true, &[]);
example_snapshot!(scheduling, "scheduling.yaml");
example_snapshot!(env, "env.yaml");
example_snapshot!(volumes, "volumes.yaml");
example_snapshot!(root_and_security, "root-and-security.yaml");
example_snapshot!(global_config, "global-config.yaml");
example_snapshot!(extra_objects, "extra-objects.yaml");
example_snapshot!(
    legacy_registration,
    "legacy-registration.yaml",
    "team-a",
    "team-a",
    false,
    &[]
);

/// Without the monitoring API the monitors are left out (and a warning says why).
#[test]
fn monitors_need_the_api() {
    let without = render_example("monitors.yaml", "gitlab-runner", "monitoring", false, &[]);
    assert!(!without.contains("kind: ServiceMonitor") && !without.contains("kind: PodMonitor"));
    let with = render_example(
        "monitors.yaml",
        "gitlab-runner",
        "monitoring",
        false,
        &["monitoring.coreos.com/v1"],
    );
    assert!(with.contains("kind: ServiceMonitor") && with.contains("kind: PodMonitor"));
}

const SEED_ARGS: &[&str] = &[
    "render",
    "gitlab-runner",
    "-n",
    "gitlab-runner",
    "--create-namespace",
    "--set",
    "gitlabUrl=https://gitlab.example.com",
    "--set",
    "runnerRegistrationToken=XXXX",
    "--set",
    "rbac.create=true",
    "--set",
    "serviceAccount.create=true",
    "--set",
    "runners.executor=kubernetes",
    "--set",
    "runners.tags=k8s",
    "--set",
    "runners.privileged=true",
    "--set",
    "runners.config=\n[[runners]]\n  name = \"k8s-job-pods\"\n  executor = \"kubernetes\"\n  [runners.kubernetes]\n    namespace = \"gitlab-runner\"\n    privileged = true\n",
];

/// The seed command of the README, through the binary.
#[test]
fn seed_command() {
    let out = support::runnerctl(SEED_ARGS, None, None);
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains("XXXX") && !stderr.contains("XXXX"),
        "the token must be masked"
    );
    insta::assert_snapshot!(stdout);
}

/// Output is byte-identical from run to run, and JSON carries the same objects.
#[test]
fn output_is_stable_and_json_matches() {
    let a = support::runnerctl(SEED_ARGS, None, None);
    let b = support::runnerctl(SEED_ARGS, None, None);
    assert_eq!(a.stdout, b.stdout);
    let mut json_args = SEED_ARGS.to_vec();
    json_args.extend(["-o", "json"]);
    let json = support::runnerctl(&json_args, None, None);
    let list: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "Secret",
            "ConfigMap",
            "Role",
            "RoleBinding",
            "Deployment"
        ]
    );
}

/// --show-secrets prints the token; nothing else does.
#[test]
fn show_secrets_reveals_the_token() {
    let mut args = SEED_ARGS.to_vec();
    args.push("--show-secrets");
    let out = support::runnerctl(&args, None, None);
    let (stdout, _) = support::texts(&out);
    // base64("XXXX")
    assert!(stdout.contains("WFhYWA=="), "{stdout}");
}

/// A config or token change changes the pod template's checksums (so the pods roll).
#[test]
fn checksums_follow_config_and_token() {
    let checksum = |extra: &[&str]| {
        let mut args = vec![
            "render",
            "-n",
            "ns",
            "--set",
            "gitlabUrl=https://g.example.com",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = support::runnerctl(&args, None, None);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", support::texts(&out).1));
        let deploy = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .unwrap()
            .clone();
        let ann = &deploy["spec"]["template"]["metadata"]["annotations"];
        (
            ann["checksum/configmap"].as_str().unwrap().to_string(),
            ann["checksum/secrets"].as_str().unwrap().to_string(),
        )
    };
    let base = checksum(&["--set", "runnerToken=glrt-a"]);
    let token = checksum(&["--set", "runnerToken=glrt-b"]);
    let config = checksum(&["--set", "runnerToken=glrt-a", "--set", "concurrent=3"]);
    assert_eq!(base.0, token.0);
    assert_ne!(base.1, token.1);
    assert_ne!(base.0, config.0);
    assert_eq!(base.1, config.1);
}
