//! The `runnerctl` command: parse, run, map the outcome to an exit code.
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use runnerctl::cli::{Cli, EXIT_ERROR, EXIT_OK};

/// The first 4.25 MiB of allocations come from a bump arena (a render needs about 1.2 MB),
/// the rest from the system allocator: see [`runnerctl::cli::arena`] (the block is 6 MiB, of
/// which the part before its first 256 KiB is never used).
#[global_allocator]
static ALLOCATOR: runnerctl::cli::arena::Arena<{ 6 << 20 }> = runnerctl::cli::arena::Arena::new();

// The unwinder (used only to print a backtrace) is linked into the command from GCC's static
// `libgcc_eh.a` instead of loaded from `libgcc_s.so.1`: loading that library runs its CPU
// feature probe (`cpuid` instructions, each a trap to the hypervisor in a virtual machine) in
// every process, about 0.1 ms of a render. Linux with glibc, when the C toolchain has the
// archive (build.rs checks); the library is untouched.
#[cfg(static_unwinder)]
#[link(name = "gcc_eh", kind = "static")]
unsafe extern "C" {}

fn main() -> ExitCode {
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
    match runnerctl::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("runnerctl: {}", runnerctl::cli::error::describe(&err));
            ExitCode::from(EXIT_ERROR)
        }
    }
}
