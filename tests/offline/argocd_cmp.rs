//! `examples/argocd-cmp/plugin.yaml` run the way Argo CD's CMP sidecar runs it: its
//! `spec.generate` command and arguments, in a copy of the app directory, with nothing in the
//! environment but PATH (the test's runnerctl first), the build variables and the
//! Application's `ARGOCD_ENV_*` / `PARAM_*` entries, and a kubeconfig that does not exist (any
//! cluster access fails). Argo CD takes stdout as the objects and fails the sync on a non-zero
//! exit; these tests hold the plugin to that, and its discovery rule to the example app. The
//! GitLabRunner example that the GitOps guide (docs/guide/controller.md) syncs is checked here
//! too: its values render.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support;

const APP_NAME: &str = "ci-runner";
const APP_NAMESPACE: &str = "gitlab-runner";
/// A token an Application could wrongly pass: it must never reach stdout or stderr.
const TOKEN: &str = "glrt-cmp-t3st-0000000000";

fn example_dir() -> PathBuf {
    support::root().join("examples/argocd-cmp")
}

/// The plugin's file as data.
fn plugin() -> Value {
    let text = std::fs::read_to_string(example_dir().join("plugin.yaml")).unwrap();
    serde_saphyr::from_str(&text).expect("plugin.yaml parses")
}

/// A list of strings under `key` of `v` (command or args).
fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is a list"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// A fresh copy of examples/argocd-cmp/app, as the sidecar unpacks the repository.
struct AppDir(PathBuf);

impl AppDir {
    fn new(name: &str) -> AppDir {
        let dir = std::env::temp_dir().join(format!("runnerctl-cmp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(example_dir().join("app")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        AppDir(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }

    /// Runs `spec.generate` here with the build variables and `env` (the Application's
    /// plugin env, already prefixed, and parameters).
    fn generate(&self, env: &[(&str, &str)]) -> Output {
        self.generate_as(
            &[
                ("ARGOCD_APP_NAME", APP_NAME),
                ("ARGOCD_APP_NAMESPACE", APP_NAMESPACE),
            ],
            env,
        )
    }

    fn generate_as(&self, build: &[(&str, &str)], env: &[(&str, &str)]) -> Output {
        let generate = &plugin()["spec"]["generate"];
        let command = strings(generate, "command");
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_runnerctl")).parent().unwrap();
        let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        Command::new(&command[0])
            .args(&command[1..])
            .args(strings(generate, "args"))
            .current_dir(&self.0)
            .env_clear()
            .env("PATH", path)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .envs(build.iter().chain(env).copied())
            .output()
            .expect("the generate command starts")
    }
}

impl Drop for AppDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The objects of a successful run, checked as Argo CD takes them: stdout split at `---`
/// lines, each part one object with apiVersion, kind and metadata.name, nothing else.
fn objects(out: &Output) -> Vec<Value> {
    let (stdout, stderr) = support::texts(out);
    assert!(out.status.success(), "generate failed: {stderr}");
    let mut parts = vec![String::new()];
    for line in stdout.lines() {
        if line == "---" {
            parts.push(String::new());
        } else {
            let part = parts.last_mut().unwrap();
            part.push_str(line);
            part.push('\n');
        }
    }
    let mut objects = Vec::new();
    for part in &parts {
        let content = part
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if !content {
            continue;
        }
        let object: Value =
            serde_saphyr::from_str(part).unwrap_or_else(|e| panic!("not YAML: {e}\n{part}"));
        for field in ["/apiVersion", "/kind", "/metadata/name"] {
            assert!(
                object.pointer(field).and_then(Value::as_str).is_some(),
                "an object without {field}:\n{part}"
            );
        }
        objects.push(object);
    }
    // The whole stream parses the same way: nothing but these documents.
    let all: Vec<Value> = serde_saphyr::from_multiple(&stdout).expect("stdout is a YAML stream");
    let all: Vec<Value> = all.into_iter().filter(|d| !d.is_null()).collect();
    assert_eq!(all, objects);
    assert!(!objects.is_empty(), "no objects");
    objects
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// A failed run: non-zero, nothing on stdout (so Argo CD has no objects to apply or prune
/// by), and the reason on stderr.
fn refused(out: &Output, reason: &str) -> String {
    let (stdout, stderr) = support::texts(out);
    assert!(!out.status.success(), "succeeded:\n{stdout}");
    assert!(stdout.is_empty(), "a failed run printed:\n{stdout}");
    assert!(stderr.contains(reason), "stderr lacks {reason:?}: {stderr}");
    stderr
}

#[test]
fn generate_prints_only_the_release_objects_the_same_each_time() {
    let app = AppDir::new("generate");
    let env = [("ARGOCD_ENV_VALUES_FILES", "big-jobs.yaml")];
    let first = app.generate(&env);
    let objects = objects(&first);
    for object in &objects {
        if let Some(ns) = object.pointer("/metadata/namespace") {
            assert_eq!(ns, APP_NAMESPACE, "{}", object["kind"]);
        }
    }
    // Named after the Application; the token comes from the Secret runners.secret names,
    // and no Secret with a token is rendered.
    let deployment = of_kind(&objects, "Deployment");
    assert_eq!(
        deployment["metadata"]["name"],
        format!("{APP_NAME}-gitlab-runner")
    );
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(
        volumes.contains(r#"{"secret":{"name":"gitlab-runner-token"}}"#),
        "{volumes}"
    );
    assert!(objects.iter().all(|o| o["kind"] != "Secret"));
    // The second file is read after runnerctl-values.yaml (concurrent 4 -> 8), and the
    // build mode of the values applies.
    let (stdout, _) = support::texts(&first);
    assert!(stdout.contains("concurrent = 8"), "{stdout}");
    assert!(stdout.contains("privileged = true"), "dind-tls: {stdout}");
    // Nothing masked: every object is what the cluster should get.
    assert!(!stdout.contains("\"***\""), "{stdout}");
    // Argo CD compares what it renders each time: the same input gives the same bytes.
    let second = app.generate(&env);
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn parameters_come_after_the_plugin_env() {
    let app = AppDir::new("params");
    let out = app.generate(&[
        ("ARGOCD_ENV_SET", "concurrent=5"),
        ("ARGOCD_ENV_BUILD_MODE", "dind"),
        ("PARAM_VALUES_FILES_0", "big-jobs.yaml"),
        ("PARAM_SET_0", "concurrent=6"),
        ("PARAM_SET_1", "concurrent=7"),
        ("PARAM_BUILD_MODE", "none"),
    ]);
    objects(&out);
    let (stdout, _) = support::texts(&out);
    // --set after the files, the parameter's items after the env's, in order.
    assert!(stdout.contains("concurrent = 7"), "{stdout}");
    // The parameter's build mode wins over the env's and the values'.
    assert!(stdout.contains("privileged = false"), "none: {stdout}");
    assert!(!stdout.contains("privileged = true"), "none: {stdout}");
}

#[test]
fn a_bad_values_file_fails_the_generate_with_no_output() {
    let app = AppDir::new("bad");
    app.write("broken.yaml", "concurrent: [8\n");
    // (variable, value, what the error names)
    let cases = [
        // Malformed YAML in a later file: runnerctl stops, what it did render is not printed.
        (
            "ARGOCD_ENV_VALUES_FILES",
            "big-jobs.yaml,broken.yaml",
            "broken.yaml",
        ),
        // A file the Application names that is not in the repository.
        ("PARAM_VALUES_FILES_0", "missing.yaml", "missing.yaml"),
        // A value of the wrong type, and a build mode that does not exist.
        ("PARAM_SET_0", "concurrent=many", "concurrent"),
        ("ARGOCD_ENV_BUILD_MODE", "kaniko", "kaniko"),
    ];
    for (var, value, reason) in cases {
        refused(&app.generate(&[(var, value)]), reason);
    }
    // The app's own values broken.
    app.write("runnerctl-values.yaml", "gitlabUrl: {x\n");
    refused(&app.generate(&[]), "runnerctl-values.yaml");
}

#[test]
fn values_files_outside_the_app_directory_are_refused() {
    let app = AppDir::new("outside");
    for path in [
        "../runnerctl-values.yaml",
        "/etc/hostname",
        "a/../../b.yaml",
        "-",
    ] {
        refused(
            &app.generate(&[("PARAM_VALUES_FILES_0", path)]),
            "relative to the app directory",
        );
    }
    refused(
        &app.generate(&[("ARGOCD_ENV_VALUES_FILES", ",big-jobs.yaml")]),
        "relative to the app directory",
    );
}

#[test]
fn a_token_in_the_values_is_refused_and_never_printed() {
    let app = AppDir::new("token");
    let stderr = refused(
        &app.generate(&[("ARGOCD_ENV_SET", &format!("runnerToken={TOKEN}"))]),
        "runners.secret",
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");
    app.write("token.yaml", &format!("runnerToken: {TOKEN}\n"));
    let stderr = refused(
        &app.generate(&[("PARAM_VALUES_FILES_0", "token.yaml")]),
        "runners.secret",
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[test]
fn generate_needs_the_destination_namespace() {
    let app = AppDir::new("no-namespace");
    refused(
        &app.generate_as(
            &[("ARGOCD_APP_NAME", APP_NAME), ("ARGOCD_APP_NAMESPACE", "")],
            &[],
        ),
        "spec.destination.namespace",
    );
}

#[test]
fn discovery_matches_the_example_app_and_not_its_parent() {
    // discover.fileName is a Go filepath.Glob pattern joined to the app directory; this one
    // has no glob characters, so it matches exactly when that file is there.
    let plugin = plugin();
    let discover = &plugin["spec"]["discover"];
    assert!(
        discover.get("find").is_none(),
        "a find rule to run here too"
    );
    let name = discover["fileName"].as_str().expect("discover.fileName");
    assert!(
        !name.contains(['*', '?', '[', '\\']),
        "a glob to match here: {name}"
    );
    assert!(example_dir().join("app").join(name).is_file());
    assert!(!example_dir().join(name).exists());
    // The file discovery finds is the one generate reads first.
    let script = strings(&plugin["spec"]["generate"], "args").join("\n");
    assert!(script.contains(&format!("-f {name}")), "{script}");
}

#[test]
fn the_announced_parameters_are_the_ones_generate_reads() {
    let plugin = plugin();
    let script = strings(&plugin["spec"]["generate"], "args").join("\n");
    let announced = plugin["spec"]["parameters"]["static"].as_array().unwrap();
    assert!(!announced.is_empty());
    for parameter in announced {
        let name = parameter["name"].as_str().unwrap();
        // Argo CD's name for it: upper case, anything but A-Z0-9_ as _.
        let var: String = name
            .to_uppercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let var = match parameter["collectionType"].as_str() {
            Some("array") => format!("PARAM_{var}_0"),
            _ => format!("PARAM_{var}"),
        };
        assert!(script.contains(&var), "{name}: generate never reads {var}");
    }
}

/// examples/gitlabrunner.yaml, the manifest the GitOps guide has Argo CD or Flux sync: its
/// values are chart values runnerctl renders (no unknown key), merged as the guide says (the
/// ConfigMap of valuesFrom, then spec.values), with the token from runners.secret.
#[test]
fn the_gitlabrunner_example_holds_values_that_render() {
    let text = std::fs::read_to_string(support::root().join("examples/gitlabrunner.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("the example parses");
    let runner = of_kind(&docs, "GitLabRunner");
    assert_eq!(runner["apiVersion"], "runnerctl.io/v1alpha1");
    let app = AppDir::new("gitlabrunner");
    let mut args = vec!["render".to_string(), "ci-runner".into(), "-n".into()];
    args.push(runner["metadata"]["namespace"].as_str().unwrap().into());
    for (i, from) in runner["spec"]["valuesFrom"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(from["kind"], "ConfigMap");
        let map = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == from["name"])
            .expect("the ConfigMap valuesFrom names is in the example");
        let key = from["key"].as_str().unwrap();
        let file = format!("from-{i}.yaml");
        app.write(
            &file,
            map["data"][key]
                .as_str()
                .expect("the key is in the ConfigMap"),
        );
        args.extend(["-f".into(), file]);
    }
    app.write("spec-values.json", &runner["spec"]["values"].to_string());
    args.extend(["-f", "spec-values.json", "--strict", "--build-mode"].map(String::from));
    args.push(runner["spec"]["buildMode"].as_str().unwrap().into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = support::runnerctl(&args, None, Some(&app.0));
    let (stdout, stderr) = support::texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("concurrent = 4"), "{stdout}");
    assert!(
        stdout.contains("cpu: 100m"),
        "the ConfigMap's values: {stdout}"
    );
    assert!(stdout.contains("privileged = true"), "dind-tls: {stdout}");
    assert!(!stdout.contains("kind: Secret"), "{stdout}");
    assert!(stdout.contains("name: gitlab-runner-token"), "{stdout}");
}
