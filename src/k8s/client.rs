//! Connecting to a cluster as kubectl does: `--kubeconfig`, `--context`, `$KUBECONFIG`,
//! `~/.kube/config`, then the in-cluster service account; and the one rule for the default
//! namespace that every verb uses.
use std::path::{Path, PathBuf};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Errors from building a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig file could not be read or is invalid.
    #[error("kubeconfig {path}")]
    Kubeconfig {
        /// The file, or `$KUBECONFIG`/`~/.kube/config` when none was given.
        path: String,
        /// The cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No configuration could be found (no kubeconfig, not in a cluster).
    #[error("no cluster configuration found (tried $KUBECONFIG, ~/.kube/config, in-cluster)")]
    Infer(#[source] kube::config::InferConfigError),
    /// The client could not be built from the configuration (TLS, proxy, auth).
    #[error("cannot build a client for the cluster")]
    Client(#[source] kube::Error),
}

/// Where to find the cluster, like kubectl's `--kubeconfig` and `--context`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientOptions {
    /// A kubeconfig file; `None` uses `$KUBECONFIG`, then `~/.kube/config`, then the
    /// in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// A context in the kubeconfig; `None` uses its current context.
    pub context: Option<String>,
}

setters!(ClientOptions {
    /// Set the kubeconfig file.
    kubeconfig: Option<PathBuf>,
    /// Set the kubeconfig context.
    context: Option<String>,
});

/// Build a client as kubectl would, without kube's own retry layer (runnerctl retries by
/// one policy, [`RetryPolicy`](super::RetryPolicy)). The client's `default_namespace()` is the context's
/// namespace (or `default`).
pub async fn client(opts: &ClientOptions) -> Result<Client, Error> {
    let kopts = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    let mut config = if let Some(path) = &opts.kubeconfig {
        let kc = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
            path: path.display().to_string(),
            source,
        })?;
        kube::Config::from_custom_kubeconfig(kc, &kopts)
            .await
            .map_err(|source| Error::Kubeconfig {
                path: path.display().to_string(),
                source,
            })?
    } else if opts.context.is_some() {
        kube::Config::from_kubeconfig(&kopts)
            .await
            .map_err(|source| Error::Kubeconfig {
                path: std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into()),
                source,
            })?
    } else {
        kube::Config::infer().await.map_err(Error::Infer)?
    };
    // One retry policy: runnerctl's own (counted, reported, bounded by the caller's deadline;
    // see `RetryPolicy`), not kube's retry layer under it as well.
    config.default_retry = false;
    Client::try_from(config).map_err(Error::Client)
}

/// Where the service account's namespace is mounted inside a pod.
const IN_CLUSTER_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The namespace a release goes to when `-n` is not given, by kubectl's rule: the namespace
/// of the kubeconfig context (`--context`, else the current one) when a kubeconfig is found,
/// else, inside a pod, the service account's namespace, else `default`. No network.
pub fn default_namespace(opts: &ClientOptions) -> String {
    let from_kubeconfig = match &opts.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok(),
        None => Kubeconfig::read().ok(),
    }
    .map(|kc| context_namespace(&kc, opts.context.as_deref()));
    match from_kubeconfig {
        Some(ns) => ns.unwrap_or_else(|| "default".to_string()),
        None => in_cluster_namespace(Path::new(IN_CLUSTER_NAMESPACE_FILE))
            .unwrap_or_else(|| "default".to_string()),
    }
}

/// The namespace of a kubeconfig context (`None`: the current one), if it names one.
fn context_namespace(kc: &Kubeconfig, context: Option<&str>) -> Option<String> {
    let name = context.or(kc.current_context.as_deref())?;
    kc.contexts
        .iter()
        .find(|c| c.name == name)?
        .context
        .as_ref()?
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
}

/// The service account's namespace, when running in a pod.
fn in_cluster_namespace(file: &Path) -> Option<String> {
    std::env::var_os("KUBERNETES_SERVICE_HOST")?;
    let ns = std::fs::read_to_string(file).ok()?;
    let ns = ns.trim();
    (!ns.is_empty()).then(|| ns.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "
apiVersion: v1
kind: Config
current-context: a
contexts:
- name: a
  context: {cluster: c, user: u, namespace: team-a}
- name: b
  context: {cluster: c, user: u}
clusters:
- name: c
  cluster: {server: 'https://127.0.0.1:6443'}
users:
- name: u
  user: {}
";

    #[test]
    fn namespace_from_the_context() {
        let kc: Kubeconfig = serde_saphyr::from_str(KUBECONFIG).unwrap();
        assert_eq!(context_namespace(&kc, None).as_deref(), Some("team-a"));
        assert_eq!(context_namespace(&kc, Some("b")), None);
        assert_eq!(context_namespace(&kc, Some("missing")), None);
    }

    #[test]
    fn a_kubeconfig_file_decides() {
        let dir = std::env::temp_dir().join(format!("runnerctl-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let opts = |context: Option<&str>| ClientOptions {
            kubeconfig: Some(path.clone()),
            context: context.map(str::to_string),
        };
        assert_eq!(default_namespace(&opts(None)), "team-a");
        assert_eq!(default_namespace(&opts(Some("b"))), "default");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
