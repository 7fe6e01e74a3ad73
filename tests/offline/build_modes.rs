//! Build modes: what each renders (snapshots), the job pod it previews, the `.gitlab-ci.yml`
//! it writes (validated against GitLab's published CI schema with the pinned
//! `check-jsonschema`, `RUNNERCTL_CHECK_JSONSCHEMA`, which `cargo xtask test` installs), and
//! the errors for settings that contradict a mode.
use std::path::PathBuf;
use std::process::Command;

use runnerctl::render::build_mode::BuildMode;
use runnerctl::render::pod_security::Level;
use runnerctl::render::{OutputFormat, render};
use runnerctl::{Release, ValuesBuilder};

use crate::support;

const URL_AND_TOKEN: &[&str] = &[
    "--set",
    "gitlabUrl=https://gitlab.example.com",
    "--set",
    "runnerToken=glrt-abcdefghijklmnopqrst",
];

fn release(yaml: &str) -> Release {
    let (values, _) = ValuesBuilder::new()
        .values_file("test.yaml", yaml.to_string())
        .build()
        .expect("values");
    Release {
        name: "gitlab-runner".into(),
        namespace: "gitlab-runner".into(),
        values,
        create_namespace: true,
        api_versions: vec![],
    }
}

fn mode_values(mode: BuildMode) -> String {
    format!(
        "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-abcdefghijklmnopqrst\n\
         rbac:\n  create: true\nrunnerctl:\n  buildMode: {mode}\n"
    )
}

/// Each mode's whole render, reviewed: only the config and the Namespace labels differ from
/// the render without a mode.
#[test]
fn each_mode_renders_its_config_and_namespace_level() {
    let base = render(&release(
        "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-abcdefghijklmnopqrst\nrbac:\n  create: true\n",
    ))
    .unwrap();
    for mode in BuildMode::ALL {
        let manifest = render(&release(&mode_values(mode))).unwrap();
        insta::assert_snapshot!(
            format!("mode_{}", mode.name().replace('-', "_")),
            manifest.to_text(OutputFormat::Yaml, false)
        );
        // Only the ConfigMap (its config), the pod's checksum of it, and the Namespace change.
        let changed: Vec<String> = manifest
            .objects
            .iter()
            .zip(&base.objects)
            .filter(|(a, b)| a.value != b.value)
            .map(|(a, _)| a.kind().to_string())
            .collect();
        let expect: Vec<&str> = match mode {
            // The default config's level is baseline already.
            BuildMode::None => vec!["ConfigMap", "Deployment"],
            _ => vec!["Namespace", "ConfigMap", "Deployment"],
        };
        assert_eq!(changed, expect, "{mode}");
        assert_eq!(manifest.jobs.build_mode, Some(mode));
    }
}

#[test]
fn job_pod_levels_follow_the_modes() {
    for (mode, level) in [
        (BuildMode::Dind, Level::Privileged),
        (BuildMode::DindTls, Level::Privileged),
        (BuildMode::BuildkitRootless, Level::Privileged),
        (BuildMode::None, Level::Restricted),
    ] {
        let manifest = render(&release(&mode_values(mode))).unwrap();
        assert_eq!(manifest.jobs.job_pod.assessment.level, level, "{mode}");
        let pod = manifest.job_pod(false);
        let build = &pod["spec"]["containers"][0];
        assert_eq!(build["name"], "build");
        match mode {
            BuildMode::Dind | BuildMode::DindTls => {
                assert_eq!(build["securityContext"]["privileged"], true);
                assert_eq!(pod["spec"]["containers"][2]["image"], "docker:27-dind");
            }
            BuildMode::BuildkitRootless => {
                assert_eq!(build["image"], "moby/buildkit:rootless");
                assert_eq!(build["securityContext"]["privileged"], false);
                assert_eq!(
                    build["securityContext"]["seccompProfile"]["type"],
                    "Unconfined"
                );
            }
            BuildMode::None => {
                for c in pod["spec"]["containers"].as_array().unwrap() {
                    assert_eq!(
                        c["securityContext"]["capabilities"]["drop"][0], "ALL",
                        "{c}"
                    );
                    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
                }
            }
        }
        let tls_volume = pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "docker-certs" && v["emptyDir"]["medium"] == "Memory");
        assert_eq!(tls_volume, mode == BuildMode::DindTls, "{mode}");
    }
}

/// `runnerctl job-pod` per mode, reviewed: header with the level and its reasons, then the pod.
#[test]
fn job_pod_output_per_mode() {
    for mode in BuildMode::NAMES {
        let out = support::runnerctl(
            &[
                &["job-pod", "-n", "gitlab-runner"],
                URL_AND_TOKEN,
                &["--build-mode", mode],
            ]
            .concat(),
            None,
            None,
        );
        let (stdout, stderr) = support::texts(&out);
        assert!(out.status.success(), "{mode}: {stderr}");
        insta::assert_snapshot!(format!("job_pod_{}", mode.replace('-', "_")), stdout);
        let json = support::runnerctl(
            &[
                &["job-pod", "-n", "gitlab-runner", "-o", "json"],
                URL_AND_TOKEN,
                &["--build-mode", mode],
            ]
            .concat(),
            None,
            None,
        );
        let pod: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(pod["kind"], "Pod");
        let level = &pod["metadata"]["annotations"]["runnerctl.io/pod-security-level"];
        assert!(stdout.contains(&format!(
            "Pod Security level needed: {}",
            level.as_str().unwrap()
        )));
    }
}

/// The pinned check-jsonschema: `RUNNERCTL_CHECK_JSONSCHEMA` (set by `cargo xtask test`).
fn check_jsonschema() -> PathBuf {
    let path = std::env::var_os("RUNNERCTL_CHECK_JSONSCHEMA")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "RUNNERCTL_CHECK_JSONSCHEMA is not set: run `cargo xtask test`, or export \
                 RUNNERCTL_CHECK_JSONSCHEMA=$(cargo xtask check-jsonschema)"
            )
        });
    assert!(path.is_file(), "{} is not a file", path.display());
    path
}

/// Validate `.gitlab-ci.yml` texts against GitLab's CI schema; `Err` has the validator's words.
fn validate_ci(name: &str, text: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("runnerctl-ci-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.gitlab-ci.yml"));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(check_jsonschema())
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&file)
        .output()
        .expect("check-jsonschema runs");
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn ci_example(args: &[&str]) -> String {
    let out = support::runnerctl(&[&["ci-example"], args].concat(), None, None);
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{args:?}: {stderr}");
    stdout
}

#[test]
fn ci_examples_are_valid_gitlab_ci() {
    // The validator rejects what is not GitLab CI: the test can fail.
    assert!(validate_ci("bad", "job:\n  script: 3\n  bogus: true\n").is_err());
    for mode in BuildMode::NAMES {
        let text = ci_example(
            &[
                &["-n", "ci", "--tags", "k8s,docker"],
                URL_AND_TOKEN,
                &["--build-mode", mode],
            ]
            .concat(),
        );
        validate_ci(mode, &text).unwrap_or_else(|e| panic!("{mode}: {e}\n{text}"));
        insta::assert_snapshot!(format!("ci_example_{}", mode.replace('-', "_")), text);
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let job = doc
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| *k != "stages" && *k != "variables")
            .unwrap()
            .1;
        assert_eq!(job["tags"], serde_json::json!(["k8s", "docker"]), "{mode}");
        assert!(
            text.starts_with(&format!(
                "# .gitlab-ci.yml for runner gitlab-runner, build mode {mode}.\n"
            )),
            "{text}"
        );
    }
    // Without a mode: inferred from the config, and said so.
    let seed = ci_example(&["-n", "gitlab-runner", "-f", "values/examples/seed.yaml"]);
    assert!(seed.contains("build mode dind (inferred"), "{seed}");
    validate_ci("seed", &seed).unwrap();
}

/// Hostile tags stay data: YAML structure in a tag never becomes structure in the file.
#[test]
fn hostile_tags_stay_strings() {
    let hostile = "a: b\n- c\n# d\nscript: [rm]";
    let text = ci_example(
        &[
            &["-n", "ci", "--tags", hostile],
            URL_AND_TOKEN,
            &["--build-mode", "dind"],
        ]
        .concat(),
    );
    validate_ci("hostile", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(doc["build-image"]["tags"], serde_json::json!([hostile]));
    assert_eq!(doc.as_object().unwrap().len(), 3, "{text}");
}

/// A job namespace with a newline (from runners.config) stays inside the header comment.
#[test]
fn a_hostile_job_namespace_stays_in_the_comment() {
    let values = "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-abcdefghijklmnopqrst\n\
                  runners:\n  config: |\n    [[runners]]\n    [runners.kubernetes]\n    \
                  namespace = \"ci\\nstages: [evil]\"\n";
    let out = support::runnerctl(&["ci-example", "-n", "ci", "-f", "-"], Some(values), None);
    let (text, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(doc["stages"], serde_json::json!(["build"]), "{text}");
    assert!(text.contains("namespace \"ci\\nstages: [evil]\""), "{text}");
    validate_ci("hostile-namespace", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
}

#[test]
fn build_and_deploy_runners_pair() {
    let build = ci_example(&[
        "build-runner",
        "-n",
        "ci-build",
        "-f",
        "values/examples/build-runner.yaml",
        "--tags",
        "build",
    ]);
    let deploy = ci_example(&[
        "deploy-runner",
        "-n",
        "ci-deploy",
        "-f",
        "values/examples/deploy-runner.yaml",
        "--tags",
        "deploy",
    ]);
    for (name, text) in [("build", &build), ("deploy", &deploy)] {
        validate_ci(name, text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
    }
    insta::assert_snapshot!("ci_example_build_runner", build);
    insta::assert_snapshot!("ci_example_deploy_runner", deploy);
    let level = |file: &str, ns: &str| {
        let out = support::runnerctl(
            &[
                "render",
                "x",
                "-n",
                ns,
                "--create-namespace",
                "-f",
                file,
                "-o",
                "json",
            ],
            None,
            None,
        );
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list["items"][0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].clone()
    };
    assert_eq!(
        level("values/examples/build-runner.yaml", "ci-build"),
        "privileged"
    );
    assert_eq!(
        level("values/examples/deploy-runner.yaml", "ci-deploy"),
        "restricted"
    );
}

#[test]
fn contradictions_are_errors_naming_both() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-f", "values/examples/seed.yaml", "--build-mode", "none"],
            "runners.privileged sets runners.kubernetes.privileged = true, but runnerctl.buildMode \"none\" needs runners.kubernetes.privileged = false",
        ),
        (
            &[
                "--set-string",
                "runners.config=[[runners]]\n[runners.kubernetes]\nprivileged = false\n",
                "--build-mode",
                "dind-tls",
            ],
            "runners.config sets runners.kubernetes.privileged = false, but runnerctl.buildMode \"dind-tls\" needs runners.kubernetes.privileged = true",
        ),
        (
            &[
                "--set-string",
                "runners.config=[[runners]]\n[runners.kubernetes.pod_security_context]\nrun_as_non_root = false\n",
                "--build-mode",
                "none",
            ],
            "runners.config sets runners.kubernetes.pod_security_context.run_as_non_root = false",
        ),
        (
            &[
                "--set-string",
                "runners.config=[[runners]]\n[runners.kubernetes]\ncap_add = [\"SYS_ADMIN\"]\n",
                "--build-mode",
                "none",
            ],
            "runners.config gives job pods settings that runnerctl.buildMode \"none\" rules out (initContainer \"init-permissions\": capability SYS_ADMIN added; container \"build\": capability SYS_ADMIN added",
        ),
        (
            &[
                "--set-string",
                "runners.config=[[runners]]\n[runners.kubernetes.helper_container_security_context]\nprivileged = true\n",
                "--build-mode",
                "buildkit-rootless",
            ],
            "rules out (container \"helper\": privileged: true)",
        ),
        (
            &["--set", "runnerctl.buildMode=kaniko"],
            "runnerctl.buildMode",
        ),
    ];
    for (extra, expected) in cases {
        let out = support::runnerctl(
            &[&["render", "-n", "ci"], URL_AND_TOKEN, extra].concat(),
            None,
            None,
        );
        let (stdout, stderr) = support::texts(&out);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stdout.is_empty(), "{extra:?}: nothing rendered: {stdout}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    // A wrong flag value lists the modes.
    let out = support::runnerctl(&["render", "--build-mode", "kaniko"], None, None);
    let (_, stderr) = support::texts(&out);
    assert!(
        stderr.contains("dind-tls") && stderr.contains("buildkit-rootless"),
        "{stderr}"
    );
    assert_ne!(out.status.code(), Some(0));
}

/// Settings outside the mode's own are kept, and a setting that agrees with the mode is fine.
#[test]
fn user_settings_merge_with_the_mode() {
    let config = "[[runners]]\n  [runners.kubernetes]\n    privileged = true\n    cpu_limit = \"2\"\n    [[runners.kubernetes.volumes.empty_dir]]\n      name = \"cache\"\n      mount_path = \"/cache\"\n";
    let manifest = render(&release(&format!(
        "{}runners:\n  config: {}\n",
        mode_values(BuildMode::DindTls),
        serde_json::to_string(config).unwrap()
    )))
    .unwrap();
    let cm = manifest
        .objects
        .iter()
        .find(|o| o.kind() == "ConfigMap")
        .unwrap();
    let toml_text = cm.value["data"]["config.template.toml"].as_str().unwrap();
    let parsed: toml::Table = toml::from_str(toml_text).unwrap();
    let k = &parsed["runners"][0]["kubernetes"];
    assert_eq!(k["cpu_limit"].as_str(), Some("2"));
    let dirs = k["volumes"]["empty_dir"].as_array().unwrap();
    let names: Vec<&str> = dirs.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cache", "docker-certs"]);
}
