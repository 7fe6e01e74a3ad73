//! `cargo xtask man [DIR]`: man pages for runnerctl and each of its subcommands, from the
//! clap definitions the binary parses with (`runnerctl_cli::Cli`), written as roff into
//! `DIR` (default `target/man/` in the workspace).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

/// Where the pages go without an argument.
pub fn default_dir() -> PathBuf {
    crate::testenv::workspace_root().join("target").join("man")
}

/// Run `cargo xtask man [DIR]`.
pub fn main(args: &[String]) -> Result<()> {
    let dir = match args {
        [] => default_dir(),
        [dir] if !dir.starts_with('-') => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask man [DIR]  (default DIR: target/man)"),
    };
    let pages = write_pages(&dir)?;
    for page in &pages {
        println!("{}", page.display());
    }
    eprintln!(
        "xtask: {} man pages in {}; try `man -l {}`",
        pages.len(),
        dir.display(),
        dir.join("runnerctl.1").display()
    );
    Ok(())
}

/// Write `runnerctl.1` and `runnerctl-<verb>.1` for each subcommand into `dir` (created if
/// missing); returns the files written, sorted.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = runnerctl_cli::Cli::command();
    let mut pages = vec![dir.join("runnerctl.1")];
    pages.extend(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| dir.join(format!("runnerctl-{}.1", s.get_name()))),
    );
    clap_mangen::generate_to(cmd, dir)
        .with_context(|| format!("writing the man pages into {}", dir.display()))?;
    pages.sort();
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_for_runnerctl_and_each_verb() {
        let dir = std::env::temp_dir().join(format!("xtask-man-{}", std::process::id()));
        let pages = write_pages(&dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        use clap::CommandFactory as _;
        let verbs: Vec<String> = runnerctl_cli::Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert!(verbs.len() >= 6, "{verbs:?}");
        for verb in verbs {
            assert!(names.contains(&format!("runnerctl-{verb}.1")), "{names:?}");
        }
        for page in &pages {
            assert!(page.is_file(), "{} written", page.display());
        }
        let root = std::fs::read_to_string(dir.join("runnerctl.1")).unwrap();
        assert!(
            root.starts_with(".ie"),
            "roff: {}",
            &root[..40.min(root.len())]
        );
        assert!(
            root.contains("runnerctl\\-render(1)"),
            "SUBCOMMANDS names the pages"
        );
        let render = std::fs::read_to_string(dir.join("runnerctl-render.1")).unwrap();
        assert!(
            render.contains("show\\-secrets"),
            "the verb's flags are on its page"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
