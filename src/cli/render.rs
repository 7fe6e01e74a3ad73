//! `runnerctl render`.
use std::process::ExitCode;

use clap::Args;

use super::{ReleaseArgs, ValueArgs};

/// Arguments of `runnerctl render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Release name and namespace.
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Value flags.
    #[command(flatten)]
    pub values: ValueArgs,
}

/// Run `runnerctl render`.
pub fn run(_args: RenderArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(super::EXIT_OK))
}
