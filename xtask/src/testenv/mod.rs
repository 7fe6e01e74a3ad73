//! `cargo xtask testenv`: a real Kubernetes control plane on 127.0.0.1.
//!
//! etcd, kube-apiserver (RBAC, service accounts, admission), kube-controller-manager (the
//! Deployment, ReplicaSet, garbage-collector and namespace controllers, ...), kube-scheduler,
//! and kwok, which plays the kubelet for fake nodes: it reports scheduled pods Running and
//! Ready, or failing (see `xtask/testenv/kwok-stages.yaml`). No container ever runs.

pub mod build;
pub mod paths;
pub mod pins;
mod pki;
mod proc;

use std::fmt::Write as _;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

pub use paths::{Instance, Paths};

/// The processes of one instance, in start order.
pub const COMPONENTS: &[&str] = &[
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
];

/// The fake nodes registered for kwok.
pub const NODES: &[&str] = &["kwok-node-0", "kwok-node-1"];

/// The namespace where user `limited` may edit (ClusterRole `edit` through a RoleBinding).
pub const LIMITED_NAMESPACE: &str = "limited";

/// The instance `cargo xtask testenv` manages.
pub const DEFAULT_INSTANCE: &str = "default";

const KWOK_STAGES: &str = include_str!("../../testenv/kwok-stages.yaml");

const USAGE: &str = "\
usage: cargo xtask testenv <command>

  up               build the control plane if needed (once per pinned version), start it on
                   127.0.0.1 and wait until the API server and the nodes are ready
  down             stop every process `up` started and remove its state
  env [--export]   print the admin kubeconfig path; with --export, shell lines that export
                   KUBECONFIG and RUNNERCTL_TEST_LIMITED_KUBECONFIG
  env --limited    print the kubeconfig path of user `limited`
  status           say what runs (pids, memory, API server URL)
  build            only build the binaries

example: KUBECONFIG=$(cargo xtask testenv env) kubectl get nodes
";

/// Runs `cargo xtask testenv <args>`.
pub fn main(args: &[String]) -> Result<()> {
    let paths = Paths::from_env()?;
    let instance = paths.instance(DEFAULT_INSTANCE);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["up"] => {
            let _lock = lock(&paths, &instance)?;
            up(&paths, &instance, 0)?;
        }
        ["down"] => {
            let _lock = lock(&paths, &instance)?;
            if !down(&paths, &instance)? {
                eprintln!("testenv: nothing to stop");
            }
        }
        ["env", flags @ ..] => env(&paths, &instance, flags)?,
        ["status"] => status(&paths)?,
        ["build"] => build::ensure_built(&paths)?,
        ["help" | "-h" | "--help"] => print!("{USAGE}"),
        _ => bail!("unknown testenv command {args:?}\n\n{USAGE}"),
    }
    Ok(())
}

/// Serialises `up` and `down` of one instance (two terminals, two engineers); released
/// when the returned file is dropped.
fn lock(paths: &Paths, instance: &Instance) -> Result<fs::File> {
    fs::create_dir_all(paths.run_root())?;
    let file = fs::File::create(paths.run_root().join(format!("{}.lock", instance.name)))?;
    file.lock()
        .context("locking the test control plane's state")?;
    Ok(file)
}

fn env(paths: &Paths, instance: &Instance, flags: &[&str]) -> Result<()> {
    if !is_running(paths, instance) {
        bail!("the test control plane is not running: start it with `cargo xtask testenv up`");
    }
    match flags {
        [] => println!("{}", instance.kubeconfig().display()),
        ["--limited"] => println!("{}", instance.limited_kubeconfig().display()),
        ["--export"] => {
            println!("export KUBECONFIG={}", shell_quote(&instance.kubeconfig()));
            println!(
                "export RUNNERCTL_TEST_LIMITED_KUBECONFIG={}",
                shell_quote(&instance.limited_kubeconfig())
            );
        }
        _ => bail!("unknown env flags {flags:?}: use --export or --limited"),
    }
    Ok(())
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The outcome of [`up`].
#[derive(Debug, PartialEq, Eq)]
pub enum Up {
    /// Started now.
    Started,
    /// It was running already and was left alone.
    AlreadyRunning,
}

/// Builds if needed, then starts the instance unless it runs already. `owner` is the pid
/// of the process that will bring it down (0: the user, with `testenv down`); an instance
/// whose owner died is cleaned up by the next `up`.
pub fn up(paths: &Paths, instance: &Instance, owner: u32) -> Result<Up> {
    build::ensure_built(paths)?;
    clean_orphans(paths);
    if instance.dir.exists() {
        if is_running(paths, instance) {
            eprintln!(
                "testenv: already running ({}); kubeconfig: {}",
                instance.state("server").unwrap_or_default(),
                instance.kubeconfig().display()
            );
            return Ok(Up::AlreadyRunning);
        }
        eprintln!("testenv: cleaning up the state of an earlier run that did not stop cleanly");
        down(paths, instance)?;
    }
    let started = Instant::now();
    let mut run = Run {
        paths,
        instance,
        children: Vec::new(),
        phases: Vec::new(),
        since: Instant::now(),
    };
    match run.start(owner) {
        Ok(server) => {
            eprintln!(
                "testenv: Kubernetes {} ready in {:.1}s ({}) at {server}\n\
                 \x20 admin:   KUBECONFIG={}\n\
                 \x20 limited: RUNNERCTL_TEST_LIMITED_KUBECONFIG={} (user `limited`: edit in namespace `{LIMITED_NAMESPACE}` only)\n\
                 \x20 logs:    {}/*.log",
                pins::KUBERNETES,
                started.elapsed().as_secs_f64(),
                run.phases.join(", "),
                instance.kubeconfig().display(),
                instance.limited_kubeconfig().display(),
                instance.dir.display(),
            );
            if owner == 0 {
                eprintln!("  stop:    cargo xtask testenv down");
            }
            Ok(Up::Started)
        }
        Err(e) => {
            // Stop what started; keep the logs for reading (the next `up` or `down` removes them).
            let pids: Vec<u32> = run.children.iter().map(|(_, c)| c.id()).collect();
            proc::stop(&pids, Duration::from_secs(5));
            for (_, child) in &mut run.children {
                let _ = child.wait();
            }
            Err(e.context(format!(
                "the test control plane did not start (state and logs kept in {})",
                instance.dir.display()
            )))
        }
    }
}

/// Stops the instance's processes (by the pids it recorded, each checked to still run the
/// program it started) and removes its state. Says whether there was anything.
pub fn down(paths: &Paths, instance: &Instance) -> Result<bool> {
    if !instance.dir.exists() {
        return Ok(false);
    }
    let pids: Vec<u32> = COMPONENTS
        .iter()
        .filter_map(|c| live_pid(paths, instance, c))
        .collect();
    // Clients first, then the API server, then etcd: a server stopped under its clients
    // waits for their watches to end.
    for group in [&COMPONENTS[2..], &COMPONENTS[1..2], &COMPONENTS[..1]] {
        let group: Vec<u32> = group
            .iter()
            .filter_map(|c| live_pid(paths, instance, c))
            .collect();
        proc::stop(&group, Duration::from_secs(5));
    }
    if let Some(pid) = pids.iter().find(|&&p| proc::is_alive(p)) {
        bail!("process {pid} of the test control plane did not stop");
    }
    match fs::remove_dir_all(&instance.dir) {
        // Someone else's cleanup of the same orphan got there first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => other.with_context(|| format!("removing {}", instance.dir.display()))?,
    }
    if !pids.is_empty() {
        eprintln!(
            "testenv: stopped {} processes of `{}`",
            pids.len(),
            instance.name
        );
    }
    Ok(true)
}

/// The pid of a component if its pid file names a live process running that component.
fn live_pid(paths: &Paths, instance: &Instance, component: &str) -> Option<u32> {
    let pid: u32 = fs::read_to_string(instance.pid_file(component))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (proc::is_alive(pid) && proc::runs(pid, &paths.bin(component))).then_some(pid)
}

/// Every component runs and the API server answers /readyz.
pub fn is_running(paths: &Paths, instance: &Instance) -> bool {
    COMPONENTS
        .iter()
        .all(|c| live_pid(paths, instance, c).is_some())
        && kubectl(&instance.kubeconfig(), &["get", "--raw=/readyz"])
            .is_ok_and(|o| o.status.success())
}

/// Brings down `test-<pid>` instances whose `cargo xtask test` died without doing so.
fn clean_orphans(paths: &Paths) {
    let Ok(entries) = fs::read_dir(paths.run_root()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let instance = paths.instance(&name);
        let owner: u32 = instance
            .state("owner")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        if owner != 0 && !proc::is_alive(owner) {
            eprintln!("testenv: cleaning up `{name}`, left behind by process {owner}");
            if let Err(e) = down(paths, &instance) {
                eprintln!("testenv: warning: could not clean up `{name}`: {e:#}");
            }
        }
    }
}

fn status(paths: &Paths) -> Result<()> {
    // One write at the end: a closed pipe (`| head`) is no error worth a panic.
    let mut out = String::new();
    macro_rules! outln {
        ($out:ident, $($arg:tt)*) => {{
            let _ = writeln!($out, $($arg)*);
        }};
    }
    let mut names: Vec<String> = fs::read_dir(paths.run_root())
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let built = paths.stamp_file().exists();
    outln!(
        out,
        "binaries: {} ({})",
        paths.bin_dir().display(),
        if built {
            "built"
        } else {
            "not built yet: `cargo xtask testenv up` builds them"
        }
    );
    if names.is_empty() {
        outln!(out, "no control plane runs");
        let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
        return Ok(());
    }
    for name in names {
        let instance = paths.instance(&name);
        let running = is_running(paths, &instance);
        outln!(
            out,
            "{name}: {} {}",
            if running {
                "running, ready at"
            } else {
                "NOT running (leftover state; `cargo xtask testenv down` clears it)"
            },
            instance.state("server").unwrap_or_default()
        );
        let mut total = 0;
        for c in COMPONENTS {
            match live_pid(paths, &instance, c) {
                Some(pid) => {
                    let rss = proc::rss_kib(pid).unwrap_or(0);
                    total += rss;
                    outln!(out, "  {c:<24} pid {pid:<8} {:>5} MiB", rss / 1024);
                }
                None => outln!(
                    out,
                    "  {c:<24} not running (log: {})",
                    instance.log_file(c).display()
                ),
            }
        }
        outln!(
            out,
            "  {:<24} {:<12} {:>5} MiB resident",
            "total",
            "",
            total / 1024
        );
        outln!(out, "  kubeconfig: {}", instance.kubeconfig().display());
        outln!(
            out,
            "  limited:    {}",
            instance.limited_kubeconfig().display()
        );
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    Ok(())
}

/// Runs kubectl with a kubeconfig; a short request timeout so polls never hang.
fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<Output> {
    Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--request-timeout=5s")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running kubectl (install kubectl: it applies the test cluster's objects)")
}

fn kubectl_stdin(kubeconfig: &Path, args: &[&str], input: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running kubectl")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`kubectl {}` failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Free TCP ports on 127.0.0.1, all different.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding free ports on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// One start in progress: the children started so far, to watch and to stop on failure.
struct Run<'a> {
    paths: &'a Paths,
    instance: &'a Instance,
    children: Vec<(&'static str, Child)>,
    /// "what 1.2s" per finished phase, for the summary line.
    phases: Vec<String>,
    since: Instant,
}

impl Run<'_> {
    fn start(&mut self, owner: u32) -> Result<String> {
        let inst = self.instance;
        fs::create_dir_all(&inst.dir)?;
        let pki = inst.pki();
        pki::generate(&pki)?;
        self.phase("certificates");
        let pk = |name: &str| pki::file(&pki, name).display().to_string();

        let ports = free_ports(6)?;
        let (etcd_client, etcd_peer, apiserver, kcm, scheduler, kwok) =
            (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]);
        let server = format!("https://127.0.0.1:{apiserver}");
        fs::write(
            inst.state_file(),
            format!(
                "owner={owner}\nserver={server}\nkubernetes={}\n",
                pins::KUBERNETES
            ),
        )?;

        // Kubeconfigs: admin (also kwok's), limited, and one per control-plane client.
        let ca = pki::base64_file(&pki::file(&pki, "ca.crt"))?;
        let write_kubeconfig = |path: &Path, user: &str, namespace: Option<&str>| -> Result<()> {
            let cert = pki::base64_file(&pki::file(&pki, &format!("{user}.crt")))?;
            let key = pki::base64_file(&pki::file(&pki, &format!("{user}.key")))?;
            fs::write(path, kubeconfig(&server, &ca, user, &cert, &key, namespace))?;
            Ok(())
        };
        write_kubeconfig(&inst.kubeconfig(), "admin", None)?;
        write_kubeconfig(
            &inst.limited_kubeconfig(),
            "limited",
            Some(LIMITED_NAMESPACE),
        )?;
        let kcm_kubeconfig = inst.dir.join("kube-controller-manager.kubeconfig");
        write_kubeconfig(&kcm_kubeconfig, "kube-controller-manager", None)?;
        let scheduler_kubeconfig = inst.dir.join("kube-scheduler.kubeconfig");
        write_kubeconfig(&scheduler_kubeconfig, "kube-scheduler", None)?;
        let stages = inst.dir.join("kwok-stages.yaml");
        fs::write(
            &stages,
            KWOK_STAGES.replace("@KUBELET_VERSION@", pins::KUBERNETES),
        )?;

        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        self.spawn(
            "etcd",
            &[
                "--name=testenv".into(),
                format!("--data-dir={}", inst.dir.join("etcd-data").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=testenv={peer_url}"),
                // Throwaway data: skip fsync, which dominates etcd's latency on slow disks.
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
            &[],
        )?;
        self.wait("etcd to listen", Duration::from_secs(30), || {
            Ok(TcpStream::connect(("127.0.0.1", etcd_client)).is_ok())
        })?;
        self.phase("etcd");

        self.spawn(
            "kube-apiserver",
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={apiserver}"),
                format!("--tls-cert-file={}", pk("apiserver.crt")),
                format!("--tls-private-key-file={}", pk("apiserver.key")),
                format!("--client-ca-file={}", pk("ca.crt")),
                "--authorization-mode=Node,RBAC".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", pk("sa.pub")),
                format!("--service-account-signing-key-file={}", pk("sa.key")),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                // 127.0.0.1 may not be an Endpoints address: publish none for `kubernetes`.
                "--endpoint-reconciler-type=none".into(),
                "--allow-privileged=true".into(),
                "--kubelet-preferred-address-types=InternalIP".into(),
                format!("--kubelet-certificate-authority={}", pk("ca.crt")),
                "--profiling=false".into(),
            ],
            &[],
        )?;
        let admin = inst.kubeconfig();
        self.wait("the API server's /readyz", Duration::from_secs(90), || {
            Ok(kubectl(&admin, &["get", "--raw=/readyz"])?.status.success())
        })?;
        self.phase("API server");

        let delegated = |kubeconfig: &Path| -> Vec<String> {
            let k = kubeconfig.display();
            vec![
                // No delegated authentication/authorization: their serving ports only
                // answer /healthz, /readyz and /livez, which is all anyone asks them.
                format!("--kubeconfig={k}"),
                "--bind-address=127.0.0.1".into(),
                "--leader-elect=false".into(),
            ]
        };
        let mut kcm_args = delegated(&kcm_kubeconfig);
        kcm_args.extend([
            format!("--secure-port={kcm}"),
            format!("--service-account-private-key-file={}", pk("sa.key")),
            format!("--root-ca-file={}", pk("ca.crt")),
            "--use-service-account-credentials=true".into(),
            format!("--cluster-signing-cert-file={}", pk("ca.crt")),
            format!("--cluster-signing-key-file={}", pk("ca.key")),
            "--profiling=false".into(),
            // Node health comes from the leases kwok renews (see --node-lease-duration-seconds
            // below) on the same 2 cores the tests load: a generous grace period keeps a busy
            // minute from marking the nodes NotReady and their pods unready, which would make
            // a rollout wait time out for no reason of the code under test.
            "--node-monitor-grace-period=5m".into(),
        ]);
        self.spawn("kube-controller-manager", &kcm_args, &[])?;
        let mut scheduler_args = delegated(&scheduler_kubeconfig);
        scheduler_args.extend([
            format!("--secure-port={scheduler}"),
            "--profiling=false".into(),
        ]);
        self.spawn("kube-scheduler", &scheduler_args, &[])?;
        self.spawn(
            "kwok",
            &[
                format!("--kubeconfig={}", admin.display()),
                format!("--config={}", stages.display()),
                "--manage-all-nodes=false".into(),
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
                // kwok keeps the nodes' Lease objects renewed, as kubelets do; without them
                // the node lifecycle controller takes the nodes for dead after the grace period.
                "--node-lease-duration-seconds=40".into(),
                // The fake kubelets live at kwok's own server, on loopback: `kubectl logs`
                // and `exec` reach kwok, never another address.
                format!("--server-address=127.0.0.1:{kwok}"),
                "--node-ip=127.0.0.1".into(),
                format!("--node-port={kwok}"),
                format!("--tls-cert-file={}", pk("apiserver.crt")),
                format!("--tls-private-key-file={}", pk("apiserver.key")),
            ],
            // kwok also reads a config in its work dir (~/.kwok): keep it to ours.
            &[("KWOK_WORKDIR", inst.dir.join("kwok").display().to_string())],
        )?;

        kubectl_stdin(
            &admin,
            &[
                "apply",
                "--server-side",
                "--field-manager=testenv",
                "-f",
                "-",
            ],
            &cluster_objects(),
        )?;

        let limited = inst.limited_kubeconfig();
        self.wait("the nodes to be Ready and the controllers to run", Duration::from_secs(90), || {
            let nodes = kubectl(
                &admin,
                &["get", "nodes", "-o", r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#],
            )?;
            let ready = String::from_utf8_lossy(&nodes.stdout).lines().filter(|l| *l == "True").count();
            if ready < NODES.len() {
                return Ok(false);
            }
            // Made by the service-account controller: kube-controller-manager works.
            if !kubectl(&admin, &["get", "serviceaccount", "default", "-n", LIMITED_NAMESPACE])?.status.success() {
                return Ok(false);
            }
            // `edit` gets its rules from the cluster-role aggregation controller.
            let can = kubectl(&limited, &["auth", "can-i", "create", "deployments.apps", "-n", LIMITED_NAMESPACE])?;
            Ok(can.status.success())
        })?;
        self.phase("controllers and nodes");
        Ok(server)
    }

    fn phase(&mut self, what: &str) {
        self.phases
            .push(format!("{what} {:.1}s", self.since.elapsed().as_secs_f64()));
        self.since = Instant::now();
    }

    fn spawn(
        &mut self,
        component: &'static str,
        args: &[String],
        envs: &[(&str, String)],
    ) -> Result<()> {
        let child = proc::spawn_detached(
            &self.paths.bin(component),
            args,
            envs,
            &self.instance.log_file(component),
        )?;
        fs::write(
            self.instance.pid_file(component),
            format!("{}\n", child.id()),
        )?;
        self.children.push((component, child));
        Ok(())
    }

    /// Polls `ready` every 200 ms until it says yes, failing at once when a started
    /// component exits (with the tail of its log) or when `timeout` passes.
    fn wait(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            for (component, child) in &mut self.children {
                if let Some(status) = child.try_wait()? {
                    let log = self.instance.log_file(component);
                    bail!(
                        "{component} exited ({status}) while waiting for {what}; the end of {}:\n{}",
                        log.display(),
                        proc::tail(&log, 40)
                    );
                }
            }
            if ready()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                let mut msg = format!("timed out after {timeout:?} waiting for {what}");
                for (component, _) in &self.children {
                    let log = self.instance.log_file(component);
                    let _ = write!(
                        msg,
                        "\n--- the end of {}:\n{}",
                        log.display(),
                        proc::tail(&log, 15)
                    );
                }
                return Err(anyhow!(msg));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn kubeconfig(
    server: &str,
    ca: &str,
    user: &str,
    cert: &str,
    key: &str,
    namespace: Option<&str>,
) -> String {
    let ns = namespace
        .map(|n| format!("\n    namespace: {n}"))
        .unwrap_or_default();
    format!(
        "# Written by `cargo xtask testenv` for the local test control plane.\n\
         apiVersion: v1\nkind: Config\n\
         clusters:\n- name: testenv\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n\
         contexts:\n- name: testenv-{user}\n  context:\n    cluster: testenv\n    user: {user}{ns}\n\
         current-context: testenv-{user}\n"
    )
}

/// Applied as admin once the API server is ready: the limited identity's rights, and the
/// fake nodes (kwok manages nodes with the annotation `kwok.x-k8s.io/node: fake`).
fn cluster_objects() -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {LIMITED_NAMESPACE}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: limited-edit\n  namespace: {LIMITED_NAMESPACE}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: edit\n\
         subjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: limited\n"
    );
    for node in NODES {
        let _ = write!(
            yaml,
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {node}\n  annotations:\n    kwok.x-k8s.io/node: fake\n    node.alpha.kubernetes.io/ttl: \"0\"\n  labels:\n    kubernetes.io/hostname: {node}\n    kubernetes.io/os: linux\n    kubernetes.io/arch: amd64\n    type: kwok\nspec: {{}}\n"
        );
    }
    yaml
}

/// The directory of this repository's workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(6).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6, "{ports:?}");
    }

    #[test]
    fn kubeconfig_sets_the_namespace_only_when_asked() {
        let with = kubeconfig(
            "https://127.0.0.1:1",
            "Q0E=",
            "limited",
            "Yw==",
            "aw==",
            Some("limited"),
        );
        assert!(with.contains("    namespace: limited\n"), "{with}");
        let without = kubeconfig("https://127.0.0.1:1", "Q0E=", "admin", "Yw==", "aw==", None);
        assert!(!without.contains("namespace:"), "{without}");
        assert!(without.contains("current-context: testenv-admin"));
    }

    #[test]
    fn cluster_objects_annotate_every_node_for_kwok() {
        let yaml = cluster_objects();
        assert_eq!(
            yaml.matches("kwok.x-k8s.io/node: fake").count(),
            NODES.len()
        );
        assert!(yaml.contains("kind: RoleBinding"));
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
