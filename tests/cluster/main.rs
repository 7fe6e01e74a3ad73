//! The tests against a real Kubernetes control plane: `cargo xtask test` starts one, runs
//! every test with `--include-ignored` and `KUBECONFIG` and `RUNNERCTL_TEST_LIMITED_KUBECONFIG`
//! set, and stops it. Each test is `#[ignore = "needs the control plane: cargo xtask test"]`,
//! so a plain `cargo test` compiles them and skips them. One module per subject; the helpers
//! are in `tests/support/cluster.rs`.
#[path = "../support/mod.rs"]
mod support;

mod apply;
mod build_modes;
mod conflicts;
mod controller;
mod doctor;
mod drain;
mod engine;
mod faults;
mod helm;
mod history;
mod safety;
mod tokens;
mod wait;
