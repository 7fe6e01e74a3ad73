//! runnerctl: install and keep a GitLab Runner (Kubernetes executor) on a cluster without helm.
//!
//! It takes the official `gitlab-runner` chart's values, renders the same objects from
//! embedded Tera templates, and applies them with server-side apply. The data flows one way:
//! [`values`] (embedded defaults + files + `--set` flags) -> [`render`](mod@render) (ordered, schema-checked
//! objects) -> [`apply`] (plan, diff, apply, prune, wait against a live cluster).
//!
//! `values` and `render` do no I/O: rendering works without a cluster.
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
//! Library users should depend on runnerctl with `default-features = false` (which drops the
//! command-line parts) and enable the k8s-openapi version feature of their choice.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod apply;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod k8s;
pub mod object;
pub mod render;
pub mod values;

pub use render::{Manifest, Object, Release, render};
pub use values::{Values, ValuesBuilder};
