//! Bad input: each case gets a clear message naming the place, exit code 1 and empty stdout.
mod common;

use std::path::Path;

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    files: &'static [(&'static str, &'static str)],
    stdin: Option<&'static str>,
    /// Substrings the error must contain.
    expect: &'static [&'static str],
}

const URL: &str = "gitlabUrl=https://gitlab.example.com";

const CASES: &[Case] = &[
    Case {
        name: "malformed YAML names file:line:column",
        args: &["render", "-f", "bad.yaml"],
        files: &[(
            "bad.yaml",
            "gitlabUrl: https://gitlab.example.com\nrunners:\n  tags: [k8s\n  locked: false\n",
        )],
        stdin: None,
        expect: &["bad.yaml:"],
    },
    Case {
        name: "malformed YAML on stdin",
        args: &["render", "-f", "-"],
        files: &[],
        stdin: Some("gitlabUrl: {x\n"),
        expect: &["<stdin>:"],
    },
    Case {
        name: "bad --set",
        args: &["render", "--set", "gitlabUrl"],
        files: &[],
        stdin: None,
        expect: &["--set", "gitlabUrl", "key=value"],
    },
    Case {
        name: "wrong type from a file",
        args: &["render", "-f", "ten.yaml", "--set", "runnerToken=glrt-x"],
        files: &[(
            "ten.yaml",
            "gitlabUrl: https://gitlab.example.com\nconcurrent: \"ten\"\n",
        )],
        stdin: None,
        expect: &["ten.yaml", "concurrent", "integer", "\"ten\""],
    },
    Case {
        name: "bad TOML in runners.config",
        args: &["render", "-f", "toml.yaml"],
        files: &[(
            "toml.yaml",
            "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-x\nrunners:\n  config: |\n    [[runners]]\n      [runners.kubernetes]\n        image = alpine\n",
        )],
        stdin: None,
        expect: &["runners.config:3:", "invalid TOML"],
    },
    Case {
        name: "unsupported template expression",
        args: &["render", "-f", "tpl.yaml"],
        files: &[(
            "tpl.yaml",
            "gitlabUrl: https://gitlab.example.com\nrunnerToken: glrt-x\nrunners:\n  config: |\n    [[runners]]\n      name = \"{{ include \\\"name\\\" . }}\"\n",
        )],
        stdin: None,
        expect: &[
            "runners.config:2:",
            "unsupported template expression",
            "include",
            "supported are",
        ],
    },
    Case {
        name: "missing gitlabUrl",
        args: &["render", "--set", "runnerToken=glrt-x"],
        files: &[],
        stdin: None,
        expect: &["gitlabUrl is not set", "--set gitlabUrl="],
    },
    Case {
        name: "no token and no runners.secret",
        args: &["render", "--set", URL],
        files: &[],
        stdin: None,
        expect: &["no runner token", "runnerToken", "runners.secret"],
    },
    Case {
        name: "two [[runners]]",
        args: &[
            "render",
            "--set",
            URL,
            "--set",
            "runnerToken=glrt-x",
            "--set",
            "runners.config=[[runners]]\n[[runners]]\n",
        ],
        files: &[],
        stdin: None,
        expect: &["exactly one [[runners]]", "found 2"],
    },
    Case {
        name: "privileged conflict",
        args: &[
            "render",
            "--set",
            URL,
            "--set",
            "runnerToken=glrt-x",
            "--set",
            "runners.privileged=true",
            "--set",
            "runners.config=[[runners]]\n[runners.kubernetes]\nprivileged = false\n",
        ],
        files: &[],
        stdin: None,
        expect: &["runners.privileged is true", "privileged = false"],
    },
    Case {
        name: "typo in affinity is caught by the schema",
        args: &[
            "render",
            "--set",
            URL,
            "--set",
            "runnerToken=glrt-x",
            "--set-json",
            "affinity={\"nodeAfinity\":{}}",
        ],
        files: &[],
        stdin: None,
        expect: &["Deployment/", "nodeAfinity", "unknown field"],
    },
    Case {
        name: "unknown key with --strict",
        args: &[
            "render",
            "--strict",
            "--set",
            URL,
            "--set",
            "runnerToken=glrt-x",
            "--set",
            "runners.privilegd=true",
        ],
        files: &[],
        stdin: None,
        expect: &["runners.privilegd", "runners.privileged"],
    },
    Case {
        name: "missing values file",
        args: &["render", "-f", "does-not-exist.yaml"],
        files: &[],
        stdin: None,
        expect: &["does-not-exist.yaml"],
    },
];

#[test]
fn bad_input_is_reported_with_exit_code_1_and_no_output() {
    let dir = std::env::temp_dir().join(format!("runnerctl-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for case in CASES {
        for (name, text) in case.files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let out = common::runnerctl(case.args, case.stdin, Some(Path::new(&dir)));
        let (stdout, stderr) = common::texts(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit code {:?}", out.status.code()));
        }
        if !stdout.is_empty() {
            problems.push(format!("stdout not empty: {stdout:.200}"));
        }
        if !stderr.starts_with("runnerctl: ") {
            problems.push("stderr does not start with `runnerctl: `".to_string());
        }
        for want in case.expect {
            if !stderr.contains(want) {
                problems.push(format!("stderr lacks {want:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tokens_never_reach_error_messages() {
    let out = common::runnerctl(
        &[
            "render",
            "--set",
            "runnerToken=glrt-SECRET123",
            "--set",
            "runners.config=[[runners]]\nx = = 1",
        ],
        None,
        None,
    );
    let (_, stderr) = common::texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr.contains("SECRET123"), "{stderr}");
}

/// Run runnerctl expecting success; returns stdout and stderr.
fn run_ok(args: &[&str]) -> (String, String) {
    let out = common::runnerctl(args, None, None);
    let (stdout, stderr) = common::texts(&out);
    assert!(out.status.success(), "{args:?}: {stderr}");
    (stdout, stderr)
}

/// `render` with a URL and a token plus `extra`, expecting success.
fn render_ok(extra: &[&str]) -> (String, String) {
    let mut args = vec!["render", "--set", URL, "--set", "runnerToken=glrt-x"];
    args.extend_from_slice(extra);
    run_ok(&args)
}

#[test]
fn unknown_key_is_a_warning_with_a_suggestion() {
    let (stdout, stderr) = render_ok(&["--set", "concurent=3"]);
    assert!(!stdout.is_empty());
    assert!(
        stderr.contains("warning")
            && stderr.contains("concurent")
            && stderr.contains("\"concurrent\""),
        "{stderr}"
    );
}

#[test]
fn dind_without_privileged_warns() {
    let config = "runners.config=[[runners]]\n[runners.kubernetes]\n[[runners.kubernetes.services]]\nname = \"docker:dind\"\n";
    let (_, stderr) = render_ok(&["--set", config]);
    assert!(
        stderr.contains("docker:dind") && stderr.contains("runners.privileged=true"),
        "{stderr}"
    );
}

#[test]
fn help_texts() {
    for args in [&["--help"][..], &["render", "--help"][..]] {
        let out = common::runnerctl(args, None, None);
        assert!(out.status.success());
        let name = format!("help_{}", args.join("_").replace("--", ""));
        insta::assert_snapshot!(name, common::texts(&out).0);
    }
}

#[test]
fn privileged_job_namespace_warning_names_where_the_pods_run() {
    let seed = |ns: &'static str| {
        let (stdout, stderr) = run_ok(&[
            "render",
            "-n",
            ns,
            "--create-namespace",
            "-f",
            "values/examples/seed.yaml",
            "-o",
            "json",
        ]);
        let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let level =
            list["items"][0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].clone();
        assert_eq!(list["items"][0]["kind"], "Namespace");
        (level, stderr)
    };
    // The config sends job pods to "gitlab-runner"; the release lives in "ci", which hosts
    // only the runner manager: baseline is enough there, and the warning names the other one.
    let (level, stderr) = seed("ci");
    assert!(
        stderr.contains("namespace \"gitlab-runner\" must allow privileged pods"),
        "{stderr}"
    );
    assert_eq!(level, "baseline");
    // Same namespace for both: privileged, and no warning.
    let (level, stderr) = seed("gitlab-runner");
    assert!(!stderr.contains("must allow privileged pods"), "{stderr}");
    assert_eq!(level, "privileged");
}
