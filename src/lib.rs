//! runnerctl: install and keep a GitLab Runner (Kubernetes executor) on a cluster without helm.
//!
//! It takes the official `gitlab-runner` chart's values, renders the same objects from
//! embedded Tera templates, and applies them with server-side apply.
//!
//! # Module map, in the order data flows through it
//!
//! | module | holds |
//! |---|---|
//! | [`values`] | the embedded defaults, values files and `--set` flags merged with helm's rules, type and unknown-key checks |
//! | [`render`](mod@render) | values -> the chart's objects: Tera templates, the Go-template subset of `runners.config`, schema checks, YAML/JSON output with secrets masked |
//! | [`secret`] | the one place for secrets: what looks like a token, sensitive key names, the masks, [`SecretValues`](secret::SecretValues), masking of objects, diffs and messages |
//! | [`object`] | naming and ordering objects: `Kind/namespace/name`, helm's install order, the Namespace predicate |
//! | [`k8s`] | cluster access: connecting as kubectl does, the default namespace, counted and retried requests, discovery |
//! | [`gitlab`] | GitLab's runner API as runnerctl uses it: verify (the token's expiry), reset a token, list and delete runner managers; tokens never shown |
//! | [`controller`] | `GitLabRunner` resources reconciled in the cluster by the same engine: the CRD, reconcile, leader election, metrics |
//! | [`apply`] | the engine: plan (server-side dry-run), diff, apply, prune, wait, status, uninstall over an ApplySet inventory; doctor (a checklist of what would keep the runner from working) |
//!
//! Calls go one way: the command (`src/cli/`) -> `apply` -> `render` -> `values`, with
//! `object`, `k8s` and `gitlab` below `apply`, and `secret` below them all (it uses nothing else of the
//! crate). `values` and `render` do no I/O and never reach a cluster: rendering works without
//! one. `apply` never names a command-line flag; the command turns its
//! [`Remedy`](apply::Remedy) into a hint.
//!
//! ```
//! use runnerctl::{Release, ValuesBuilder, render};
//!
//! let (values, warnings) = ValuesBuilder::new()
//!     .set("gitlabUrl=https://gitlab.example.com,rbac.create=true")
//!     .set("runnerToken=glrt-example")
//!     .build()?;
//! assert!(warnings.is_empty());
//! let release = Release {
//!     name: "gitlab-runner".into(),
//!     namespace: "ci".into(),
//!     values,
//!     create_namespace: false,
//!     api_versions: vec![],
//! };
//! let manifest = render(&release)?;
//! let kinds: Vec<&str> = manifest.objects.iter().map(|o| o.kind()).collect();
//! assert_eq!(kinds, ["ServiceAccount", "Secret", "ConfigMap", "Role", "RoleBinding", "Deployment"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The library has no command-line dependencies (the `runnerctl` command is the package
//! `runnerctl-cli` in `src/cli/`) and, as k8s-openapi asks of libraries, enables no
//! Kubernetes version: depend on `k8s-openapi` with the version feature of your choice.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Builder methods for an options struct, one per field: `setters!(Type { /// doc\n field:
/// Ty, ... })` gives `Type::field(self, value) -> Self`, `#[must_use]`. Option structs are
/// `#[non_exhaustive]`: embedders start from `Default` and set what they need, so a new field
/// is not a breaking change.
macro_rules! setters {
    ($ty:ty { $($(#[$doc:meta])* $field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}

pub mod apply;
pub mod controller;
pub mod gitlab;
pub mod k8s;
pub mod object;
pub mod render;
pub mod secret;
pub mod values;

pub use render::{Manifest, Object, Release, render};
pub use values::{Values, ValuesBuilder};
