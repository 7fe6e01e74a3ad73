//! The controller on the real API server: `controller install` (the CRD is accepted as
//! structural and refuses tokens and wrong types), the controller running with nothing but its
//! ServiceAccount's token (its least RBAC is enough), a small fleet of GitLabRunners Ready,
//! drift corrected from a watch, a wrong spec reported in `Stalled` with its reason,
//! `runnerctl diff` of the same values finding nothing to change (apply and the controller
//! make the same objects), a release exported and taken over, deletion leaving nothing behind,
//! and `controller uninstall` refused while GitLabRunners exist. One test: controllers
//! watching the whole cluster must not overlap.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cluster::*;

/// A controller running as a child process, stopped on drop.
struct Controller(Child);

impl Controller {
    fn start(kubeconfig: &str, lease_namespace: &str) -> Controller {
        let child = Command::new(env!("CARGO_BIN_EXE_runnerctl"))
            .args(["controller", "run", "--metrics-address", "127.0.0.1:0"])
            .args(["--leader-election-namespace", lease_namespace])
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the controller");
        Controller(child)
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runner(name: &str, ns: &str, values: Value) -> Value {
    json!({
        "apiVersion": "runnerctl.io/v1alpha1",
        "kind": "GitLabRunner",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"values": values},
    })
}

fn values() -> Value {
    json!({"gitlabUrl": "https://gitlab.example.com", "rbac": {"create": true}, "runners": {"secret": "runner-token"}})
}

fn condition(glr: &Value, kind: &str) -> Option<Value> {
    glr["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
}

/// Poll until `ok` holds for the GitLabRunners of `namespaces`, or fail after `within`.
fn until(namespaces: &[String], within: Duration, what: &str, ok: impl Fn(&[Value]) -> bool) {
    let start = Instant::now();
    loop {
        let mut all = Vec::new();
        for ns in namespaces {
            let list = get_json(&["-n", ns, "gitlabrunners"]);
            all.extend(list["items"].as_array().cloned().unwrap_or_default());
        }
        if ok(&all) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
#[ignore = "needs the control plane: cargo xtask test"]
fn a_small_fleet_is_reconciled_corrected_reported_and_deleted() {
    let ctl = namespace("ctl");
    let r = runnerctl(&[
        "controller",
        "install",
        "-n",
        &ctl,
        "--create-namespace",
        "--image",
        "registry.invalid/runnerctl:test",
        "--yes",
        "--timeout",
        "2m",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    // The controller runs as its ServiceAccount: a token of it, nothing else.
    let token = kubectl(
        &["-n", &ctl, "create", "token", "runnerctl-controller"],
        None,
    )
    .expect(0)
    .stdout;
    let sa_kubeconfig = std::env::temp_dir().join(format!("{ctl}.kubeconfig"));
    std::fs::write(&sa_kubeconfig, with_token(&kubeconfig(), token.trim())).unwrap();
    let start = Instant::now();
    loop {
        let crd = get_json(&["crd", "gitlabrunners.runnerctl.io"]);
        let established = crd["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
        if established {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the CRD is not established: {crd:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let namespaces: Vec<TestNamespace> = (0..4).map(|i| namespace(&format!("fleet{i}"))).collect();
    let names: Vec<String> = namespaces.iter().map(|n| n.to_string()).collect();
    for ns in &names {
        kubectl(&["create", "namespace", ns], None).expect(0);
        kubectl(
            &[
                "-n",
                ns,
                "create",
                "secret",
                "generic",
                "runner-token",
                "--from-literal=runner-token=glrt-test-XXXX",
            ],
            None,
        )
        .expect(0);
    }
    // The API server refuses a token in the resource.
    let mut with_token = values();
    with_token["runnerToken"] = json!("glrt-in-the-resource");
    let r = kubectl(
        &["apply", "-f", "-"],
        Some(&runner("bad", &names[0], with_token).to_string()),
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("tokens are not allowed in a GitLabRunner"),
        "{}",
        r.stderr
    );
    // ... and a wrong type.
    let mut wrong = values();
    wrong["concurrent"] = json!("many");
    let r = kubectl(
        &["apply", "-f", "-"],
        Some(&runner("bad", &names[0], wrong).to_string()),
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("spec.values.concurrent"), "{}", r.stderr);

    let items: Vec<Value> = names
        .iter()
        .flat_map(|ns| (0..5).map(move |i| runner(&format!("r{i}"), ns, values())))
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    kubectl(&["apply", "-f", "-"], Some(&list.to_string())).expect(0);

    let _controller = Controller::start(sa_kubeconfig.to_str().unwrap(), &ctl);
    let ready = |all: &[Value]| {
        all.len() == 20
            && all.iter().all(|g| {
                condition(g, "Ready").is_some_and(|c| c["status"] == "True")
                    && g["status"]["observedGeneration"] == g["metadata"]["generation"]
            })
    };
    until(&names, Duration::from_secs(120), "all Ready", ready);
    let one = get_json(&["-n", &names[0], "gitlabrunner", "r0"]);
    assert_eq!(one["status"]["runnerPods"], json!(1), "{one:#}");
    assert!(
        one["status"]["lastAppliedRevision"].as_u64().is_some(),
        "{one:#}"
    );
    assert!(
        one["metadata"]["finalizers"]
            .to_string()
            .contains("runnerctl.io/uninstall")
    );

    // apply and the controller make the same objects: a diff of the same values is empty.
    let r = runnerctl(&[
        "diff",
        "r0",
        "-n",
        &names[0],
        "--set",
        "gitlabUrl=https://gitlab.example.com",
        "--set",
        "rbac.create=true",
        "--set",
        "runners.secret=runner-token",
        "--exit-code",
    ]);
    assert_eq!(
        r.code,
        0,
        "the controller's objects differ from apply's:\n{}",
        r.all()
    );

    // Drift: a field changed by hand is taken back, from the watch.
    let cm = "r1-gitlab-runner";
    kubectl(
        &[
            "-n",
            &names[1],
            "patch",
            "configmap",
            cm,
            "--type",
            "merge",
            "-p",
            r#"{"data":{"config.toml":"concurrent = 77\n"}}"#,
        ],
        None,
    )
    .expect(0);
    let start = Instant::now();
    loop {
        let c = get_json(&["-n", &names[1], "configmap", cm]);
        if !c["data"]["config.toml"]
            .as_str()
            .unwrap_or("")
            .contains("concurrent = 77")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "drift not corrected"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A wrong spec that passes the schema: Stalled, with its reason.
    let patch = json!({"spec": {"values": {"runners": {"config": "[[runners]\n  broken"}}}});
    kubectl(
        &[
            "-n",
            &names[2],
            "patch",
            "gitlabrunner",
            "r2",
            "--type",
            "merge",
            "-p",
            &patch.to_string(),
        ],
        None,
    )
    .expect(0);
    until(&names[2..3], Duration::from_secs(30), "Stalled", |all| {
        all.iter().any(|g| {
            g["metadata"]["name"] == "r2"
                && condition(g, "Stalled")
                    .is_some_and(|c| c["status"] == "True" && c["reason"] == "RenderFailed")
                && g["status"]["observedGeneration"] == g["metadata"]["generation"]
        })
    });

    // A release installed with `runnerctl apply`, exported and taken over by the controller.
    let exp = &names[3];
    runnerctl(&[
        "apply",
        "exp",
        "-n",
        exp,
        "--set",
        "gitlabUrl=https://gitlab.example.com",
        "--set",
        "runnerToken=glrt-test-XXXX",
        "--set",
        "rbac.create=true",
        "--yes",
    ])
    .expect(0);
    let r = runnerctl(&["controller", "export", "exp", "-n", exp]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("glrt-"), "{}", r.stdout);
    assert!(
        r.stdout.contains("secret: exp-runner-token"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("create secret generic exp-runner-token"),
        "{}",
        r.stderr
    );
    kubectl(
        &[
            "-n",
            exp,
            "create",
            "secret",
            "generic",
            "exp-runner-token",
            "--from-literal=runner-token=glrt-test-XXXX",
        ],
        None,
    )
    .expect(0);
    kubectl(&["apply", "-f", "-"], Some(&r.stdout)).expect(0);
    until(
        &names[3..4],
        Duration::from_secs(60),
        "the exported release Ready",
        |all| {
            all.iter().any(|g| {
                g["metadata"]["name"] == "exp"
                    && condition(g, "Ready").is_some_and(|c| c["status"] == "True")
            })
        },
    );
    assert!(
        kubectl(&["-n", exp, "get", "secret", "exp-gitlab-runner"], None).code != 0,
        "the old token Secret was pruned"
    );

    // The controller cannot be uninstalled while GitLabRunners exist.
    let r = runnerctl(&["controller", "uninstall", "-n", &ctl]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("GitLabRunner(s) still exist"),
        "{}",
        r.stderr
    );

    // Deletion: the finalizer uninstalls; nothing runnerctl rendered is left.
    for ns in &names {
        kubectl(
            &["-n", ns, "delete", "gitlabrunners", "--all", "--wait=false"],
            None,
        )
        .expect(0);
    }
    until(&names, Duration::from_secs(120), "all deleted", |all| {
        all.is_empty()
    });
    for ns in &names {
        let left = get_json(&[
            "-n",
            ns,
            "all,configmap,secret,role,rolebinding,serviceaccount",
            "-l",
            "app.kubernetes.io/managed-by=runnerctl",
        ]);
        assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{left:#}");
        let parents = get_json(&["-n", ns, "secrets", "-l", "applyset.kubernetes.io/id"]);
        assert_eq!(
            parents["items"].as_array().map(Vec::len),
            Some(0),
            "{parents:#}"
        );
    }
    runnerctl(&["controller", "uninstall", "-n", &ctl]).expect(0);
    assert!(kubectl(&["get", "crd", "gitlabrunners.runnerctl.io"], None).code != 0);
    let _ = std::fs::remove_file(&sa_kubeconfig);
}

/// The kubeconfig at `path` with its user's credentials replaced by a bearer token.
fn with_token(path: &str, token: &str) -> String {
    let text = std::fs::read_to_string(path).expect("the kubeconfig");
    let (head, rest) = text.split_once("\nusers:").expect("a kubeconfig");
    let tail = rest.split_once("\ncontexts:").map_or("", |(_, t)| t);
    let user = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("user: "))
        .expect("a context's user");
    format!("{head}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:{tail}")
}
