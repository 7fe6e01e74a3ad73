//! The `runnerctl` command: parse, run, map the outcome to an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use runnerctl_cli::{Cli, EXIT_ERROR, EXIT_OK};

fn main() -> ExitCode {
    let given: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version are answers, not errors. A usage error exits 1 like any other
            // error: 2 is reserved for `diff --exit-code` ("changes found").
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) {
                let _ = err.print();
                return ExitCode::from(EXIT_OK);
            }
            eprint!("runnerctl: {}", err.render());
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runnerctl_cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!(
                "runnerctl: {}",
                runnerctl_cli::error::describe_for(&err, &given)
            );
            ExitCode::from(EXIT_ERROR)
        }
    }
}
