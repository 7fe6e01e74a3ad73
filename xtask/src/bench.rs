//! `cargo xtask bench fleet`: the controller at scale, on a private test control plane.
//!
//! N GitLabRunners over M namespaces are created before the controller starts; then it is
//! timed until every one is Ready, watched at rest for a minute, timed on one change and on
//! deleting them all; last, K releases are installed one after another by `runnerctl apply`
//! and by `helm upgrade --install` of the official chart. Each step is a row of a markdown
//! table (stdout, and `target/bench-fleet/results.md`). The control plane gets enough kwok
//! nodes for the fleet's pods (extra Node objects, registered after `up`, so `cargo xtask
//! test` keeps its two); it and the controller are stopped whatever happens.

#[path = "../../tests/support/kubectl.rs"]
mod kubectl;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::testenv::{self, Instance, NODES, Paths, Up};
use crate::{INTERRUPTED, helm};

const USAGE: &str = "\
usage: cargo xtask bench fleet [--runners N] [--namespaces M] [--concurrency C]
                               [--apply-releases K]

  --runners N          GitLabRunners in the fleet (default 1000)
  --namespaces M       namespaces they are spread over (default 100)
  --concurrency C      passed to `runnerctl controller run` (default: the controller's)
  --apply-releases K   releases installed one after another by `runnerctl apply`, then by
                       `helm upgrade --install` of the official chart (default 50; 0 skips)
";

/// Pods one kwok node takes (the `pods` capacity the node-initialize stage writes).
const PODS_PER_NODE: usize = 110;
/// The token every fleet namespace's Secret holds: obviously not a real one.
const FAKE_TOKEN: &str = "glrt-bench-not-a-real-token";
/// The GitLab URL of every release; never contacted (no container runs).
const GITLAB_URL: &str = "https://gitlab.example.com";
/// How often the fleet's status is read.
const POLL: Duration = Duration::from_millis(500);
/// The quiet window of step 3.
const STEADY: Duration = Duration::from_secs(60);
/// How long rendered objects may outlive their GitLabRunner (garbage collection).
const LEFTOVER_GRACE: Duration = Duration::from_secs(120);
/// The label of every object runnerctl renders.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by=runnerctl";
/// `kubectl create` runs at once while setting up the fleet.
const CREATE_WORKERS: usize = 4;

/// The options of `bench fleet`.
#[derive(Debug, PartialEq, Eq)]
struct Fleet {
    runners: usize,
    namespaces: usize,
    concurrency: Option<u16>,
    apply_releases: usize,
}

impl Default for Fleet {
    fn default() -> Self {
        Self {
            runners: 1000,
            namespaces: 100,
            concurrency: None,
            apply_releases: 50,
        }
    }
}

fn parse(args: &[String]) -> Result<Fleet> {
    let mut fleet = Fleet::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        let mut value = || -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| anyhow!("{name} needs a value\n\n{USAGE}"))
        };
        let number = |v: String| -> Result<usize> {
            v.parse()
                .with_context(|| format!("{name}: {v:?} is not a number"))
        };
        match name {
            "--runners" => fleet.runners = number(value()?)?,
            "--namespaces" => fleet.namespaces = number(value()?)?,
            "--apply-releases" => fleet.apply_releases = number(value()?)?,
            "--concurrency" => {
                let v = value()?;
                fleet.concurrency = Some(
                    v.parse()
                        .with_context(|| format!("--concurrency: {v:?} is not a number"))?,
                );
            }
            "-h" | "--help" => bail!("{USAGE}"),
            _ => bail!("unknown option {flag:?}\n\n{USAGE}"),
        }
    }
    if fleet.runners == 0 || fleet.namespaces == 0 || fleet.namespaces > fleet.runners {
        bail!("need 1 <= --namespaces <= --runners (got {fleet:?})");
    }
    Ok(fleet)
}

/// Runs `cargo xtask bench <args>`.
pub fn main(args: &[String]) -> Result<()> {
    match args.split_first() {
        Some((what, rest)) if what == "fleet" => fleet(&parse(rest)?),
        Some((what, _)) if what == "help" || what == "-h" || what == "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown bench {args:?}\n\n{USAGE}"),
    }
}

fn fleet(opts: &Fleet) -> Result<()> {
    crate::catch_signals();
    let root = testenv::workspace_root();
    let out_dir = root.join("target").join("bench-fleet");
    fs::create_dir_all(&out_dir)?;
    let chart = root
        .parent()
        .context("the workspace has a parent directory")?
        .join("shared/reference/gitlab-runner-0.86.0.tgz");
    if opts.apply_releases > 0 && !chart.is_file() {
        bail!("the official chart is missing: {}", chart.display());
    }
    let runnerctl = build_runnerctl(&root)?;
    let paths = Paths::from_env()?;
    let helm = if opts.apply_releases > 0 {
        Some(helm::ensure(&paths)?)
    } else {
        None
    };

    let mut bench = Bench {
        report: Report::new(opts),
        instance: paths.instance(&format!("bench-{}", std::process::id())),
        paths,
        controller: None,
        runnerctl,
        out_dir,
    };
    let up = Instant::now();
    if testenv::up(&bench.paths, &bench.instance, std::process::id())? != Up::Started {
        bail!(
            "the private instance {} was running already",
            bench.instance.name
        );
    }
    bench.report.note(format!(
        "control plane up in {:.1} s",
        up.elapsed().as_secs_f64()
    ));
    let outcome = bench.run(opts, &chart, helm.as_deref());
    let table = bench.report.render();
    print!("{table}");
    let _ = fs::write(bench.out_dir.join("results.md"), &table);
    if outcome.is_err() {
        crate::keep_logs(&bench.instance);
    }
    drop(bench); // the controller, then the control plane
    outcome
}

/// `cargo build --release -p runnerctl-cli`; the binary's path, as cargo reports it.
fn build_runnerctl(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "runnerctl-cli"])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !out.status.success() {
        bail!(
            "cargo build --release -p runnerctl-cli failed ({})",
            out.status
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "runnerctl")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo build named no runnerctl executable")
}

/// One run: what it started, so that dropping it stops everything.
struct Bench {
    report: Report,
    paths: Paths,
    instance: Instance,
    controller: Option<Controller>,
    runnerctl: PathBuf,
    out_dir: PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(mut c) = self.controller.take() {
            c.stop();
        }
        if let Err(e) = testenv::down(&self.paths, &self.instance) {
            eprintln!("xtask: stopping the bench control plane: {e:#}");
        }
    }
}

impl Bench {
    fn kubeconfig(&self) -> String {
        self.instance.kubeconfig().display().to_string()
    }

    /// kubectl as admin; its stdout, or an error with its stderr.
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        check_interrupted()?;
        let out = kubectl::run(&self.kubeconfig(), args, stdin);
        if !out.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn run(&mut self, opts: &Fleet, chart: &Path, helm: Option<&Path>) -> Result<()> {
        self.add_nodes(opts.runners + 2 * opts.apply_releases)?;
        self.create_fleet(opts)?;
        self.catch_up(opts)?;
        self.steady()?;
        self.one_change()?;
        self.delete_fleet(opts)?;
        if let Some(mut c) = self.controller.take() {
            c.stop();
        }
        if let Some(helm) = helm {
            self.releases(opts.apply_releases, chart, helm)?;
        }
        Ok(())
    }

    /// Registers kwok nodes beyond testenv's two until `pods` fit, with room to spare.
    fn add_nodes(&mut self, pods: usize) -> Result<()> {
        let wanted = (pods + pods / 10).div_ceil(PODS_PER_NODE);
        let extra = wanted.saturating_sub(NODES.len());
        let total = NODES.len() + extra;
        if extra > 0 {
            let t = Instant::now();
            let items: Vec<Value> = (0..extra)
                .map(|i| kwok_node(&format!("kwok-bench-{i}")))
                .collect();
            self.kubectl(&["create", "-f", "-"], Some(&list(items)))?;
            self.wait_for(
                "the bench's nodes to be Ready",
                Duration::from_secs(120),
                |b| {
                    let out = b.kubectl(&["get", "nodes", "-o", "json"], None)?;
                    Ok(ready_count(&serde_json::from_str(&out)?) >= total)
                },
            )?;
            self.report.note(format!(
                "{total} kwok nodes ({} added, Ready in {:.1} s), {} pods each",
                extra,
                t.elapsed().as_secs_f64(),
                PODS_PER_NODE
            ));
        }
        Ok(())
    }

    /// Step 1: the CRD, the namespaces with their token Secret, the GitLabRunners.
    fn create_fleet(&mut self, opts: &Fleet) -> Result<()> {
        let before = self.requests()?;
        let t = Instant::now();
        let crd = Command::new(&self.runnerctl)
            .args(["controller", "crd"])
            .output()
            .context("running runnerctl controller crd")?;
        if !crd.status.success() {
            bail!("runnerctl controller crd failed ({})", crd.status);
        }
        // Server-side: the CRD is too big for client-side apply's last-applied annotation.
        self.kubectl(
            &["apply", "--server-side", "--field-manager=bench", "-f", "-"],
            Some(&String::from_utf8_lossy(&crd.stdout)),
        )?;
        self.kubectl(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/gitlabrunners.runnerctl.io",
            ],
            None,
        )?;
        let crd_time = t.elapsed();

        let t_ns = Instant::now();
        let namespaces: Vec<Value> = (0..opts.namespaces)
            .map(|j| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": fleet_namespace(j)}}))
            .collect();
        self.kubectl(&["create", "-f", "-"], Some(&list(namespaces)))?;
        let ns_time = t_ns.elapsed();

        let t_glr = Instant::now();
        let lists: Vec<String> = (0..opts.namespaces)
            .map(|j| list(namespace_objects(j, opts)))
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let this = &*self;
        std::thread::scope(|s| -> Result<()> {
            let workers: Vec<_> = (0..CREATE_WORKERS)
                .map(|_| {
                    s.spawn(|| -> Result<()> {
                        while let Some(l) = lists.get(next.fetch_add(1, Ordering::Relaxed)) {
                            this.kubectl(&["create", "-f", "-"], Some(l))?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for w in workers {
                w.join()
                    .map_err(|_| anyhow!("a create worker panicked"))??;
            }
            Ok(())
        })?;
        let glr_time = t_glr.elapsed();
        let reqs = self.requests()?.minus(&before);
        self.report.row(
            "1. create the fleet",
            t.elapsed(),
            &reqs,
            format!(
                "CRD applied and Established {:.1} s; {} namespaces (one List) {:.1} s; \
                 {} Secrets + {} GitLabRunners ({} `kubectl create` of a List, {CREATE_WORKERS} at once) {:.1} s",
                crd_time.as_secs_f64(),
                opts.namespaces,
                ns_time.as_secs_f64(),
                opts.namespaces,
                opts.runners,
                opts.namespaces,
                glr_time.as_secs_f64()
            ),
        );
        Ok(())
    }

    /// Step 2: the controller from its start until every GitLabRunner is Ready.
    fn catch_up(&mut self, opts: &Fleet) -> Result<()> {
        let port = free_port()?;
        let mut args = vec![
            "controller".to_string(),
            "run".into(),
            format!("--kubeconfig={}", self.kubeconfig()),
            format!("--metrics-address=127.0.0.1:{port}"),
        ];
        if let Some(c) = opts.concurrency {
            args.push(format!("--concurrency={c}"));
        }
        let before = self.requests()?;
        let log = self.out_dir.join("controller.log");
        let t = Instant::now();
        self.controller = Some(Controller::start(&self.runnerctl, &args, &log, port)?);
        let timeout = Duration::from_secs(300) + Duration::from_millis(600) * opts.runners as u32;
        let mut last = (0, 0);
        let mut polls = 0u32;
        self.wait_for("every GitLabRunner to be Ready", timeout, |b| {
            polls += 1;
            let fleet = b.fleet_status()?;
            if fleet.ready != last.0
                && (fleet.ready - last.0 >= opts.runners / 10 || fleet.ready == fleet.total)
            {
                eprintln!(
                    "xtask: {:>6.1} s  {}/{} Ready",
                    t.elapsed().as_secs_f64(),
                    fleet.ready,
                    fleet.total
                );
                last.0 = fleet.ready;
            }
            last.1 = fleet.total;
            if let Some(msg) = fleet.stalled {
                bail!("a GitLabRunner is Stalled: {msg}");
            }
            Ok(fleet.total == opts.runners && fleet.ready == opts.runners)
        })?;
        let wall = t.elapsed();
        let reqs = self.requests()?.minus(&before);
        let c = self.controller.as_mut().expect("started above");
        let usage = c.usage()?;
        let metrics = c.metrics().unwrap_or_default();
        self.report.row(
            &format!("2. controller start → all {} Ready", opts.runners),
            wall,
            &reqs,
            format!(
                "peak RSS {:.1} MiB (VmHWM {} kB); CPU {:.1} s (user {:.1} + system {:.1}); \
                 {} reconciles, {} errors; --concurrency {}; {polls} status polls by the bench in the window; {}",
                usage.hwm_kib as f64 / 1024.0,
                usage.hwm_kib,
                usage.user + usage.system,
                usage.user,
                usage.system,
                metric(&metrics, "runnerctl_reconciles_total"),
                metric(&metrics, "runnerctl_reconcile_errors_total"),
                opts.concurrency.map_or("16 (default)".into(), |c| c.to_string()),
                reqs.top(),
            ),
        );
        Ok(())
    }

    /// Step 3: a minute with nothing changing.
    fn steady(&mut self) -> Result<()> {
        let before = self.requests()?;
        let cpu_before = self.controller_usage()?;
        let t = Instant::now();
        while t.elapsed() < STEADY {
            check_interrupted()?;
            self.controller_alive()?;
            std::thread::sleep(Duration::from_millis(200));
        }
        let wall = t.elapsed();
        let reqs = self.requests()?.minus(&before);
        let cpu = self.controller_usage()?;
        let per_min = |n: f64| n * 60.0 / wall.as_secs_f64();
        let mut r = reqs.clone();
        r.label = format!(
            "{:.0}/min ({:.0}/min WATCH)",
            per_min(reqs.total),
            per_min(reqs.watches())
        );
        self.report.row(
            "3. steady state, nothing changing",
            wall,
            &r,
            format!(
                "{:.0} requests, {:.0} of them WATCH; controller CPU {:.2} s, RSS {:.1} MiB; {}",
                reqs.total,
                reqs.watches(),
                cpu.user + cpu.system - cpu_before.user - cpu_before.system,
                cpu.rss_kib as f64 / 1024.0,
                reqs.top()
            ),
        );
        Ok(())
    }

    /// Step 4: one GitLabRunner's spec.values.concurrent changed, until its ConfigMap says so.
    fn one_change(&mut self) -> Result<()> {
        let (ns, name) = (fleet_namespace(0), runner_name(0));
        let cm = format!("{name}-gitlab-runner");
        let mut watch = Command::new("kubectl")
            .env("KUBECONFIG", self.kubeconfig())
            .args(["get", "configmap", &cm, "-n", &ns, "--watch", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running kubectl get --watch")?;
        let (tx, rx) = mpsc::channel();
        let stdout = watch.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for v in serde_json::Deserializer::from_reader(stdout).into_iter::<Value>() {
                let Ok(v) = v else { break };
                if tx.send((Instant::now(), concurrent(&v))).is_err() {
                    break;
                }
            }
        });
        let result = (|| -> Result<()> {
            let (_, old) = rx
                .recv_timeout(Duration::from_secs(30))
                .context("the ConfigMap watch showed nothing")?;
            let old = old.context("no `concurrent = ` line in the ConfigMap's config.toml")?;
            let new = old + 7;
            let before = self.requests()?;
            let t = Instant::now();
            self.kubectl(
                &[
                    "patch",
                    "gitlabrunner",
                    &name,
                    "-n",
                    &ns,
                    "--type=merge",
                    "-p",
                    &json!({"spec": {"values": {"concurrent": new}}}).to_string(),
                ],
                None,
            )?;
            let patched = t.elapsed();
            let deadline = t + Duration::from_secs(60);
            let seen = loop {
                check_interrupted()?;
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok((at, Some(v))) if v == new => break at,
                    Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the ConfigMap watch ended"),
                }
                if Instant::now() > deadline {
                    bail!("{ns}/{cm} still lacks concurrent = {new} after 60 s");
                }
            };
            let wall = seen - t;
            let reqs = self.requests()?.minus(&before);
            self.report.row(
                "4. one change reconciled",
                wall,
                &reqs,
                format!(
                    "{ns}/{name} spec.values.concurrent {old} → {new}, timed from before `kubectl patch` \
                     ({:.2} s of it until kubectl returned) to the watch event of {cm} with the new value; goal < 2 s",
                    patched.as_secs_f64()
                ),
            );
            Ok(())
        })();
        let _ = watch.kill();
        let _ = watch.wait();
        result
    }

    /// Step 5: every GitLabRunner deleted, until all are gone; then what runnerctl rendered.
    fn delete_fleet(&mut self, opts: &Fleet) -> Result<()> {
        let before = self.requests()?;
        let t = Instant::now();
        self.kubectl(
            &[
                "delete",
                "gitlabrunners.runnerctl.io",
                "--all",
                "--all-namespaces",
                "--wait=false",
            ],
            None,
        )?;
        let timeout = Duration::from_secs(300) + Duration::from_millis(600) * opts.runners as u32;
        self.wait_for("every GitLabRunner to be gone", timeout, |b| {
            Ok(b.fleet_status()?.total == 0)
        })?;
        let wall = t.elapsed();
        let reqs = self.requests()?.minus(&before);
        // What runnerctl rendered goes with the GitLabRunner, but an object deleted with
        // foreground propagation waits for the garbage collector: give it a while.
        let kinds = self.kubectl(
            &[
                "api-resources",
                "--namespaced",
                "--verbs=list",
                "-o",
                "name",
            ],
            None,
        )?;
        let kinds: Vec<&str> = kinds
            .lines()
            .filter(|k| *k != "events" && *k != "events.events.k8s.io")
            .collect();
        let deadline = Instant::now() + LEFTOVER_GRACE;
        let (left, all_gone) = loop {
            check_interrupted()?;
            let out = self.kubectl(
                &[
                    "get",
                    &kinds.join(","),
                    "-A",
                    "-l",
                    MANAGED_BY,
                    "-o",
                    "json",
                ],
                None,
            )?;
            let left = leftovers(&serde_json::from_str(&out)?);
            if left.is_empty() || Instant::now() > deadline {
                break (left, t.elapsed());
            }
            std::thread::sleep(Duration::from_secs(2));
        };
        let pods = self.kubectl(&["get", "pods", "-A", "-o", "name"], None)?;
        self.report.row(
            &format!("5. delete all {} → gone", opts.runners),
            wall,
            &reqs,
            format!(
                "every rendered object ({MANAGED_BY}) gone from the fleet namespaces after {:.1} s; \
                 left: {}{}; pods left: {}",
                all_gone.as_secs_f64(),
                left.len(),
                if left.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", left.iter().take(5).cloned().collect::<Vec<_>>().join(", "))
                },
                pods.lines().count()
            ),
        );
        if !left.is_empty() {
            bail!(
                "{} rendered objects were left {LEFTOVER_GRACE:?} after the GitLabRunners went, e.g. {}",
                left.len(),
                left[0]
            );
        }
        Ok(())
    }

    /// Step 6: K releases one after another, by runnerctl apply and by helm.
    fn releases(&mut self, k: usize, chart: &Path, helm: &Path) -> Result<()> {
        let values = [
            format!("gitlabUrl={GITLAB_URL}"),
            "runnerToken=glrt-bench".to_string(),
            "rbac.create=true".to_string(),
        ];
        let runnerctl = self.runnerctl.clone();
        let series: [(&str, &str, Box<dyn Fn(&str) -> Command>); 2] = [
            (
                "6a. releases by `runnerctl apply --wait=false`",
                "apply",
                Box::new(|ns: &str| {
                    let mut c = Command::new(&runnerctl);
                    c.args(["apply", "bench", "-n", ns, "--create-namespace"]);
                    for v in &values {
                        c.args(["--set", v]);
                    }
                    c.args(["--yes", "--wait=false"]);
                    c
                }),
            ),
            (
                "6b. releases by `helm upgrade --install` (official chart 0.86.0)",
                "helm",
                Box::new(|ns: &str| {
                    let mut c = Command::new(helm);
                    c.args(["upgrade", "--install", "bench"]).arg(chart).args([
                        "-n",
                        ns,
                        "--create-namespace",
                    ]);
                    for v in &values {
                        c.args(["--set", v]);
                    }
                    c
                }),
            ),
        ];
        for (what, prefix, command) in &series {
            let before = self.requests()?;
            let mut each = Vec::with_capacity(k);
            let t = Instant::now();
            for i in 0..k {
                check_interrupted()?;
                let ns = format!("bench-{prefix}-{i:03}");
                let r = Instant::now();
                let out = command(&ns)
                    .env("KUBECONFIG", self.kubeconfig())
                    .stdin(Stdio::null())
                    .output()
                    .with_context(|| format!("running {prefix}"))?;
                each.push(r.elapsed().as_secs_f64());
                if !out.status.success() {
                    bail!(
                        "{prefix} of release {i} failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
            }
            let wall = t.elapsed();
            let reqs = self.requests()?.minus(&before);
            each.sort_by(f64::total_cmp);
            self.report.row(
                &format!("{what}, {k} one after another"),
                wall,
                &reqs,
                format!(
                    "per release: mean {:.2} s, median {:.2} s, min {:.2} s, max {:.2} s",
                    wall.as_secs_f64() / k as f64,
                    each[k / 2],
                    each[0],
                    each[k - 1]
                ),
            );
        }
        Ok(())
    }

    /// Polls `ready` every [`POLL`] until it says yes; fails on a timeout, an interrupt or
    /// the controller's exit.
    fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&mut Self) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.controller_alive()?;
            let t = Instant::now();
            if ready(self)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(POLL.saturating_sub(t.elapsed()));
        }
    }

    fn controller_alive(&mut self) -> Result<()> {
        check_interrupted()?;
        match &mut self.controller {
            Some(c) => c.alive(),
            None => Ok(()),
        }
    }

    fn controller_usage(&mut self) -> Result<Usage> {
        self.controller
            .as_mut()
            .context("the controller is not running")?
            .usage()
    }

    /// What `kubectl get glr -A -o json` says about the fleet.
    fn fleet_status(&self) -> Result<FleetStatus> {
        let out = self.kubectl(
            &["get", "gitlabrunners.runnerctl.io", "-A", "-o", "json"],
            None,
        )?;
        let v: Value = serde_json::from_str(&out).context("parsing kubectl get glr -o json")?;
        Ok(fleet_status(&v))
    }

    /// The API server's request counters now (its /metrics, as admin).
    fn requests(&self) -> Result<Requests> {
        Ok(Requests::parse(
            &self.kubectl(&["get", "--raw=/metrics"], None)?,
        ))
    }
}

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

fn fleet_namespace(j: usize) -> String {
    format!("fleet-{j:03}")
}

fn runner_name(i: usize) -> String {
    format!("runner-{i:04}")
}

fn list(items: Vec<Value>) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// Namespace `j`'s token Secret and its share of the GitLabRunners (runner `i` lives in
/// namespace `i % M`).
fn namespace_objects(j: usize, opts: &Fleet) -> Vec<Value> {
    let ns = fleet_namespace(j);
    let mut items = vec![json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "runner-token", "namespace": ns},
        "stringData": {"runner-token": FAKE_TOKEN},
    })];
    items.extend((j..opts.runners).step_by(opts.namespaces).map(|i| {
        json!({
            "apiVersion": "runnerctl.io/v1alpha1", "kind": "GitLabRunner",
            "metadata": {"name": runner_name(i), "namespace": ns},
            "spec": {"values": {
                "gitlabUrl": GITLAB_URL,
                "rbac": {"create": true},
                "runners": {"secret": "runner-token"},
            }},
        })
    }));
    items
}

/// A Node kwok takes as one of its own (the annotation testenv's kwok selects on).
fn kwok_node(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "type": "kwok",
            },
        },
        "spec": {},
    })
}

fn condition<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Items of a list whose Ready condition is True.
fn ready_count(list: &Value) -> usize {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| condition(o, "Ready").is_some_and(|c| c["status"] == "True"))
        .count()
}

#[derive(Debug, PartialEq)]
struct FleetStatus {
    total: usize,
    ready: usize,
    /// The first Stalled one: it will not become Ready without a change.
    stalled: Option<String>,
}

fn fleet_status(list: &Value) -> FleetStatus {
    let items = list["items"].as_array().map_or(&[][..], Vec::as_slice);
    let stalled = items.iter().find_map(|o| {
        let c = condition(o, "Stalled").filter(|c| c["status"] == "True")?;
        Some(format!(
            "{}/{}: {}: {}",
            o["metadata"]["namespace"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default(),
            c["reason"].as_str().unwrap_or_default(),
            c["message"].as_str().unwrap_or_default()
        ))
    });
    FleetStatus {
        total: items.len(),
        ready: ready_count(list),
        stalled,
    }
}

/// `Kind/namespace/name` of the listed objects in the fleet namespaces, `(deleting)` after
/// those with a deletionTimestamp.
fn leftovers(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["metadata"]["namespace"]
                .as_str()
                .is_some_and(|n| n.starts_with("fleet-"))
        })
        .map(|o| {
            let m = &o["metadata"];
            format!(
                "{}/{}/{}{}",
                o["kind"].as_str().unwrap_or("?"),
                m["namespace"].as_str().unwrap_or("?"),
                m["name"].as_str().unwrap_or("?"),
                if m["deletionTimestamp"].is_string() {
                    " (deleting)"
                } else {
                    ""
                }
            )
        })
        .collect()
}

/// The `concurrent = N` of a runner ConfigMap's config.toml.
fn concurrent(cm: &Value) -> Option<u64> {
    cm["data"]["config.toml"]
        .as_str()?
        .lines()
        .find_map(|l| l.strip_prefix("concurrent = "))?
        .trim()
        .parse()
        .ok()
}

/// The API server's `apiserver_request_total`, summed by verb and by resource.
#[derive(Clone, Debug, Default)]
struct Requests {
    total: f64,
    by_verb: BTreeMap<String, f64>,
    by_resource: BTreeMap<String, f64>,
    /// How the count is shown in the table ("" = the total).
    label: String,
}

impl Requests {
    fn parse(metrics: &str) -> Self {
        let mut r = Self::default();
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let Ok(n) = value.trim().parse::<f64>() else {
                continue;
            };
            let label = |key: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix("=\""))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            r.total += n;
            *r.by_verb.entry(label("verb")).or_default() += n;
            let resource = match (label("resource"), label("subresource")) {
                (res, sub) if res.is_empty() => format!("(non-resource){sub}"),
                (res, sub) if sub.is_empty() => res,
                (res, sub) => format!("{res}/{sub}"),
            };
            *r.by_resource.entry(resource).or_default() += n;
        }
        r
    }

    /// The requests since `before`.
    fn minus(&self, before: &Self) -> Self {
        let diff = |now: &BTreeMap<String, f64>, then: &BTreeMap<String, f64>| {
            now.iter()
                .map(|(k, v)| (k.clone(), v - then.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect()
        };
        Self {
            total: self.total - before.total,
            by_verb: diff(&self.by_verb, &before.by_verb),
            by_resource: diff(&self.by_resource, &before.by_resource),
            label: String::new(),
        }
    }

    fn watches(&self) -> f64 {
        self.by_verb.get("WATCH").copied().unwrap_or(0.0)
    }

    /// "by verb: PATCH 100, ...; by resource: ..." (the largest first, a few of each).
    fn top(&self) -> String {
        let top = |m: &BTreeMap<String, f64>, n: usize| {
            let mut v: Vec<_> = m.iter().collect();
            v.sort_by(|a, b| b.1.total_cmp(a.1));
            v.iter()
                .take(n)
                .map(|(k, n)| format!("{k} {n:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "by verb: {}; by resource: {}",
            top(&self.by_verb, 8),
            top(&self.by_resource, 8)
        )
    }
}

/// The controller as a child process, its log in a file.
struct Controller {
    child: Child,
    log: PathBuf,
    port: u16,
}

/// A process's resources so far, from /proc.
#[derive(Debug, Default)]
struct Usage {
    hwm_kib: u64,
    rss_kib: u64,
    user: f64,
    system: f64,
}

impl Controller {
    fn start(bin: &Path, args: &[String], log: &Path, port: u16) -> Result<Self> {
        let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting runnerctl controller run")?;
        Ok(Self {
            child,
            log: log.to_path_buf(),
            port,
        })
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            bail!(
                "the controller exited ({status}); the end of {}:\n{}",
                self.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    fn usage(&mut self) -> Result<Usage> {
        self.alive()?;
        let pid = self.child.id();
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let (user, system) = cpu_seconds(&stat).context("reading /proc/PID/stat")?;
        Ok(Usage {
            hwm_kib: kib("VmHWM:"),
            rss_kib: kib("VmRSS:"),
            user,
            system,
        })
    }

    /// Its own /metrics text.
    fn metrics(&self) -> Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    }

    /// SIGTERM (it finishes the reconciles under way), then SIGKILL after 15 s.
    fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime and stime of a /proc/PID/stat line, in seconds.
fn cpu_seconds(stat: &str) -> Option<(f64, f64)> {
    // After the ")" closing the command name: field 3 (state) first; utime is 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some((field(14)? / ticks, field(15)? / ticks))
}

/// A metric's value in a Prometheus text exposition, "?" if absent.
fn metric(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or("?")
        .trim()
        .to_string()
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The rows of the markdown table, and the lines above it.
struct Report {
    notes: Vec<String>,
    rows: Vec<[String; 4]>,
}

impl Report {
    fn new(opts: &Fleet) -> Self {
        let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        Self {
            notes: vec![
                format!(
                    "`cargo xtask bench fleet --runners {} --namespaces {}{} --apply-releases {}`",
                    opts.runners,
                    opts.namespaces,
                    opts.concurrency
                        .map_or(String::new(), |c| format!(" --concurrency {c}")),
                    opts.apply_releases
                ),
                format!(
                    "{cores} cores, load average at the start {}",
                    load.split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ],
            rows: Vec::new(),
        }
    }

    fn note(&mut self, note: String) {
        eprintln!("xtask: {note}");
        self.notes.push(note);
    }

    fn row(&mut self, step: &str, wall: Duration, reqs: &Requests, details: String) {
        let requests = if reqs.label.is_empty() {
            format!("{:.0} ({:.0} WATCH)", reqs.total, reqs.watches())
        } else {
            reqs.label.clone()
        };
        let row = [
            step.to_string(),
            format!("{:.2} s", wall.as_secs_f64()),
            requests,
            details,
        ];
        eprintln!("xtask: {}", row.join(" | "));
        self.rows.push(row);
    }

    fn render(&self) -> String {
        let mut t = String::new();
        for n in &self.notes {
            let _ = writeln!(t, "{n}  ");
        }
        let _ = writeln!(
            t,
            "\n| step | wall time | API requests served | details |\n|---|---|---|---|"
        );
        for r in &self.rows {
            let _ = writeln!(t, "| {} |", r.join(" | "));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_default_and_parse() {
        assert_eq!(parse(&[]).unwrap(), Fleet::default());
        let f = parse(&args(&[
            "--runners",
            "50",
            "--namespaces=5",
            "--concurrency",
            "8",
            "--apply-releases",
            "0",
        ]))
        .unwrap();
        assert_eq!(
            f,
            Fleet {
                runners: 50,
                namespaces: 5,
                concurrency: Some(8),
                apply_releases: 0
            }
        );
        assert!(parse(&args(&["--runners"])).is_err());
        assert!(parse(&args(&["--runners", "5", "--namespaces", "6"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn runners_spread_over_namespaces_each_once() {
        let opts = Fleet {
            runners: 10,
            namespaces: 3,
            ..Fleet::default()
        };
        let names: Vec<String> = (0..3)
            .flat_map(|j| namespace_objects(j, &opts))
            .filter(|o| o["kind"] == "GitLabRunner")
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), 10);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
        assert!(
            namespace_objects(0, &opts)[0]["stringData"]["runner-token"]
                .as_str()
                .unwrap()
                .starts_with("glrt-")
        );
    }

    #[test]
    fn request_counters_sum_and_subtract() {
        let before = Requests::parse(
            "# TYPE apiserver_request_total counter\n\
             apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"} 3\n\
             apiserver_request_total{code=\"0\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"cluster\",subresource=\"\",verb=\"WATCH\",version=\"v1\"} 2\n\
             apiserver_request_duration_seconds_count{verb=\"LIST\"} 9\n",
        );
        assert_eq!(before.total, 5.0);
        assert_eq!(before.watches(), 2.0);
        let after = Requests::parse(
            "apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"} 4\n\
             apiserver_request_total{code=\"0\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"cluster\",subresource=\"\",verb=\"WATCH\",version=\"v1\"} 5\n\
             apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"resource\",subresource=\"status\",verb=\"PATCH\",version=\"v1\"} 1e+00\n",
        );
        let d = after.minus(&before);
        assert_eq!(d.total, 5.0);
        assert_eq!(d.watches(), 3.0);
        assert_eq!(d.by_resource["pods/status"], 1.0);
        assert!(
            d.top().starts_with("by verb: WATCH 3, LIST 1, PATCH 1"),
            "{}",
            d.top()
        );
    }

    #[test]
    fn fleet_status_counts_ready_and_names_a_stalled_one() {
        let v = json!({"items": [
            {"metadata": {"name": "a", "namespace": "n"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "b", "namespace": "n"}},
            {"metadata": {"name": "c", "namespace": "n"}, "status": {"conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "Stalled", "status": "True", "reason": "InvalidValues", "message": "no"}]}},
        ]});
        let s = fleet_status(&v);
        assert_eq!((s.total, s.ready), (3, 1));
        assert_eq!(s.stalled.as_deref(), Some("n/c: InvalidValues: no"));
    }

    #[test]
    fn leftovers_are_the_fleet_namespaces_objects() {
        let v = json!({"items": [
            {"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "fleet-000"}},
            {"kind": "Deployment", "metadata": {"name": "b", "namespace": "fleet-001", "deletionTimestamp": "2025-01-01T00:00:00Z"}},
            {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "bench-apply-000"}},
        ]});
        assert_eq!(
            leftovers(&v),
            ["ConfigMap/fleet-000/a", "Deployment/fleet-001/b (deleting)"]
        );
    }

    #[test]
    fn concurrent_comes_from_config_toml() {
        let cm = json!({"data": {"config.toml": "shutdown_timeout = 0\nconcurrent = 10\ncheck_interval = 3\n"}});
        assert_eq!(concurrent(&cm), Some(10));
        assert_eq!(concurrent(&json!({})), None);
    }

    #[test]
    fn cpu_seconds_skip_a_command_name_with_spaces() {
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let stat = "42 (run ner) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 0 0";
        assert_eq!(cpu_seconds(stat), Some((250.0 / ticks, 50.0 / ticks)));
    }
}
