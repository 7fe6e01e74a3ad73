//! `.gitlab-ci.yml` examples that match a release: a build-and-push job for its build mode,
//! with the runner's tags and the variables the mode needs, and a header naming the runner,
//! mode and namespace. The YAML is written by the one YAML writer ([`super::to_yaml`]), so
//! tags and names from the values are always quoted data, never YAML structure.
use serde_json::{Map, Value, json};

use super::JobSetup;
use super::build_mode::BuildMode;

/// The mode a release's jobs build with: its build mode, else inferred from the job pod
/// (privileged: Docker-in-Docker, else no builds). The flag says whether it was inferred.
pub fn effective_mode(jobs: &JobSetup) -> (BuildMode, bool) {
    match jobs.build_mode {
        Some(mode) => (mode, false),
        None => {
            let privileged = jobs.job_pod.pod()["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["securityContext"]["privileged"] == json!(true));
            let certs = jobs.job_pod.pod()["spec"]["containers"][0]["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"] == json!("/certs/client"));
            let mode = match (privileged, certs) {
                (true, true) => BuildMode::DindTls,
                (true, false) => BuildMode::Dind,
                (false, _) => BuildMode::None,
            };
            (mode, true)
        }
    }
}

/// The job's script per mode: (before_script, script).
fn scripts(mode: BuildMode) -> (Vec<&'static str>, Vec<&'static str>) {
    match mode {
        BuildMode::Dind | BuildMode::DindTls => (
            vec![
                "for i in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done",
                "echo \"$CI_REGISTRY_PASSWORD\" | docker login --username \"$CI_REGISTRY_USER\" --password-stdin \"$CI_REGISTRY\"",
            ],
            vec!["docker build --tag \"$IMAGE\" .", "docker push \"$IMAGE\""],
        ),
        BuildMode::BuildkitRootless => (
            vec![
                "mkdir -p ~/.docker",
                "echo \"{\\\"auths\\\":{\\\"$CI_REGISTRY\\\":{\\\"username\\\":\\\"$CI_REGISTRY_USER\\\",\\\"password\\\":\\\"$CI_REGISTRY_PASSWORD\\\"}}}\" > ~/.docker/config.json",
            ],
            vec![
                "buildctl-daemonless.sh build --frontend dockerfile.v0 --local context=. --local dockerfile=. --output \"type=image,name=$IMAGE,push=true\"",
            ],
        ),
        BuildMode::None => (
            vec![],
            vec![
                "echo \"this runner builds no images: its job pods run unprivileged, as non-root\"",
            ],
        ),
    }
}

/// The `.gitlab-ci.yml` text for a release's jobs.
pub fn ci_example(jobs: &JobSetup) -> String {
    let (mode, inferred) = effective_mode(jobs);
    let mut job = Map::new();
    job.insert("stage".into(), json!("build"));
    if !jobs.tags.is_empty() {
        job.insert("tags".into(), json!(jobs.tags));
    }
    match mode {
        BuildMode::BuildkitRootless => {
            job.insert(
                "image".into(),
                json!({ "name": mode.build_image(), "entrypoint": [""] }),
            );
        }
        BuildMode::None => {
            let image = jobs.job_pod.pod()["spec"]["containers"][0]["image"]
                .as_str()
                .filter(|i| *i != super::job_pod::JOB_IMAGE_PLACEHOLDER)
                .unwrap_or("alpine:3");
            job.insert("image".into(), json!(image));
        }
        BuildMode::Dind | BuildMode::DindTls => {
            job.insert("image".into(), json!(mode.build_image()));
        }
    }
    if let Some((image, alias)) = mode.service_image() {
        job.insert(
            "services".into(),
            json!([{ "name": image, "alias": alias }]),
        );
    }
    let variables: Map<String, Value> = mode
        .variables()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    if !variables.is_empty() {
        job.insert("variables".into(), Value::Object(variables));
    }
    let (before, script) = scripts(mode);
    if !before.is_empty() {
        job.insert("before_script".into(), json!(before));
    }
    job.insert("script".into(), json!(script));
    let job_name = if mode == BuildMode::None {
        "check"
    } else {
        "build-image"
    };
    let mut doc = Map::new();
    doc.insert("stages".into(), json!(["build"]));
    if mode != BuildMode::None {
        doc.insert(
            "variables".into(),
            json!({ "IMAGE": "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA" }),
        );
    }
    doc.insert(job_name.into(), Value::Object(job));
    let mut out = header(jobs, mode, inferred);
    out.push_str(&super::to_yaml(&Value::Object(doc)));
    out
}

/// The comment block naming the runner, mode and namespace.
fn header(jobs: &JobSetup, mode: BuildMode, inferred: bool) -> String {
    let how = if inferred {
        " (inferred from the runner config; set runnerctl.buildMode to choose)"
    } else {
        ""
    };
    let namespace = if jobs.namespace_per_job {
        "a namespace of their own per job".to_string()
    } else {
        format!("namespace {}", super::yaml::one_line(&jobs.namespace))
    };
    let level = jobs.job_pod.assessment.level;
    let tags = if jobs.tags.is_empty() {
        "The runner has no tags (runners.tags): these jobs run only if it takes untagged jobs"
    } else {
        "Jobs carry the runner's tags"
    };
    format!(
        "# .gitlab-ci.yml for runner {runner}, build mode {mode}{how}.\n\
         # Job pods run in {namespace}, Pod Security level {level}.\n\
         # {tags}.\n\
         # Written by runnerctl ci-example; adapt the script to the project.\n",
        runner = jobs.runner_label(),
    )
}
