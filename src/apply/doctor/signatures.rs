//! Known failure lines of GitLab Runner's log, each mapped to its cause and fix: the one
//! table ([`SIGNATURES`]) that `runnerctl doctor` scans the runner's recent log with, and
//! that docs/guide/doctor.md shows. The first matching signature of a line wins, so the specific ones
//! come before the general ones. The matched lines are shown with tokens masked.

/// One known failure: what a log line contains, what it means, what fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// A stable name, e.g. `pod-security`.
    pub id: &'static str,
    /// Every one of these must appear in the line (case-sensitive, as the runner writes them).
    pub all: &'static [&'static str],
    /// The cause.
    pub cause: &'static str,
    /// The fix, one line.
    pub fix: &'static str,
}

/// The known failure signatures, most specific first.
pub const SIGNATURES: &[Signature] = &[
    Signature {
        id: "pod-security",
        all: &["violates PodSecurity"],
        cause: "Pod Security Admission rejects the job pods (privileged containers, added capabilities, hostPath, ...) in the job namespace",
        fix: "label the job namespace with the level `runnerctl job-pod` names (kubectl label --overwrite namespace NS pod-security.kubernetes.io/enforce=LEVEL), or pick a build mode that needs less",
    },
    Signature {
        id: "rbac-forbidden",
        all: &["is forbidden: User \"", "cannot "],
        cause: "the runner's service account lacks a permission (often in the job namespace, not the runner's)",
        fix: "leave rbac.rules empty (GitLab's table is the default) or add the verb and resource the line names; with a Role, it must live in the namespace the line names",
    },
    Signature {
        id: "glrt-reserved",
        all: &["cannot be specified when registering with a runner authentication token"],
        cause: "a glrt- runner authentication token registered with tags, locked, run-untagged, protected or maximum timeout: GitLab keeps those on the runner",
        fix: "remove runners.tags/locked/runUntagged/protected/maximumTimeout from the values and set them on the runner in GitLab",
    },
    Signature {
        id: "token-newline",
        all: &["invalid header field value"],
        cause: "the token has a trailing newline or whitespace (a file written with echo, a Secret made from it)",
        fix: "recreate the token Secret without the newline (printf %s, or kubectl create secret generic --from-literal)",
    },
    Signature {
        id: "untrusted-certificate",
        all: &["x509: certificate signed by unknown authority"],
        cause: "GitLab's TLS certificate is signed by a CA the runner does not trust (self-hosted GitLab, private CA, TLS-inspecting proxy)",
        fix: "put the CA into a Secret under the key <gitlab host>.crt and set certsSecretName to it",
    },
    Signature {
        id: "certificate-name",
        all: &["x509: certificate is valid for"],
        cause: "GitLab's certificate does not name the host in gitlabUrl",
        fix: "set gitlabUrl to a name the certificate covers, or fix the certificate",
    },
    Signature {
        id: "rbac-removed",
        all: &["Unauthorized", "clean"],
        cause: "the runner's service account token was revoked while jobs were running (RBAC or the service account deleted before the runner finished, e.g. by an uninstall)",
        fix: "let the runner finish its jobs before removing RBAC (runnerctl uninstall deletes the Deployment first); then re-apply to restore the service account",
    },
    Signature {
        id: "runner-forbidden",
        all: &["403 Forbidden"],
        cause: "GitLab rejects the runner's token: the runner was deleted in GitLab or its token was reset",
        fix: "create a runner in GitLab and set runnerToken to its new glrt- token",
    },
    Signature {
        id: "registration-disabled",
        all: &["410 Gone"],
        cause: "GitLab has registration tokens disabled (the legacy registration workflow)",
        fix: "create the runner in GitLab (Settings > CI/CD > Runners > New runner) and set runnerToken to its glrt- token",
    },
    Signature {
        id: "dns",
        all: &["no such host"],
        cause: "the runner cannot resolve GitLab's host name with the cluster's DNS",
        fix: "check gitlabUrl, and that the cluster's DNS resolves it (hostAliases for a name only your network knows)",
    },
    Signature {
        id: "pod-start-timeout",
        all: &["timed out waiting for pod to start"],
        cause: "job pods did not start within poll_timeout (image pulls, scheduling, quota)",
        fix: "look at the job namespace's events (kubectl get events -n NS); raise poll_timeout in [runners.kubernetes] for slow pulls",
    },
    Signature {
        id: "quota",
        all: &["exceeded quota"],
        cause: "a ResourceQuota in the job namespace rejects the job pods",
        fix: "raise the quota, or lower the job pods' requests ([runners.kubernetes] cpu_request, memory_request)",
    },
];

/// A log line that matched a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The signature.
    pub signature: &'static Signature,
    /// The last line that matched (masked by the caller).
    pub line: String,
    /// How many lines matched.
    pub count: usize,
}

/// The signatures found in `log`, in table order, each with its last matching line.
pub fn scan_log(log: &str) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for line in log.lines() {
        let Some(sig) = SIGNATURES
            .iter()
            .find(|s| s.all.iter().all(|p| line.contains(p)))
        else {
            continue;
        };
        match found.iter_mut().find(|f| f.signature.id == sig.id) {
            Some(f) => {
                f.count += 1;
                f.line = line.trim().to_string();
            }
            None => found.push(Finding {
                signature: sig,
                line: line.trim().to_string(),
                count: 1,
            }),
        }
    }
    found.sort_by_key(|f| SIGNATURES.iter().position(|s| s.id == f.signature.id));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as GitLab's documentation and issues quote them (tokens, hosts and names
    /// shortened).
    const LINES: &[(&str, &str)] = &[
        (
            "pod-security",
            r#"ERROR: Job failed (system failure): prepare environment: setting up build pod: pods "runner-abc-project-1-concurrent-0" is forbidden: violates PodSecurity "baseline:latest": privileged (containers "build", "helper", "svc-0" must not set securityContext.privileged=true). Check https://docs.gitlab.com/runner/shells/index.html#shell-profile-loading for more information"#,
        ),
        (
            "rbac-forbidden",
            r#"ERROR: Job failed (system failure): prepare environment: setting up credentials: secrets is forbidden: User "system:serviceaccount:gitlab:default" cannot create resource "secrets" in API group "" in the namespace "gitlab". Check https://docs.gitlab.com/runner/shells/index.html#shell-profile-loading for more information"#,
        ),
        (
            "rbac-forbidden",
            r#"ERROR: Job failed (system failure): pods is forbidden: User "system:serviceaccount:gitlab-runner:gitlab-runner" cannot create resource "pods" in API group "" in the namespace "ci-jobs""#,
        ),
        (
            "glrt-reserved",
            "FATAL: Runner configuration other than name and executor configuration is reserved (specifically --locked, --access-level, --run-untagged, --maximum-timeout, --paused, --tag-list, and --maintenance-note) and cannot be specified when registering with a runner authentication token. This configuration is specified on the GitLab server. Please try again without specifying any of those arguments. For more information, see https://docs.gitlab.com/ee/ci/runners/new_creation_workflow.html#changes-to-the-gitlab-runner-register-command-syntax",
        ),
        (
            "token-newline",
            r#"ERROR: Verifying runner... failed                 runner=glrt-t3 status=couldn't execute POST against https://gitlab.example.com/api/v4/runners/verify: Post "https://gitlab.example.com/api/v4/runners/verify": net/http: invalid header field value for "Private-Token""#,
        ),
        (
            "untrusted-certificate",
            r#"ERROR: Registering runner... failed                 runner=glrt-t3 status=couldn't execute POST against https://gitlab.example.com/api/v4/runners: Post "https://gitlab.example.com/api/v4/runners": tls: failed to verify certificate: x509: certificate signed by unknown authority"#,
        ),
        (
            "certificate-name",
            r#"ERROR: Checking for jobs... error  runner=glrt-t3 status=couldn't execute POST against https://gitlab.local/api/v4/jobs/request: Post "https://gitlab.local/api/v4/jobs/request": x509: certificate is valid for ingress.local, not gitlab.local"#,
        ),
        (
            "rbac-removed",
            "WARNING: Error while executing file based variables removal script  error=couldn't get pod details: Unauthorized job=42 project=7 runner=glrt-t3; ERROR: Error cleaning up pod: Unauthorized",
        ),
        (
            "runner-forbidden",
            "WARNING: Checking for jobs... forbidden            runner=glrt-t3 status=POST https://gitlab.com/api/v4/jobs/request: 403 Forbidden",
        ),
        (
            "registration-disabled",
            "ERROR: Registering runner... failed                 runner=GR13489 status=POST https://gitlab.example.com/api/v4/runners: 410 Gone (runner registration disallowed)",
        ),
        (
            "dns",
            r#"ERROR: Checking for jobs... error                  runner=glrt-t3 status=couldn't execute POST against https://gitlab.example.com/api/v4/jobs/request: Post "https://gitlab.example.com/api/v4/jobs/request": dial tcp: lookup gitlab.example.com on 10.96.0.10:53: no such host"#,
        ),
        (
            "pod-start-timeout",
            "ERROR: Job failed (system failure): prepare environment: waiting for pod running: timed out waiting for pod to start. Check https://docs.gitlab.com/runner/shells/index.html#shell-profile-loading for more information",
        ),
        (
            "quota",
            r#"ERROR: Job failed (system failure): prepare environment: setting up build pod: pods "runner-x" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=2, used: limits.cpu=4, limited: limits.cpu=4"#,
        ),
    ];

    #[test]
    fn every_signature_matches_its_documented_line() {
        for (id, line) in LINES {
            let found = scan_log(line);
            assert_eq!(found.len(), 1, "{id}: {found:?}");
            assert_eq!(found[0].signature.id, *id, "{line}");
        }
        for s in SIGNATURES {
            assert!(
                LINES.iter().any(|(id, _)| *id == s.id),
                "no documented line for {}",
                s.id
            );
        }
    }

    #[test]
    fn the_doctor_guide_shows_this_table() {
        let guide = include_str!("../../../docs/guide/doctor.md");
        for s in SIGNATURES {
            let pats: Vec<String> = s.all.iter().map(|p| format!("`{p}`")).collect();
            let row = format!(
                "| `{}` | {} | {} | {} |",
                s.id,
                pats.join(" and "),
                s.cause,
                s.fix
            );
            assert!(
                guide.contains(&row),
                "docs/guide/doctor.md lacks the row:\n{row}"
            );
        }
    }

    #[test]
    fn healthy_lines_match_nothing() {
        let log = "Runtime platform  arch=amd64 os=linux pid=7 revision=a1b2 version=18.9.0\n\
                   Starting multi-runner from /home/gitlab-runner/.gitlab-runner/config.toml...  builds=0 max_builds=10\n\
                   Configuration loaded                                builds=0 max_builds=10\n\
                   Checking for jobs... received                       job=42 repo_url=https://gitlab.example.com/g/p.git runner=glrt-t3\n\
                   Job succeeded                                       duration_s=12.3 job=42 project=7 runner=glrt-t3\n";
        assert!(scan_log(log).is_empty());
    }

    #[test]
    fn repeated_lines_are_counted_once_in_table_order() {
        let log = format!("{}\n{}\n{}\n", LINES[5].1, LINES[1].1, LINES[5].1);
        let found = scan_log(&log);
        let ids: Vec<&str> = found.iter().map(|f| f.signature.id).collect();
        assert_eq!(ids, ["rbac-forbidden", "untrusted-certificate"]);
        assert_eq!(found[1].count, 2);
    }
}
