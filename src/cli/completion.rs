//! `runnerctl completion SHELL`: print the shell completion script, generated from the same
//! clap definitions that parse the command line (so it never falls behind a flag).
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, CommandFactory, ValueEnum};

/// The shells a completion script can be printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Bash (needs the bash-completion package for the lazily loaded directory).
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
}

impl Shell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
            Shell::Powershell => clap_complete::Shell::PowerShell,
        }
    }
}

/// Arguments of `runnerctl completion`.
#[derive(Debug, Args)]
#[command(after_help = "\
Installing the script:
  bash        runnerctl completion bash > ~/.local/share/bash-completion/completions/runnerctl
              (loaded by bash-completion in new shells; or add
              `source <(runnerctl completion bash)` to ~/.bashrc)
  zsh         mkdir -p ~/.zfunc && runnerctl completion zsh > ~/.zfunc/_runnerctl
              and in ~/.zshrc, before compinit:
              fpath=(~/.zfunc $fpath); autoload -Uz compinit && compinit
  fish        runnerctl completion fish > ~/.config/fish/completions/runnerctl.fish
  powershell  runnerctl completion powershell | Out-String | Invoke-Expression
              (add that line to $PROFILE to keep it)

Regenerate the script after upgrading runnerctl.")]
pub struct CompletionArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Run `runnerctl completion`: the script on stdout.
pub fn run(args: CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell.generator(), &mut cmd, "runnerctl", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(ExitCode::from(super::EXIT_OK))
}
