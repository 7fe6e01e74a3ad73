//! The scripts that run inside the runner image (`manifests/scripts/`), run under bash.
//!
//! Each test renders a release with `runnerctl::render`, takes the scripts and the other
//! ConfigMap entries from the rendered ConfigMap, the token from the rendered Secret and the
//! container's environment from the rendered Deployment, and lays them out in a temporary
//! root as the kubelet would. Stub `gitlab-runner`, `curl` and `sleep` programs come first on
//! PATH: they record their arguments, environment and stdin, and answer like the real ones
//! (the stub runner's `run` keeps GitLab Runner's signal contract, so the stop of a pod can be
//! played: [`Pod::start`] runs the entrypoint in the background, [`Running::signal`] sends
//! it what the kubelet would).
//! The scripts' mount paths are redirected into the root with their `RUNNERCTL_*_DIR`
//! variables. The scripts are also checked with shellcheck, which `cargo xtask test`
//! provides (`RUNNERCTL_SHELLCHECK`); this test never skips.
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use runnerctl::{Manifest, Release, ValuesBuilder, render};
use serde_json::Value;

use crate::support::fake_gitlab::{FakeGitlab, VALID_TOKEN};

const GITLAB_URL: &str = "https://gitlab.example.com/";
const RUNNER_TOKEN: &str = "glrt-t3st-auth-token-0000";
const REGISTRATION_TOKEN: &str = "GR1348941legacy-registration";
/// What the simulated kubelet gives for `fieldRef: status.hostIP`.
const HOST_IP: &str = "10.1.2.3";
const NAMESPACE: &str = "ci";
const SA_TOKEN: &str = "sa-token-for-the-api";
/// The pod's name, its HOSTNAME.
const POD_NAME: &str = "gitlab-runner-5d8f9c7b6d-x2x9z";

/// Renders a release named `gitlab-runner` in namespace `ci` from a YAML values text.
fn render_values(yaml: &str) -> Manifest {
    let (values, _warnings) = ValuesBuilder::new()
        .values_file("test.yaml", yaml)
        .build()
        .expect("values merge");
    let release = Release {
        name: "gitlab-runner".into(),
        namespace: NAMESPACE.into(),
        values,
        create_namespace: false,
        api_versions: vec![],
    };
    render(&release).expect("renders")
}

fn object<'a>(manifest: &'a Manifest, kind: &str, name: &str) -> &'a Value {
    &manifest
        .objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("{kind}/{name} is rendered"))
        .value
}

const STUB_GITLAB_RUNNER: &str = r#"#!/bin/bash
# Stub gitlab-runner: records each call, answers like the real one.
set -eu
rec="${STUB_RECORD_DIR}"
n=$(( $(cat "${rec}/gitlab-runner.count" 2>/dev/null || echo 0) + 1 ))
echo "${n}" >"${rec}/gitlab-runner.count"
dir="${rec}/gitlab-runner.${n}"
mkdir -p "${dir}"
printf '%s\n' "$@" >"${dir}/args"
env >"${dir}/env"
cat >"${dir}/stdin"
echo "gitlab-runner $1" >>"${rec}/events"
arg() { local want=$1; shift; while (($#)); do if [[ $1 == "${want}" ]]; then echo "$2"; return; fi; shift; done; }
case "$1" in
register)
  if [[ -f "${rec}/register-hangs" ]]; then
    echo "$$" >"${rec}/register.pid"
    exec "$(command -pv sleep)" 60
  fi
  failures=$(cat "${rec}/register-failures" 2>/dev/null || echo 0)
  if ((failures > 0)); then
    echo $((failures - 1)) >"${rec}/register-failures"
    echo "ERROR: Registering runner... failed" >&2
    exit 1
  fi
  config=$(arg --config "$@")
  template=$(arg --template-config "$@")
  {
    echo
    echo "[[runners]]"
    echo "  name = \"stub\""
    echo "  url = \"$(arg --url "$@")\""
    echo "  token = \"${CI_SERVER_TOKEN:-glrt-issued-for-${REGISTRATION_TOKEN:-nothing}}\""
    echo "  executor = \"$(arg --executor "$@")\""
    if [[ -n "${template}" ]]; then grep -v '^\[\[runners\]\]' "${template}"; fi
  } >>"${config}"
  ;;
run)
  config=$(arg --config "$@")
  cp "${config}" "${rec}/final-config.toml"
  # The system id the runner keeps next to its config (system_id_state.go), and a token it
  # rotated (written to config.toml only).
  system_id="$(dirname "${config}")/.runner_system_id"
  [[ -f "${system_id}" ]] || printf 's_0123456789ab' >"${system_id}"
  if [[ -f "${rec}/rotated-token" ]]; then
    sed -i "s/^\( *token = \"\).*\"/\1$(cat "${rec}/rotated-token")\"/" "${config}"
  fi
  trap 'echo "${EPOCHREALTIME}" >"${rec}/run-exited-at"' EXIT
  # The signal contract of GitLab Runner's commands/multi.go: SIGQUIT stops asking for jobs
  # and exits 0 once the running job has finished; SIGTERM or SIGINT (also after a SIGQUIT)
  # aborts the job and exits 1. The job lasts run-job-seconds; without one, or when the job
  # ends with no stop signal, the runner exits with run-status (a crash; default 0).
  job_seconds=$(cat "${rec}/run-job-seconds" 2>/dev/null || echo 0)
  ((job_seconds > 0)) || exit "$(cat "${rec}/run-status" 2>/dev/null || echo 0)"
  stop=""
  on_signal() {
    echo "gitlab-runner got SIG$1" >>"${rec}/events"
    if [[ "$1" != QUIT ]]; then stop=abort; elif [[ -z "${stop}" ]]; then stop=drain; fi
  }
  trap 'on_signal QUIT' QUIT
  trap 'on_signal TERM' TERM
  trap 'on_signal INT' INT
  command -p sleep "${job_seconds}" &
  job=$!
  echo "gitlab-runner job started" >>"${rec}/events"
  until wait "${job}"; do
    if [[ "${stop}" == abort ]]; then
      kill "${job}" 2>/dev/null || true
      echo "gitlab-runner job aborted" >>"${rec}/events"
      exit 1
    fi
  done
  echo "gitlab-runner job finished" >>"${rec}/events"
  [[ "${stop}" == drain ]] || exit "$(cat "${rec}/run-status" 2>/dev/null || echo 0)"
  ;;
verify)
  if [[ -p "${rec}/verify-hangs" ]]; then read -r -t 30 <>"${rec}/verify-hangs" || true; fi
  cat "${rec}/verify-output" 2>/dev/null || true
  exit "$(cat "${rec}/verify-status" 2>/dev/null || echo 0)"
  ;;
esac
"#;

const STUB_CURL: &str = r#"#!/bin/bash
# Stub curl: records each call; answers with curl-answer.<call> (else curl-answer);
# an answer of FAIL is an HTTP error (curl --fail exits 22). A call to STUB_GITLAB_URL (a
# fake GitLab) goes on to the real curl.
set -eu
rec="${STUB_RECORD_DIR}"
n=$(( $(cat "${rec}/curl.count" 2>/dev/null || echo 0) + 1 ))
echo "${n}" >"${rec}/curl.count"
dir="${rec}/curl.${n}"
mkdir -p "${dir}"
printf '%s\n' "$@" >"${dir}/args"
cat >"${dir}/stdin"
echo "curl" >>"${rec}/events"
if [[ -n "${STUB_GITLAB_URL:-}" && "${!#}" == "${STUB_GITLAB_URL}"/* ]]; then
  exec "$(command -pv curl)" "$@" <"${dir}/stdin"
fi
answer="${rec}/curl-answer.${n}"
[[ -f "${answer}" ]] || answer="${rec}/curl-answer"
if [[ ! -f "${answer}" || "$(cat "${answer}")" == FAIL ]]; then
  echo "curl: (22) The requested URL returned error: 403" >&2
  exit 22
fi
cat "${answer}"
"#;

const STUB_SLEEP: &str = r#"#!/bin/bash
# Stub sleep: records the delay, does not wait.
echo "sleep $*" >>"${STUB_RECORD_DIR}/events"
"#;

/// One pod's worth of mounts in a temporary root, from a rendered manifest.
struct Pod {
    root: PathBuf,
    env: Vec<(String, String)>,
}

impl Pod {
    fn new(test: &str, manifest: &Manifest) -> Pod {
        let root =
            std::env::temp_dir().join(format!("runnerctl-scripts-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for dir in [
            "configmaps",
            "secrets",
            "config",
            "serviceaccount",
            "proc",
            "bin",
            "record",
        ] {
            fs::create_dir_all(root.join(dir)).expect("temp dirs");
        }
        let mut pod = Pod {
            root,
            env: Vec::new(),
        };
        for (name, text) in [
            ("gitlab-runner", STUB_GITLAB_RUNNER),
            ("curl", STUB_CURL),
            ("sleep", STUB_SLEEP),
        ] {
            pod.write_executable(&format!("bin/{name}"), text);
        }
        pod.write("serviceaccount/token", SA_TOKEN);
        pod.write("serviceaccount/namespace", NAMESPACE);
        pod.write("serviceaccount/ca.crt", "-----BEGIN CERTIFICATE-----\n");

        let configmap = object(manifest, "ConfigMap", "gitlab-runner");
        for (key, text) in configmap["data"].as_object().expect("ConfigMap data") {
            pod.write(
                &format!("configmaps/{key}"),
                text.as_str().expect("string data"),
            );
        }
        let deployment = object(manifest, "Deployment", "gitlab-runner");
        let spec = &deployment["spec"]["template"]["spec"];
        let container = &spec["containers"][0];
        assert_eq!(
            container["command"].as_array().expect("command")[2..],
            [
                Value::from("/bin/bash"),
                Value::from("/configmaps/entrypoint")
            ],
            "the Deployment runs the entrypoint from the ConfigMap"
        );
        for e in container["env"].as_array().expect("env") {
            let name = e["name"].as_str().expect("env name").to_string();
            if let Some(value) = e["value"].as_str() {
                pod.env.push((name, value.to_string()));
            } else if e["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP" {
                pod.env.push((name, HOST_IP.to_string()));
            }
        }
        // The token Secret, projected with the keys as file names (as the Deployment says).
        if let Some(secret) = manifest.objects.iter().find(|o| o.kind() == "Secret") {
            let sources = &spec["volumes"][0]["projected"]["sources"];
            assert!(
                sources
                    .as_array()
                    .expect("projected sources")
                    .iter()
                    .any(|s| s["secret"]["name"] == secret.name()),
                "the token Secret is projected into the secrets dir"
            );
            for (key, b64) in secret.value["data"].as_object().expect("Secret data") {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_str().expect("base64"))
                    .expect("valid base64");
                pod.write(
                    &format!("secrets/{key}"),
                    &String::from_utf8(bytes).expect("utf-8"),
                );
            }
        }
        pod
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn write_executable(&self, rel: &str, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, text);
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn read(&self, rel: &str) -> String {
        let path = self.path(rel);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// A fake process for the liveness check: `/proc/<pid>/cmdline`, NUL-separated.
    fn process(&self, pid: u32, argv: &[&str]) {
        let mut text = argv.join("\0");
        text.push('\0');
        self.write(&format!("proc/{pid}/cmdline"), &text);
    }

    /// Runs one of the ConfigMap's scripts as the Deployment does: `bash /configmaps/<name>`,
    /// with the container's environment and nothing of the test's.
    fn run(&self, script: &str) -> Output {
        self.command(script).output().expect("bash runs")
    }

    /// Starts the entrypoint in the background, as [`run`](Self::run) runs it, in a process
    /// group of its own (as dumb-init and tini start it).
    fn start(&self) -> Running {
        use std::os::unix::process::CommandExt as _;
        let child = self
            .command("entrypoint")
            .process_group(0)
            .spawn()
            .expect("bash starts");
        Running { child }
    }

    /// Waits (at most [`PATIENCE`]) until the stub programs have recorded `event`.
    fn wait_for_event(&self, event: &str) {
        wait_until(
            &format!("{event:?} in {:?}", self.path("record/events")),
            || self.events().iter().any(|e| e == event),
        );
    }

    /// The command that runs one of the ConfigMap's scripts (see [`run`](Self::run)).
    fn command(&self, script: &str) -> Command {
        let system_path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        let mut cmd = Command::new("bash");
        cmd.arg(self.path(&format!("configmaps/{script}")))
            .env_clear()
            .env(
                "PATH",
                format!("{}:{system_path}", self.path("bin").display()),
            )
            .env("HOME", self.path("config"))
            .env("HOSTNAME", POD_NAME)
            .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
            .env("KUBERNETES_SERVICE_PORT", "443")
            .env("STUB_RECORD_DIR", self.path("record"))
            .env("RUNNERCTL_CONFIG_DIR", self.path("config"))
            .env("RUNNERCTL_CONFIGMAP_DIR", self.path("configmaps"))
            .env("RUNNERCTL_SECRETS_DIR", self.path("secrets"))
            .env("RUNNERCTL_SERVICEACCOUNT_DIR", self.path("serviceaccount"))
            .env("RUNNERCTL_PROC_DIR", self.path("proc"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// The arguments of the n-th `gitlab-runner` call.
    fn runner_args(&self, n: usize) -> Vec<String> {
        lines(&self.read(&format!("record/gitlab-runner.{n}/args")))
    }

    /// The environment of the n-th `gitlab-runner` call.
    fn runner_env(&self, n: usize) -> BTreeMap<String, String> {
        self.read(&format!("record/gitlab-runner.{n}/env"))
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn events(&self) -> Vec<String> {
        if self.exists("record/events") {
            lines(&self.read("record/events"))
        } else {
            Vec::new()
        }
    }

    fn final_config(&self) -> String {
        self.read("record/final-config.toml")
    }

    fn config_dir(&self) -> String {
        self.path("config").display().to_string()
    }
}

/// How long a test waits for what the scripts do in the background.
const PATIENCE: Duration = Duration::from_secs(30);

/// Waits (at most [`PATIENCE`]) until `done` says so; `what` names it when it does not.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` runs (a zombie, ended but not yet reaped, does not).
fn process_runs(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The entrypoint, running in the background (see [`Pod::start`]).
struct Running {
    child: Child,
}

impl Running {
    /// Sends `signal` (TERM, INT, QUIT) to the entrypoint, as tini passes it on.
    fn signal(&self, signal: &str) {
        self.kill(signal, self.child.id().to_string());
    }

    /// Sends `signal` to the entrypoint's process group, as dumb-init passes it on.
    fn signal_group(&self, signal: &str) {
        self.kill(signal, format!("-{}", self.child.id()));
    }

    fn kill(&self, signal: &str, target: String) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), "--".into(), target])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (at most [`PATIENCE`]) for the entrypoint to end; its output.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + PATIENCE;
        while self.child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the entrypoint did not end within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child
            .wait_with_output()
            .expect("the entrypoint's output")
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the test's root is kept: {}", self.root.display());
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "the script failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn base_values(extra: &str) -> String {
    format!("gitlabUrl: {GITLAB_URL}\n{extra}")
}

// ---------------------------------------------------------------- registration

#[test]
fn authentication_token_registers_with_ci_server_token_and_no_server_side_settings() {
    // Tags, locking and the like are set, so the Deployment passes them: a glrt- token must
    // not hand them to `register` (it refuses them).
    let manifest = render_values(&base_values(&format!(
        "runnerToken: {RUNNER_TOKEN}\nrunners:\n  tags: \"k8s,linux\"\n  locked: false\n  runUntagged: true\n  protected: true\n  maximumTimeout: 3600\n"
    )));
    let pod = Pod::new("auth-token", &manifest);
    let out = pod.run("entrypoint");
    assert_ok(&out);

    let config = pod.config_dir();
    let configmaps = pod.path("configmaps").display().to_string();
    assert_eq!(
        pod.runner_args(1),
        [
            "register",
            "--non-interactive",
            "--config",
            format!("{config}/config.toml").as_str(),
            "--url",
            GITLAB_URL,
            "--executor",
            "kubernetes",
            "--template-config",
            format!("{configmaps}/config.template.toml").as_str(),
        ]
    );
    let env = pod.runner_env(1);
    assert_eq!(
        env.get("CI_SERVER_TOKEN").map(String::as_str),
        Some(RUNNER_TOKEN)
    );
    for name in [
        "REGISTRATION_TOKEN",
        "REGISTER_LOCKED",
        "RUNNER_TAG_LIST",
        "REGISTER_RUN_UNTAGGED",
        "REGISTER_ACCESS_LEVEL",
        "REGISTER_MAXIMUM_TIMEOUT",
    ] {
        assert!(
            !env.contains_key(name),
            "{name} must not reach register with a glrt- token"
        );
    }
    // The token is nowhere on a command line, nor in the runner's environment.
    assert_eq!(pod.runner_args(2)[0], "run");
    for n in [1, 2] {
        assert!(!pod.runner_args(n).join(" ").contains(RUNNER_TOKEN));
    }
    assert!(!pod.runner_env(2).values().any(|v| v.contains(RUNNER_TOKEN)));
    assert!(!stderr(&out).contains(RUNNER_TOKEN));

    // The final config: the ConfigMap's global section, then the registered runner with the
    // template's settings (the default runners.config: the job namespace, image alpine).
    let final_config = pod.final_config();
    assert!(
        final_config.starts_with(&pod.read("configmaps/config.toml")),
        "{final_config}"
    );
    assert!(final_config.contains(&format!("token = \"{RUNNER_TOKEN}\"")));
    assert!(
        final_config.contains("[runners.kubernetes]"),
        "{final_config}"
    );
    assert!(
        final_config.contains(&format!("namespace = \"{NAMESPACE}\"")),
        "{final_config}"
    );
    assert_eq!(
        pod.runner_args(2),
        [
            "run",
            "--working-directory",
            config.as_str(),
            "--config",
            format!("{config}/config.toml").as_str()
        ]
    );
    assert_eq!(
        pod.events(),
        ["gitlab-runner register", "gitlab-runner run"]
    );
}

#[test]
fn registration_token_registers_with_registration_token_and_the_runner_settings() {
    let manifest = render_values(&base_values(&format!(
        "runnerRegistrationToken: {REGISTRATION_TOKEN}\nrunners:\n  tags: \"k8s,linux\"\n  locked: false\n  runUntagged: true\n  protected: true\n  name: ci-runner\n"
    )));
    let pod = Pod::new("legacy-token", &manifest);
    let out = pod.run("entrypoint");
    assert_ok(&out);

    let args = pod.runner_args(1);
    assert_eq!(
        args[..2],
        ["register".to_string(), "--non-interactive".to_string()]
    );
    assert!(!args.join(" ").contains(REGISTRATION_TOKEN));
    let env = pod.runner_env(1);
    assert_eq!(
        env.get("REGISTRATION_TOKEN").map(String::as_str),
        Some(REGISTRATION_TOKEN)
    );
    assert!(!env.contains_key("CI_SERVER_TOKEN"));
    for (name, value) in [
        ("RUNNER_TAG_LIST", "k8s,linux"),
        ("REGISTER_LOCKED", "false"),
        ("REGISTER_RUN_UNTAGGED", "true"),
        ("REGISTER_ACCESS_LEVEL", "ref_protected"),
        ("RUNNER_NAME", "ci-runner"),
        ("CI_SERVER_URL", GITLAB_URL),
    ] {
        assert_eq!(
            env.get(name).map(String::as_str),
            Some(value),
            "{name} for a legacy registration"
        );
    }
    assert!(
        !pod.runner_env(2)
            .values()
            .any(|v| v.contains(REGISTRATION_TOKEN))
    );
    assert!(
        pod.final_config()
            .contains(&format!("token = \"glrt-issued-for-{REGISTRATION_TOKEN}\""))
    );
}

#[test]
fn authentication_token_in_the_registration_token_key_registers_as_one() {
    let manifest = render_values(&base_values(&format!(
        "runnerRegistrationToken: {RUNNER_TOKEN}\nrunners:\n  tags: k8s\n"
    )));
    let pod = Pod::new("auth-in-legacy-key", &manifest);
    let out = pod.run("entrypoint");
    assert_ok(&out);
    let env = pod.runner_env(1);
    assert_eq!(
        env.get("CI_SERVER_TOKEN").map(String::as_str),
        Some(RUNNER_TOKEN)
    );
    assert!(!env.contains_key("REGISTRATION_TOKEN"));
    assert!(!env.contains_key("RUNNER_TAG_LIST"));
    assert!(stderr(&out).contains("registering it as one"));
}

#[test]
fn without_a_token_the_entrypoint_fails_before_registering() {
    let manifest = render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n")));
    let pod = Pod::new("no-token", &manifest);
    pod.write("secrets/runner-token", "");
    pod.write("secrets/runner-registration-token", "");
    let out = pod.run("entrypoint");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("set runnerToken or runners.secret"),
        "{}",
        stderr(&out)
    );
    assert!(pod.events().is_empty(), "{:?}", pod.events());
}

#[test]
fn registration_is_retried_five_seconds_apart_then_the_runner_starts() {
    let manifest = render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n")));
    let pod = Pod::new("retry", &manifest);
    pod.write("record/register-failures", "2");
    let out = pod.run("entrypoint");
    assert_ok(&out);
    assert_eq!(
        pod.events(),
        [
            "gitlab-runner register",
            "sleep 5",
            "gitlab-runner register",
            "sleep 5",
            "gitlab-runner register",
            "gitlab-runner run"
        ]
    );
}

#[test]
fn registration_gives_up_after_thirty_attempts() {
    let manifest = render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n")));
    let pod = Pod::new("give-up", &manifest);
    pod.write("record/register-failures", "1000");
    let out = pod.run("entrypoint");
    assert_eq!(out.status.code(), Some(1));
    let events = pod.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "gitlab-runner register")
            .count(),
        30
    );
    assert_eq!(events.iter().filter(|e| *e == "sleep 5").count(), 29);
    assert!(!events.contains(&"gitlab-runner run".to_string()));
    assert!(stderr(&out).contains("failed 30 times"));
}

#[test]
fn several_runners_register_each_with_its_template_and_token_then_run_once() {
    let second = "glrt-second-runner-token-0000";
    let manifest = render_values(&base_values(&format!(
        "runners:\n  name: not-the-runners-name\n  config: |\n    [[runners]]\n      name = \"build\"\n    [[runners]]\n      name = \"deploy\"\n      [runners.kubernetes]\n        namespace = \"deploy\"\nrunnerctl:\n  runnerTokens:\n    build: {RUNNER_TOKEN}\n    deploy: {second}\n"
    )));
    let pod = Pod::new("several-runners", &manifest);
    let out = pod.run("entrypoint");
    assert_ok(&out);
    let configmaps = pod.path("configmaps").display().to_string();
    for (n, token, template) in [(1, RUNNER_TOKEN, 0), (2, second, 1)] {
        let args = pod.runner_args(n);
        assert_eq!(args[0], "register");
        assert_eq!(
            args[args.len() - 2..],
            [
                "--template-config".to_string(),
                format!("{configmaps}/config.template.{template}.toml")
            ]
        );
        let env = pod.runner_env(n);
        assert_eq!(env.get("CI_SERVER_TOKEN").map(String::as_str), Some(token));
        // The template's name is the runner's: RUNNER_NAME would replace it.
        assert!(!env.contains_key("RUNNER_NAME"), "{env:?}");
        assert!(!args.join(" ").contains(token));
        assert!(!stderr(&out).contains(token));
    }
    assert_eq!(
        pod.events(),
        [
            "gitlab-runner register",
            "gitlab-runner register",
            "gitlab-runner run"
        ]
    );
    let config = pod.final_config();
    assert_eq!(config.matches("[[runners]]").count(), 2, "{config}");
    assert!(config.contains("namespace = \"deploy\""), "{config}");
    assert!(
        config.contains(&format!("namespace = \"{NAMESPACE}\"")),
        "{config}"
    );
}

#[test]
fn a_runner_without_its_token_key_stops_the_start() {
    let manifest = render_values(&base_values(
        "runners:\n  secret: made-elsewhere\n  config: |\n    [[runners]]\n      name = \"build\"\n    [[runners]]\n      name = \"deploy\"\n",
    ));
    let pod = Pod::new("several-runners-missing", &manifest);
    pod.write("secrets/runner-token-build", RUNNER_TOKEN);
    let out = pod.run("entrypoint");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no token for runner deploy")
            && stderr(&out).contains("runner-token-deploy"),
        "{}",
        stderr(&out)
    );
    assert!(pod.events().is_empty(), "nothing registered");
}

// ---------------------------------------------------------------- system id

#[test]
fn the_system_id_is_the_pod_s_and_an_existing_one_is_kept() {
    let values = base_values(&format!("runnerToken: {RUNNER_TOKEN}\n"));
    let pod = Pod::new("system-id", &render_values(&values));
    assert_ok(&pod.run("entrypoint"));
    // Exactly what runnerctl computes, no newline.
    assert_eq!(pod.read("config/.runner_system_id"), system_id());

    let pod = Pod::new("system-id-kept", &render_values(&values));
    pod.write("config/.runner_system_id", "s_0123456789ab");
    assert_ok(&pod.run("entrypoint"));
    assert_eq!(pod.read("config/.runner_system_id"), "s_0123456789ab");
}

// ---------------------------------------------------------------- runners.configPath

#[test]
fn config_path_is_the_template_when_runners_config_is_empty() {
    let template_dir = std::env::temp_dir().join(format!(
        "runnerctl-scripts-{}-config-path-mount",
        std::process::id()
    ));
    fs::create_dir_all(&template_dir).expect("dir");
    let template = template_dir.join("template.toml");
    fs::write(
        &template,
        "[[runners]]\n  [runners.kubernetes]\n    image = \"from-config-path\"\n",
    )
    .expect("template");
    let manifest = render_values(&base_values(&format!(
        "runnerToken: {RUNNER_TOKEN}\nrunners:\n  config: \"\"\n  configPath: {}\n",
        template.display()
    )));
    let pod = Pod::new("config-path", &manifest);
    assert!(!pod.exists("configmaps/config.template.toml"));
    let out = pod.run("entrypoint");
    assert_ok(&out);
    let args = pod.runner_args(1);
    assert_eq!(
        args[args.len() - 2..],
        [
            "--template-config".to_string(),
            template.display().to_string()
        ]
    );
    assert!(pod.final_config().contains("image = \"from-config-path\""));

    // A path that is not in the container is said plainly, without registering.
    fs::remove_dir_all(&template_dir).expect("cleanup");
    let pod = Pod::new("config-path-missing", &manifest);
    let out = pod.run("entrypoint");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("runners.configPath"),
        "{}",
        stderr(&out)
    );
    assert!(pod.events().is_empty());
}

// ---------------------------------------------------------------- cache credentials

#[test]
fn cache_credentials_from_the_cache_secret_reach_register() {
    let manifest = render_values(&base_values(&format!(
        "runnerToken: {RUNNER_TOKEN}\nrunners:\n  cache:\n    secretName: cache-creds\n"
    )));
    let deployment = object(&manifest, "Deployment", "gitlab-runner");
    let sources = &deployment["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"];
    assert!(
        sources
            .as_array()
            .expect("sources")
            .iter()
            .any(|s| s["secret"]["name"] == "cache-creds"),
        "the cache Secret is projected into the secrets dir"
    );

    // S3 and Azure keys, and a GCS credentials file.
    let pod = Pod::new("cache-s3", &manifest);
    pod.write("secrets/accesskey", "AKIAEXAMPLE\n");
    pod.write("secrets/secretkey", "s3-secret-key");
    pod.write("secrets/azure-account-name", "azname");
    pod.write("secrets/azure-account-key", "azkey");
    pod.write(
        "secrets/gcs-application-credentials-file",
        "{\"type\": \"x\"}",
    );
    pod.write(
        "secrets/gcs-access-id",
        "ignored-when-a-credentials-file-exists",
    );
    assert_ok(&pod.run("entrypoint"));
    let env = pod.runner_env(1);
    let secrets = pod.path("secrets").display().to_string();
    let expected_gcs_file = format!("{secrets}/gcs-application-credentials-file");
    for (name, value) in [
        ("CACHE_S3_ACCESS_KEY", "AKIAEXAMPLE"),
        ("CACHE_S3_SECRET_KEY", "s3-secret-key"),
        ("CACHE_AZURE_ACCOUNT_NAME", "azname"),
        ("CACHE_AZURE_ACCOUNT_KEY", "azkey"),
        ("GOOGLE_APPLICATION_CREDENTIALS", expected_gcs_file.as_str()),
    ] {
        assert_eq!(env.get(name).map(String::as_str), Some(value), "{name}");
    }
    assert!(!env.contains_key("CACHE_GCS_ACCESS_ID"));

    // GCS access id and private key.
    let pod = Pod::new("cache-gcs", &manifest);
    pod.write("secrets/gcs-access-id", "sa@project.iam");
    pod.write(
        "secrets/gcs-private-key",
        "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
    );
    assert_ok(&pod.run("entrypoint"));
    let env = pod.read("record/gitlab-runner.1/env");
    assert!(env.contains("CACHE_GCS_ACCESS_ID=sa@project.iam\n"));
    assert!(env.contains(
        "CACHE_GCS_PRIVATE_KEY=-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    ));
    assert!(!env.contains("GOOGLE_APPLICATION_CREDENTIALS="));
    assert!(!env.contains("CACHE_S3_ACCESS_KEY="));

    // No cache Secret: no cache variables.
    let pod = Pod::new("cache-none", &manifest);
    assert_ok(&pod.run("entrypoint"));
    assert!(
        !pod.runner_env(1)
            .keys()
            .any(|k| k.starts_with("CACHE_") || k == "GOOGLE_APPLICATION_CREDENTIALS")
    );
}

// ---------------------------------------------------------------- pre-entrypoint script

#[test]
fn the_pre_entrypoint_script_runs_after_registration_and_before_the_runner() {
    let script = "echo \"pre-entrypoint ran in $PWD\" >>\"$STUB_RECORD_DIR/events\"\n";
    let manifest = render_values(&base_values(&format!(
        "runnerToken: {RUNNER_TOKEN}\npreEntrypointScript: {}\n",
        serde_json::to_string(script).expect("json")
    )));
    let pod = Pod::new("pre-entrypoint", &manifest);
    let out = pod.run("entrypoint");
    assert_ok(&out);
    let events = pod.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0], "gitlab-runner register");
    assert!(events[1].starts_with("pre-entrypoint ran"), "{events:?}");
    assert_eq!(events[2], "gitlab-runner run");

    // A failing pre-entrypoint script stops the start.
    let manifest = render_values(&base_values(&format!(
        "runnerToken: {RUNNER_TOKEN}\npreEntrypointScript: \"exit 3\"\n"
    )));
    let pod = Pod::new("pre-entrypoint-fails", &manifest);
    let out = pod.run("entrypoint");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("pre-entrypoint script"));
    assert_eq!(pod.events(), ["gitlab-runner register"]);
}

// ---------------------------------------------------------------- stopping

/// A pod whose runner runs one job of `job_seconds` (and unregisters nothing: see below).
fn pod_with_a_job(test: &str, job_seconds: u32) -> Pod {
    let values = format!("runnerToken: {RUNNER_TOKEN}\nunregisterRunners: false\n");
    let pod = Pod::new(test, &render_values(&base_values(&values)));
    pod.write("record/run-job-seconds", &job_seconds.to_string());
    pod
}

#[test]
fn a_stop_signal_drains_the_runner_and_the_entrypoint_exits_with_its_status() {
    // Each signal to the entrypoint alone (tini), and TERM to its process group (dumb-init).
    for (signal, group) in [
        ("TERM", false),
        ("INT", false),
        ("QUIT", false),
        ("TERM", true),
    ] {
        let pod = pod_with_a_job(&format!("drain-{signal}-{group}"), 2);
        let running = pod.start();
        pod.wait_for_event("gitlab-runner job started");
        if group {
            running.signal_group(signal);
        } else {
            running.signal(signal);
        }
        let out = running.finish();
        assert_ok(&out);
        assert_eq!(
            pod.events(),
            [
                "gitlab-runner register",
                "gitlab-runner run",
                "gitlab-runner job started",
                "gitlab-runner got SIGQUIT",
                "gitlab-runner job finished",
            ],
            "SIG{signal}, to the group: {group}"
        );
        assert!(
            stderr(&out).contains(&format!("SIG{signal}: the runner takes no new jobs")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_second_stop_signal_aborts_the_jobs() {
    let pod = pod_with_a_job("abort", 60);
    let started = Instant::now();
    let running = pod.start();
    pod.wait_for_event("gitlab-runner job started");
    running.signal("TERM");
    // Signals of one kind do not queue: the second is sent once the first has arrived.
    pod.wait_for_event("gitlab-runner got SIGQUIT");
    running.signal("TERM");
    let out = running.finish();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the job was not aborted"
    );
    assert_eq!(out.status.code(), Some(1), "the runner's status");
    assert_eq!(
        pod.events()[2..],
        [
            "gitlab-runner job started",
            "gitlab-runner got SIGQUIT",
            "gitlab-runner got SIGTERM",
            "gitlab-runner job aborted",
        ]
    );
    assert!(stderr(&out).contains("SIGTERM again: the runner aborts the running jobs"));
}

#[test]
fn the_runner_s_own_exit_status_is_the_entrypoint_s() {
    let pod = Pod::new(
        "crash",
        &render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n"))),
    );
    pod.write("record/run-status", "3");
    let out = pod.run("entrypoint");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        pod.events(),
        ["gitlab-runner register", "gitlab-runner run"]
    );
}

#[test]
fn a_stop_signal_during_registration_ends_the_entrypoint_at_once() {
    let pod = Pod::new(
        "stop-registering",
        &render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n"))),
    );
    pod.write("record/register-hangs", "");
    let started = Instant::now();
    let running = pod.start();
    wait_until("register", || pod.exists("record/register.pid"));
    running.signal("TERM");
    let out = running.finish();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the entrypoint waited for register"
    );
    assert_eq!(out.status.code(), Some(128 + 15));
    assert!(stderr(&out).contains("SIGTERM before the runner started: stopping"));
    assert_eq!(pod.events(), ["gitlab-runner register"]);
    // The registration it was waiting for is stopped too.
    let register = pod.read("record/register.pid");
    wait_until("end of register", || !process_runs(register.trim()));
}

// ---------------------------------------------------------------- unregistering

/// The system id the entrypoint writes next to the config for the pod [`POD_NAME`].
fn system_id() -> String {
    runnerctl::render::system_id_of_pod(POD_NAME)
}

/// Stops a pod whose runner runs a job: TERM once the job has started; the output.
fn stop_during_the_job(pod: &Pod) -> Output {
    let running = pod.start();
    pod.wait_for_event("gitlab-runner job started");
    running.signal("TERM");
    running.finish()
}

/// A pod for `values` (after gitlabUrl, the fake's) whose runner runs a job of `job_seconds`
/// and whose GitLab calls reach `fake`.
fn pod_with_gitlab(test: &str, fake: &FakeGitlab, values: &str, job_seconds: u32) -> Pod {
    let manifest = render_values(&format!("gitlabUrl: {}/\n{values}", fake.url));
    let mut pod = Pod::new(test, &manifest);
    pod.write("record/run-job-seconds", &job_seconds.to_string());
    pod.env
        .push(("STUB_GITLAB_URL".to_string(), fake.url.clone()));
    pod
}

/// When the stub runner exited.
fn runner_exited_at(pod: &Pod) -> SystemTime {
    let seconds: f64 = pod
        .read("record/run-exited-at")
        .trim()
        .parse()
        .expect("EPOCHREALTIME");
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds)
}

#[test]
fn the_runner_manager_is_unregistered_once_the_runner_has_drained() {
    let dir = std::env::temp_dir().join(format!("runnerctl-scripts-{}-gitlab", std::process::id()));
    let fake = FakeGitlab::https(&dir);
    let pod = pod_with_gitlab(
        "unregister",
        &fake,
        &format!("runnerToken: {VALID_TOKEN}\ncertsSecretName: gitlab-ca\n"),
        10,
    );
    // certsSecretName's CA, where the Deployment mounts it: <config dir>/certs/<host>.crt.
    pod.write(
        "config/certs/127.0.0.1.crt",
        &fs::read_to_string(dir.join("ca.crt")).expect("the fake's CA"),
    );
    let out = stop_during_the_job(&pod);
    assert_ok(&out);
    assert_eq!(
        pod.events()[2..],
        [
            "gitlab-runner job started",
            "gitlab-runner got SIGQUIT",
            "gitlab-runner job finished",
            "curl",
        ]
    );
    let requests = fake.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let delete = &requests[0];
    assert_eq!(
        (delete.method.as_str(), delete.path.as_str()),
        ("DELETE", "/api/v4/runners/managers")
    );
    assert_eq!(
        delete.body,
        serde_json::json!({"token": VALID_TOKEN, "system_id": system_id()})
    );
    assert!(
        delete.at > runner_exited_at(&pod),
        "the manager was unregistered before the runner had exited"
    );
    // The token went to curl on stdin only, and is printed nowhere.
    let args = lines(&pod.read("record/curl.1/args"));
    assert!(!args.join(" ").contains(VALID_TOKEN), "{args:?}");
    for pair in [
        ["--data-binary", "@-"],
        ["--max-time", "10"],
        [
            "--cacert",
            &format!("{}/certs/127.0.0.1.crt", pod.config_dir()),
        ],
    ] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
    }
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!printed.contains(VALID_TOKEN), "{printed}");
    assert!(
        printed.contains(&format!("runner manager {} unregistered", system_id())),
        "{printed}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_token_the_runner_rotated_is_the_one_that_unregisters() {
    let fake = FakeGitlab::http();
    let pod = pod_with_gitlab(
        "unregister-rotated",
        &fake,
        "runnerToken: glrt-before-rotation-0000\n",
        1,
    );
    pod.write("record/rotated-token", VALID_TOKEN);
    assert_ok(&stop_during_the_job(&pod));
    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].body["token"], VALID_TOKEN);
}

#[test]
fn each_runner_s_manager_is_unregistered_with_the_same_system_id() {
    let fake = FakeGitlab::http();
    let pod = pod_with_gitlab(
        "unregister-several",
        &fake,
        &format!(
            "runners:\n  config: |\n    [[runners]]\n      name = \"a\"\n    [[runners]]\n      name = \"b\"\nrunnerctl:\n  runnerTokens:\n    a: {VALID_TOKEN}\n    b: glrt-the-other-runner-0000\n"
        ),
        1,
    );
    assert_ok(&stop_during_the_job(&pod));
    let requests = fake.requests.lock().unwrap();
    let bodies: Vec<_> = requests.iter().map(|r| r.body.clone()).collect();
    assert_eq!(
        bodies,
        [
            serde_json::json!({"token": VALID_TOKEN, "system_id": system_id()}),
            serde_json::json!({"token": "glrt-the-other-runner-0000", "system_id": system_id()}),
        ]
    );
}

#[test]
fn a_refused_unregistering_is_said_and_changes_no_exit_status() {
    let fake = FakeGitlab::http();
    let token = "glrt-revoked-token-00000";
    let pod = pod_with_gitlab(
        "unregister-refused",
        &fake,
        &format!("runnerToken: {token}\n"),
        1,
    );
    let out = stop_during_the_job(&pod);
    assert_ok(&out);
    assert_eq!(fake.requests.lock().unwrap().len(), 1);
    assert!(
        stderr(&out).contains(&format!(
            "could not unregister runner manager {}",
            system_id()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(token));
}

#[test]
fn no_unregistering_without_a_stop_signal_or_with_unregister_runners_false() {
    // The runner crashes (no stop signal): the container restarts with the same system id.
    let fake = FakeGitlab::http();
    let pod = pod_with_gitlab(
        "no-unregister-crash",
        &fake,
        &format!("runnerToken: {VALID_TOKEN}\n"),
        0,
    );
    pod.write("record/run-status", "2");
    let out = pod.run("entrypoint");
    assert_eq!(out.status.code(), Some(2));
    // unregisterRunners: false, stopped.
    let pod = pod_with_gitlab(
        "no-unregister-false",
        &fake,
        &format!("runnerToken: {VALID_TOKEN}\nunregisterRunners: false\n"),
        1,
    );
    assert!(
        !pod.env
            .iter()
            .any(|(name, _)| name == "RUNNERCTL_UNREGISTER")
    );
    assert_ok(&stop_during_the_job(&pod));
    assert!(!pod.events().contains(&"curl".to_string()));
    assert!(fake.requests.lock().unwrap().is_empty());
}

#[test]
fn a_runner_registered_with_a_registration_token_unregisters_itself() {
    let fake = FakeGitlab::http();
    let pod = pod_with_gitlab(
        "unregister-legacy",
        &fake,
        &format!("runnerRegistrationToken: {REGISTRATION_TOKEN}\n"),
        1,
    );
    assert_ok(&stop_during_the_job(&pod));
    assert_eq!(
        pod.events().last().map(String::as_str),
        Some("gitlab-runner unregister")
    );
    let config = format!("{}/config.toml", pod.config_dir());
    assert_eq!(
        pod.runner_args(3),
        ["unregister", "--all-runners", "--config", config.as_str()]
    );
    assert!(fake.requests.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------- session server

fn session_values(session: &str) -> String {
    base_values(&format!(
        "runnerToken: {RUNNER_TOKEN}\nreplicas: 1\nsessionServer:\n  enabled: true\n{session}"
    ))
}

fn session_section(config: &str) -> String {
    let start = config
        .find("[session_server]")
        .unwrap_or_else(|| panic!("no [session_server] in\n{config}"));
    let rest = &config[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

fn service_json(node_port: Option<u32>, ingress: &str) -> String {
    let node_port = node_port.map_or(String::new(), |p| format!(", \"nodePort\": {p}"));
    format!(
        r#"{{
  "kind": "Service",
  "metadata": {{"name": "gitlab-runner-session-server", "namespace": "ci"}},
  "spec": {{
    "type": "LoadBalancer",
    "clusterIP": "10.96.7.8",
    "clusterIPs": ["10.96.7.8"],
    "ports": [{{"name": "session-server", "protocol": "TCP", "port": 9000, "targetPort": 8093{node_port}}}]
  }},
  "status": {{"loadBalancer": {ingress}}}
}}"#
    )
}

#[test]
fn session_server_cluster_ip_advertises_the_service_dns_name() {
    let manifest = render_values(&session_values("  serviceType: ClusterIP\n"));
    let pod = Pod::new("session-clusterip", &manifest);
    assert_ok(&pod.run("entrypoint"));
    let section = session_section(&pod.final_config());
    assert!(
        section.contains(
            "advertise_address = \"gitlab-runner-session-server.ci.svc.cluster.local:9000\""
        ),
        "{section}"
    );
    assert!(section.contains("listen_address = \"0.0.0.0:8093\""));
    assert!(
        !pod.exists("record/curl.count"),
        "ClusterIP needs no API call"
    );
}

#[test]
fn session_server_node_port_advertises_the_node_ip_and_node_port() {
    let manifest = render_values(&session_values(
        "  serviceType: NodePort\n  nodePort: 30093\n",
    ));
    let pod = Pod::new("session-nodeport", &manifest);
    assert_ok(&pod.run("entrypoint"));
    assert!(
        session_section(&pod.final_config())
            .contains(&format!("advertise_address = \"{HOST_IP}:30093\""))
    );
    assert!(!pod.exists("record/curl.count"));

    // Without a fixed nodePort, the one the API assigned, read with curl.
    let manifest = render_values(&session_values("  serviceType: NodePort\n"));
    let pod = Pod::new("session-nodeport-assigned", &manifest);
    pod.write("record/curl-answer", &service_json(Some(31234), "{}"));
    assert_ok(&pod.run("entrypoint"));
    assert!(
        session_section(&pod.final_config())
            .contains(&format!("advertise_address = \"{HOST_IP}:31234\""))
    );
    // The API call: the pod's service account, the token on stdin only.
    let args = lines(&pod.read("record/curl.1/args"));
    let sa = pod.path("serviceaccount").display().to_string();
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--cacert" && w[1] == format!("{sa}/ca.crt")),
        "{args:?}"
    );
    assert!(args.windows(2).any(|w| w == ["--header", "@-"]), "{args:?}");
    assert!(args.contains(&"--fail".to_string()));
    assert_eq!(
        args.last().map(String::as_str),
        Some("https://10.96.0.1:443/api/v1/namespaces/ci/services/gitlab-runner-session-server")
    );
    assert!(!args.join(" ").contains(SA_TOKEN));
    assert_eq!(
        pod.read("record/curl.1/stdin"),
        format!("Authorization: Bearer {SA_TOKEN}\n")
    );
}

#[test]
fn session_server_load_balancer_waits_for_the_ingress_address() {
    let manifest = render_values(&session_values("  serviceType: LoadBalancer\n"));
    let pod = Pod::new("session-lb", &manifest);
    pod.write("record/curl-answer.1", "FAIL");
    pod.write("record/curl-answer.2", &service_json(None, "{}"));
    pod.write(
        "record/curl-answer.3",
        &service_json(
            None,
            r#"{"ingress": [{"ip": "203.0.113.7", "ipMode": "VIP"}]}"#,
        ),
    );
    assert_ok(&pod.run("entrypoint"));
    let section = session_section(&pod.final_config());
    assert!(
        section.contains("advertise_address = \"203.0.113.7:9000\""),
        "{section}"
    );
    assert_eq!(section.matches("advertise_address").count(), 1);
    assert_eq!(
        pod.events(),
        [
            "curl",
            "sleep 5",
            "curl",
            "sleep 5",
            "curl",
            "gitlab-runner register",
            "gitlab-runner run"
        ]
    );

    // A hostname (e.g. AWS), and an IPv6 address (in brackets).
    let pod = Pod::new("session-lb-hostname", &manifest);
    pod.write(
        "record/curl-answer",
        &service_json(None, r#"{"ingress":[{"hostname":"abc.elb.example.com"}]}"#),
    );
    assert_ok(&pod.run("entrypoint"));
    assert!(
        session_section(&pod.final_config())
            .contains("advertise_address = \"abc.elb.example.com:9000\"")
    );
    let pod = Pod::new("session-lb-ipv6", &manifest);
    pod.write(
        "record/curl-answer",
        &service_json(None, r#"{"ingress":[{"ip":"2001:db8::7"}]}"#),
    );
    assert_ok(&pod.run("entrypoint"));
    assert!(
        session_section(&pod.final_config()).contains("advertise_address = \"[2001:db8::7]:9000\"")
    );

    // Never an address: the runner starts anyway, without the terminal, after 30 tries.
    let pod = Pod::new("session-lb-pending", &manifest);
    pod.write("record/curl-answer", &service_json(None, "{}"));
    let out = pod.run("entrypoint");
    assert_ok(&out);
    assert_eq!(pod.read("record/curl.count").trim(), "30");
    assert!(!pod.final_config().contains("advertise_address"));
    assert!(stderr(&out).contains("without the web terminal"));
}

#[test]
fn session_server_public_ip_is_used_as_given() {
    let manifest = render_values(&session_values(
        "  serviceType: LoadBalancer\n  publicIP: terminal.example.com\n",
    ));
    let pod = Pod::new("session-public-ip", &manifest);
    assert_ok(&pod.run("entrypoint"));
    let section = session_section(&pod.final_config());
    assert!(
        section.contains("advertise_address = \"terminal.example.com:9000\""),
        "{section}"
    );
    assert_eq!(section.matches("advertise_address").count(), 1);
    assert!(!pod.exists("record/curl.count"));
}

#[test]
fn without_a_session_server_config_toml_is_the_configmap_s_plus_the_runner() {
    let manifest = render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n")));
    let pod = Pod::new("no-session", &manifest);
    assert_ok(&pod.run("entrypoint"));
    let config = pod.final_config();
    assert!(!config.contains("session_server"));
    assert!(config.starts_with(&pod.read("configmaps/config.toml")));
    assert!(!pod.exists("record/curl.count"));
}

// ---------------------------------------------------------------- liveness check

fn live_pod(test: &str) -> Pod {
    let manifest = render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n")));
    let deployment = object(&manifest, "Deployment", "gitlab-runner");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["exec"]["command"],
        serde_json::json!(["/bin/bash", "/configmaps/check-live"])
    );
    let pod = Pod::new(test, &manifest);
    let entrypoint = pod.path("configmaps/entrypoint").display().to_string();
    // PID 1: the init process keeps the entrypoint in its command line for good.
    pod.process(
        1,
        &["/usr/bin/dumb-init", "--", "/bin/bash", entrypoint.as_str()],
    );
    pod
}

#[test]
fn liveness_passes_while_the_entrypoint_registers() {
    let pod = live_pod("live-starting");
    let entrypoint = pod.path("configmaps/entrypoint").display().to_string();
    pod.process(7, &["/bin/bash", entrypoint.as_str()]);
    assert_ok(&pod.run("check-live"));
    assert!(pod.events().is_empty(), "no verify while starting");

    let pod = live_pod("live-registering");
    let config = format!("{}/config.toml", pod.config_dir());
    pod.process(
        9,
        &[
            "gitlab-runner",
            "register",
            "--non-interactive",
            "--config",
            config.as_str(),
        ],
    );
    assert_ok(&pod.run("check-live"));
    assert!(pod.events().is_empty());
}

#[test]
fn liveness_fails_when_neither_the_runner_nor_the_entrypoint_runs() {
    let pod = live_pod("live-dead");
    pod.process(12, &["/bin/bash", "/configmaps/check-live"]);
    let out = pod.run("check-live");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
}

#[test]
fn liveness_asks_verify_while_the_runner_runs() {
    // The runner runs as a child of the entrypoint, which runs on: GitLab is asked.
    let running = |test: &str| {
        let pod = live_pod(test);
        let entrypoint = pod.path("configmaps/entrypoint").display().to_string();
        pod.process(7, &["/bin/bash", entrypoint.as_str()]);
        let config_dir = pod.config_dir();
        let config = format!("{config_dir}/config.toml");
        pod.process(
            8,
            &[
                "gitlab-runner",
                "run",
                "--working-directory",
                config_dir.as_str(),
                "--config",
                config.as_str(),
            ],
        );
        pod
    };

    let pod = running("live-valid");
    pod.write(
        "record/verify-output",
        "Verifying runner... is valid    runner=glrt-t3s\n",
    );
    assert_ok(&pod.run("check-live"));
    let config = format!("{}/config.toml", pod.config_dir());
    assert_eq!(pod.runner_args(1), ["verify", "--config", config.as_str()]);

    let pod = running("live-removed");
    pod.write(
        "record/verify-output",
        "Verifying runner... is removed    runner=glrt-t3s\n",
    );
    pod.write("record/verify-status", "1");
    let out = pod.run("check-live");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is removed"));

    let pod = running("live-invalid");
    pod.write(
        "record/verify-output",
        "Verifying runner... is not valid    runner=glrt-t3s\n",
    );
    assert_eq!(pod.run("check-live").status.code(), Some(1));

    // GitLab unreachable: not the runner's fault, no restart.
    let pod = running("live-unreachable");
    pod.write(
        "record/verify-output",
        "ERROR: Verifying runner... failed  error=dial tcp: connection refused\n",
    );
    pod.write("record/verify-status", "1");
    assert_ok(&pod.run("check-live"));

    // verify hangs: cut short, and the probe passes before its own timeout.
    let pod = running("live-hangs");
    std::process::Command::new("mkfifo")
        .arg(pod.path("record/verify-hangs"))
        .status()
        .expect("mkfifo");
    let started = std::time::Instant::now();
    let out = pod.run("check-live");
    assert_ok(&out);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "verify was not cut short"
    );
}

// ---------------------------------------------------------------- shellcheck

/// The shellcheck binary: `RUNNERCTL_SHELLCHECK` (set by `cargo xtask test`), else on PATH.
fn shellcheck() -> PathBuf {
    if let Some(path) = std::env::var_os("RUNNERCTL_SHELLCHECK").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "RUNNERCTL_SHELLCHECK={} is not a file",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("shellcheck"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "shellcheck not found: run `cargo xtask test`, which installs a pinned one, \
                 or set RUNNERCTL_SHELLCHECK to a shellcheck binary"
            )
        })
}

#[test]
fn the_scripts_pass_shellcheck() {
    let shellcheck = shellcheck();
    let manifest = render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n")));
    let pod = Pod::new("shellcheck", &manifest);
    let scripts: Vec<PathBuf> = ["entrypoint", "check-live"]
        .iter()
        .map(|s| pod.path(&format!("configmaps/{s}")))
        .collect();
    let out = Command::new(&shellcheck)
        .args(["--shell=bash", "--severity=style", "--external-sources"])
        .args(&scripts)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", shellcheck.display()));
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "shellcheck finds problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every `disable` says why, on the line above it.
    for script in &scripts {
        let text = fs::read_to_string(script).expect("script");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("shellcheck disable=") {
                assert!(
                    i > 0
                        && lines[i - 1].trim_start().starts_with('#')
                        && !lines[i - 1].contains("shellcheck"),
                    "{}:{}: a shellcheck disable without a reason above it",
                    script.display(),
                    i + 1
                );
            }
        }
    }
}

/// What runs in the image is what the repository holds (the tests above use the rendered
/// ConfigMap; this ties it to `manifests/scripts/`).
#[test]
fn the_configmap_ships_the_scripts_of_the_repository() {
    let manifest = render_values(&base_values(&format!("runnerToken: {RUNNER_TOKEN}\n")));
    let configmap = object(&manifest, "ConfigMap", "gitlab-runner");
    for name in ["entrypoint", "check-live"] {
        let file = crate::support::root().join("manifests/scripts").join(name);
        assert_eq!(
            configmap["data"][name].as_str(),
            Some(fs::read_to_string(&file).expect("script").as_str()),
            "{name}"
        );
    }
}
