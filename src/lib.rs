//! runnerctl: install and keep a GitLab Runner (Kubernetes executor) on a cluster without helm.
//!
//! The data flows one way: [`values`] (defaults + user values) -> [`render`] (objects)
//! -> [`apply`] (server-side apply against a live cluster).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod apply;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod kube;
pub mod render;
pub mod runner_config;
pub mod values;

pub use render::{Manifest, Object, Release, render};
pub use values::{Values, ValuesBuilder};
