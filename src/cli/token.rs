//! `runnerctl token rotate`: a new runner token from GitLab, into the Secret first, then a
//! graceful rollout and a revision.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::args::{ClusterArgs, HistoryArgs, LockArgs, ReleaseArgs, WaitArgs};
use super::session::Session;
use runnerctl::apply::{EngineOptions, Error, Outcome, WaitOptions, token_key};
use runnerctl::gitlab::Token;

/// Arguments of `runnerctl token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do with the token.
    #[command(subcommand)]
    pub action: TokenAction,
}

/// `runnerctl token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Rotate the runner token: GitLab issues a new one, runnerctl stores it and rolls out
    Rotate(RotateArgs),
}

/// Arguments of `runnerctl token rotate`.
#[derive(Debug, Args)]
#[command(mut_arg("wait", |a| a.help("Wait until the new runner pods are ready")))]
#[command(after_help = "\
Rotates the runner authentication token (glrt-) of an installed release, in this order:

  1. POST /api/v4/runners/reset_authentication_token with the current token (read from the
     Secret the runner reads): GitLab issues a new token, and the current one stops working;
  2. the new token is written into that Secret at once (never printed), with annotations
     runnerctl.io/token-rotation=rollout-pending, the time, the new expiry, and a digest of
     the replaced token, so that an apply or rollback whose values still hold the old token
     keeps the new one (with a warning);
  3. the runner rolls out: an annotation on the pod template replaces the runner pods, each
     old one finishing its jobs first (see docs/guide/lifecycle.md); then the wait, and a
     revision is recorded (`runnerctl history`).

A run stopped after step 2 is resumed by the next `token rotate`: it sees the pending rollout
and does step 3 only. If the Secret cannot be written in step 2, runnerctl saves the new
token to a file only you can read (mode 0600, the path is printed, never the token) and exits
1: `runnerctl token rotate --resume FILE` stores it and rolls out, then deletes the file.

With the token in the values (runnerToken), take it out after a rotation, or keep the Secret
with runners.secret: apply keeps the rotated token either way, and warns.

Exit codes: 0 rotated (and ready), 1 error (nothing rotated unless it says so).

Example:
  runnerctl token rotate gitlab-runner -n gitlab-runner")]
pub struct RotateArgs {
    /// The installed release.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Cluster flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// With several [[runners]]: the one whose token to rotate (Secret key runner-token-NAME).
    #[arg(long, value_name = "NAME")]
    pub runner: Option<String>,
    /// Store the token a failed rotation saved to FILE, roll out, delete the file.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// How long a request to GitLab may take.
    #[arg(long, default_value = "10s", value_parser = super::args::parse_duration)]
    pub gitlab_timeout: std::time::Duration,
    /// `--wait`, `--timeout`.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// `--force-unlock`.
    #[command(flatten)]
    pub lock: LockArgs,
    /// `--history-max`.
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// Run `runnerctl token`.
pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        TokenAction::Rotate(a) => rotate(a),
    }
}

/// Where a token that could not be stored is kept: the current directory, only the user may
/// read it.
fn save(release: &str, namespace: &str, token: &Token) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = PathBuf::from(format!("runnerctl-token-{namespace}-{release}.pending"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(token.expose().as_bytes())?;
    f.sync_all()?;
    Ok(path)
}

fn read_saved(path: &Path) -> anyhow::Result<Token> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--resume {}: {e}", path.display()))?;
    let token = Token::new(text);
    if !token.expose().starts_with("glrt-") {
        anyhow::bail!(
            "--resume {}: the file holds no runner authentication token (glrt-)",
            path.display()
        );
    }
    Ok(token)
}

fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let s = Session::connect(&args.cluster, EngineOptions::default(), args.wait.timeout)?;
    let set = s.applyset(&args.release);
    let key = token_key(args.runner.as_deref());
    s.locked(&args.release, args.lock.force_unlock, |_| {
        if let Some(file) = &args.resume {
            let token = read_saved(file)?;
            let secret = s
                .rt
                .block_on(s.engine.store_rotated_token(&set, &key, &token))?;
            eprintln!("runnerctl: the saved token is in {secret} key {key}");
            std::fs::remove_file(file)?;
        } else if s.rt.block_on(s.engine.rotation_pending(&set))? {
            eprintln!(
                "runnerctl: resuming: the Secret holds a rotated token whose rollout has not started"
            );
        } else {
            match s
                .rt
                .block_on(s.engine.rotate_token(&set, &key, args.gitlab_timeout))
            {
                Ok((secret, expires)) => eprintln!(
                    "runnerctl: GitLab issued a new token (expires {}); written to {secret} key {key}",
                    expires.as_deref().unwrap_or("never")
                ),
                Err(e @ Error::TokenNotStored { .. }) => {
                    let Error::TokenNotStored { token, .. } = &e else {
                        unreachable!("matched above")
                    };
                    return Err(match save(&set.release, &set.namespace, token) {
                        Ok(path) => anyhow::anyhow!(
                            "{e}; the old token no longer works. The new one is saved in {} \
                             (mode 0600): run `runnerctl token rotate {} -n {} --resume {}`",
                            path.display(),
                            set.release,
                            set.namespace,
                            path.display()
                        ),
                        Err(io) => anyhow::anyhow!(
                            "{e}; saving it to a file failed too ({io}): the runner needs a new \
                             token from GitLab (Settings > CI/CD > Runners)"
                        ),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let deployment = s.rt.block_on(s.engine.roll_out_token(&set))?;
        eprintln!("runnerctl: {deployment}: rolling out with the new token (old pods drain)");
        let outcome = if args.wait.wait {
            let opts = WaitOptions::default().timeout(s.time_left());
            let waited = s.rt.block_on(s.engine.wait(
                std::slice::from_ref(&deployment),
                &opts,
                |o, r| eprintln!("{o}: {r}"),
            ))?;
            if waited.is_ready() {
                Outcome::Ready
            } else {
                Outcome::Failed("the new runner pods did not become ready".into())
            }
        } else {
            Outcome::Applied
        };
        let failed = !outcome.is_good();
        match s.rt.block_on(s.engine.record_rotation(
            &set,
            &key,
            outcome,
            args.history.history_max,
        )) {
            Ok(Some(r)) => eprintln!("runnerctl: recorded revision {}", r.info.revision),
            Ok(None) => {}
            Err(e) => eprintln!("runnerctl: warning: could not record the revision: {e}"),
        }
        if failed {
            anyhow::bail!("{deployment}: the runner pods with the new token are not ready");
        }
        Ok(ExitCode::from(super::EXIT_OK))
    })
}
