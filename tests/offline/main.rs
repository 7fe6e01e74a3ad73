//! The tests that need no cluster: `cargo test --test offline`. One module per subject; the
//! helpers are in `tests/support`. The script tests need shellcheck and the ci-example tests
//! check-jsonschema (`cargo xtask test` provides both; CONTRIBUTING.md says how without it).
#[path = "../support/mod.rs"]
mod support;

mod argocd_cmp;
mod build_modes;
mod cli_errors;
mod doc_commands;
mod doctor_gitlab;
mod injection;
mod render_snapshots;
mod retries;
mod runtime_scripts;
mod set_grammar;
mod values_defaults;
mod values_schema;
