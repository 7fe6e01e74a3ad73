//! The `runnerctl` command: parse, run, map the outcome to an exit code.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = runnerctl::cli::Cli::parse();
    match runnerctl::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("runnerctl: {}", runnerctl::cli::error::describe(&err));
            ExitCode::from(runnerctl::cli::EXIT_ERROR)
        }
    }
}
