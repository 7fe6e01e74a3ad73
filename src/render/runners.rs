//! The runners of a release, as the rest of runnerctl needs to know them without reading
//! templates: each `[[runners]]` of `runners.config` with its name, where its job pods run
//! and where its token comes from (a values key runnerctl writes into its Secret, or a key of
//! the user's Secret). `doctor` checks each token from here; `token rotate --runner NAME`
//! finds the token to rotate here. [`Manifest::runners`](super::Manifest::runners) holds the
//! list of a rendered release; [`runners_of`] renders one to get it.
use super::chart::Chart;
use super::{Error, Release};

/// One `[[runners]]` of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerEntry {
    /// Its `name` in `runners.config` (`None` for a single runner without one, or without a
    /// config).
    pub name: Option<String>,
    /// Where its job pods run: its `[runners.kubernetes] namespace`, else `runners.jobNamespace`,
    /// else the release's namespace.
    pub job_namespace: String,
    /// Each of its jobs gets a namespace of its own (`namespace_per_job`).
    pub namespace_per_job: bool,
    /// Where its token comes from.
    pub token: TokenSource,
}

/// Where a runner's token comes from. Never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A values key (`runnerToken`, `runnerRegistrationToken` or
    /// `runnerctl.runnerTokens.<name>`); runnerctl writes it into its Secret `secret` under
    /// `secret_key`, which the runner pod reads.
    Values {
        /// The values key path.
        key: String,
        /// The Secret runnerctl renders (`runners.secret`, else the fullname).
        secret: String,
        /// The key in that Secret (`runner-token`, `runner-registration-token`,
        /// `runner-token-<name>`).
        secret_key: String,
    },
    /// A Secret the user made (`runners.secret`, no token in the values): the runner pod reads
    /// `key`. With one runner in the chart's layout that is `runner-token`, or
    /// `runner-registration-token` when the Secret has no `runner-token`.
    Secret {
        /// The Secret's name, in the release's namespace.
        name: String,
        /// The key.
        key: String,
    },
}

/// The runners of a release (renders it: see [`render`](super::render)).
pub fn runners_of(release: &Release) -> Result<Vec<RunnerEntry>, Error> {
    super::render(release).map(|m| m.runners)
}

/// The runners of a chart context, in the config's order.
pub(super) fn entries(chart: &Chart) -> Vec<RunnerEntry> {
    let tokens = &chart.tokens;
    let secret = tokens.secret_name.clone().unwrap_or_default();
    chart
        .jobs
        .runners
        .iter()
        .enumerate()
        .map(|(i, runner)| {
            let per_runner_key = tokens.token_keys.get(i);
            let token = match (tokens.token_secret, per_runner_key) {
                (true, Some(key)) => TokenSource::Values {
                    key: format!(
                        "{}.{}",
                        super::chart::RUNNER_TOKENS,
                        runner.name.as_deref().unwrap_or_default()
                    ),
                    secret: secret.clone(),
                    secret_key: key.clone(),
                },
                (false, Some(key)) => TokenSource::Secret {
                    name: secret.clone(),
                    key: key.clone(),
                },
                (true, None) => {
                    let (key, secret_key) = if tokens.runner_token.is_empty() {
                        ("runnerRegistrationToken", "runner-registration-token")
                    } else {
                        ("runnerToken", "runner-token")
                    };
                    TokenSource::Values {
                        key: key.into(),
                        secret: secret.clone(),
                        secret_key: secret_key.into(),
                    }
                }
                (false, None) => TokenSource::Secret {
                    name: secret.clone(),
                    key: "runner-token".into(),
                },
            };
            RunnerEntry {
                name: runner.name.clone(),
                job_namespace: runner.namespace.clone(),
                namespace_per_job: runner.namespace_per_job,
                token,
            }
        })
        .collect()
}

/// The system id runnerctl's entrypoint gives the runner manager of the pod named
/// `pod_name`: `r_` and the first 12 hex characters (lower case) of the SHA-256 of the name.
/// GitLab Runner reads it from `<config dir>/.runner_system_id`
/// (commands/internal/configfile/system_id_state.go takes `s_` or `r_` and 12 of
/// `[0-9a-zA-Z]`), and GitLab lists it for each runner manager, so a manager tells which pod
/// it is.
///
/// ```
/// let id = runnerctl::render::system_id_of_pod("gitlab-runner-5d8f9c7b6d-x2x9z");
/// assert!(id.starts_with("r_") && id.len() == 14);
/// ```
pub fn system_id_of_pod(pod_name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(pod_name.as_bytes());
    format!("r_{}", &super::hex(&digest)[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::release;

    /// `runners.config` of two runners, `build` (default job namespace) and `deploy`.
    const TWO: &str = "runners.config=[[runners]]\nname = \"build\"\n[[runners]]\nname = \"deploy\"\n[runners.kubernetes]\nnamespace = \"deploy\"\n";

    /// The error of rendering `sets`, as printed.
    fn error(sets: &[&str]) -> String {
        crate::render::render(&release(sets))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn each_runner_names_its_job_namespace_and_token_source() {
        let m = crate::render::render(&release(&[
            TWO,
            "runnerctl.runnerTokens.build=glrt-build-0000000",
            "runnerctl.runnerTokens.deploy=glrt-deploy-000000",
        ]))
        .unwrap();
        let values = |name: &str| TokenSource::Values {
            key: format!("runnerctl.runnerTokens.{name}"),
            secret: "r-gitlab-runner".into(),
            secret_key: format!("runner-token-{name}"),
        };
        assert_eq!(
            m.runners,
            [
                RunnerEntry {
                    name: Some("build".into()),
                    job_namespace: "ns".into(),
                    namespace_per_job: false,
                    token: values("build"),
                },
                RunnerEntry {
                    name: Some("deploy".into()),
                    job_namespace: "deploy".into(),
                    namespace_per_job: false,
                    token: values("deploy"),
                },
            ]
        );
        assert_eq!(m.jobs_of(Some("deploy")).unwrap().namespace, "deploy");
        let none = m.jobs_of(None).err().unwrap().to_string();
        assert_eq!(
            none,
            "the release has several runners (build, deploy): name one"
        );
        let unknown = m.jobs_of(Some("x")).err().unwrap().to_string();
        assert!(unknown.contains("no runner named \"x\"; its runners: build, deploy"));
        let text = format!("{m:?}{:?}", m.runners);
        assert!(
            !text.contains("glrt-build") && !text.contains("glrt-deploy"),
            "{text}"
        );
        assert_eq!(m.secrets.mask_str("x glrt-build-0000000 y"), "x *** y");

        // The user's Secret, with the keys per runner.
        let m = crate::render::render(&release(&[TWO, "runners.secret=mine"])).unwrap();
        assert_eq!(
            m.runners[1].token,
            TokenSource::Secret {
                name: "mine".into(),
                key: "runner-token-deploy".into()
            }
        );
        // One runner in the chart's layout.
        let m = crate::render::render(&release(&["runnerToken=glrt-one-000000"])).unwrap();
        assert_eq!(m.runners.len(), 1);
        assert_eq!(m.runners[0].name, None);
        assert_eq!(
            m.runners[0].token,
            TokenSource::Values {
                key: "runnerToken".into(),
                secret: "r-gitlab-runner".into(),
                secret_key: "runner-token".into()
            }
        );
        assert!(m.jobs_of(None).is_ok());
    }

    #[test]
    fn tokens_and_runners_pair_or_the_error_names_the_key_and_the_fix() {
        let build = "runnerctl.runnerTokens.build=glrt-build-0000000";
        let deploy = "runnerctl.runnerTokens.deploy=glrt-deploy-000000";
        let cases: &[(&[&str], &str)] = &[
            (
                &[TWO, "runnerToken=glrt-one-000000"],
                "runnerToken: runners.config has 2 [[runners]], each needs a token of its own",
            ),
            (
                &[TWO, build],
                "runnerctl.runnerTokens.deploy: runner \"deploy\" of runners.config has no token: set runnerctl.runnerTokens.deploy",
            ),
            (
                &[
                    TWO,
                    build,
                    deploy,
                    "runnerctl.runnerTokens.other=glrt-other-00000",
                ],
                "runnerctl.runnerTokens.other: runners.config has no [[runners]] of that name (its runners: build, deploy)",
            ),
            (
                &[
                    "runners.config=[[runners]]\n[[runners]]\nname = \"b\"\n",
                    "runners.secret=s",
                ],
                "runners.config: [[runners]] number 1 has no name",
            ),
            (
                &[
                    "runners.config=[[runners]]\nname = \"a b\"\n[[runners]]\nname = \"b\"\n",
                    "runners.secret=s",
                ],
                "runners.config: [[runners]] number 1 has a name that cannot be part of a Secret key",
            ),
            (
                &[
                    "runners.config=[[runners]]\nname = \"b\"\n[[runners]]\nname = \"b\"\n",
                    "runners.secret=s",
                ],
                "runners.config: [[runners]] number 2 has the name of an earlier one",
            ),
            (
                &[
                    "runnerctl.runnerTokens.a=glrt-aaaaaaaaaaa",
                    "runnerToken=glrt-one-000000",
                ],
                "runnerToken: runnerctl.runnerTokens gives the tokens per runner",
            ),
            (
                &[
                    TWO,
                    "runners.secret=s",
                    "runners.privileged=true",
                    "runners.config=[[runners]]\nname = \"a\"\n[[runners]]\nname = \"b\"\n[runners.kubernetes]\nprivileged = false\n",
                ],
                "runners.config: [[runners]] number 2 (name \"b\"): runners.privileged is true",
            ),
        ];
        for (sets, want) in cases {
            let err = error(sets);
            assert!(
                err.starts_with(want),
                "{sets:?}:\n{err}\ndoes not start with\n{want}"
            );
            assert!(!err.contains("00000"), "no token in {err}");
        }
    }

    #[test]
    fn the_system_id_of_a_pod_is_r_and_12_hex_of_the_sha256_of_its_name() {
        // printf '%s' gitlab-runner-5d8f9c7b6d-x2x9z | sha256sum
        assert_eq!(
            system_id_of_pod("gitlab-runner-5d8f9c7b6d-x2x9z"),
            "r_f39c0e6ab096"
        );
        // printf '%s' '' | sha256sum
        assert_eq!(system_id_of_pod(""), "r_e3b0c44298fc");
        assert_ne!(system_id_of_pod("a"), system_id_of_pod("b"));
    }
}
