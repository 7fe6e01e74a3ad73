//! `runnerctl values`: print the default values with their comments, or the values schema.
use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use runnerctl::values::{DEFAULT_VALUES_YAML, VALUES_SCHEMA_JSON};

/// Arguments of `runnerctl values`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  runnerctl values > my-values.yaml          # start a values file from the defaults
  runnerctl values --schema > values.schema.json

With `# yaml-language-server: $schema=values.schema.json` as the first line of a values
file, editors complete and check keys. No cluster needed.")]
pub struct ValuesArgs {
    /// Print the JSON Schema (draft-07) of the values instead of the defaults.
    #[arg(long)]
    pub schema: bool,
}

/// Run `runnerctl values`.
pub fn run(args: ValuesArgs) -> anyhow::Result<ExitCode> {
    let text = if args.schema {
        VALUES_SCHEMA_JSON
    } else {
        DEFAULT_VALUES_YAML
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(ExitCode::from(super::EXIT_OK))
}
