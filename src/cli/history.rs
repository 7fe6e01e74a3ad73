//! `runnerctl history`: the release's revisions.
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::InstalledArgs;
use super::session::Session;
use runnerctl::apply::RevisionInfo;

/// Output formats of `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    /// A table, one row per revision.
    Text,
    /// A JSON document (the revisions, without their values and objects).
    Json,
}

/// Arguments of `runnerctl history`.
#[derive(Debug, Args)]
#[command(after_help = "\
Lists the release's revisions, oldest first: number, time, who applied it (as the API server
authenticated them), what changed, and how it ended. Each apply that changes something and
each rollback records one (Secrets runnerctl.revision.<release>.v<N> in the release
namespace); `runnerctl rollback RELEASE N` applies revision N again.

Exit codes: 0 shown (also when there is no revision), 1 error.")]
pub struct HistoryArgs {
    /// The installed release and its cluster.
    #[command(flatten)]
    pub installed: InstalledArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: HistoryFormat,
}

/// Run `runnerctl history`.
pub fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let (s, set) = Session::for_installed(&args.installed)?;
    let history = s.rt.block_on(s.engine.history(&set))?;
    let infos: Vec<&RevisionInfo> = history.iter().map(|r| &r.info).collect();
    match args.output {
        HistoryFormat::Json => {
            let doc = serde_json::json!({
                "release": set.release,
                "namespace": set.namespace,
                "revisions": infos,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        HistoryFormat::Text if infos.is_empty() => eprintln!(
            "runnerctl: release {} in namespace {} has no revisions",
            set.release, set.namespace
        ),
        HistoryFormat::Text => print!("{}", table(&infos)),
    }
    Ok(ExitCode::from(super::EXIT_OK))
}

/// The history table: one row per revision, columns padded to their widest cell.
fn table(infos: &[&RevisionInfo]) -> String {
    let mut rows = vec![[
        "REVISION".to_string(),
        "TIME".into(),
        "WHO".into(),
        "OUTCOME".into(),
        "CHANGES".into(),
    ]];
    for i in infos {
        let what = if i.changes.is_empty() {
            String::new()
        } else {
            format!(": {}", i.changes.join(", "))
        };
        rows.push([
            i.revision.to_string(),
            i.time.clone(),
            i.applied_by.clone(),
            i.outcome.to_string(),
            format!("{} ({}){what}", i.operation, i.summary),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[c]));
        }
        out.push_str(&r[4]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnerctl::apply::{Operation, Outcome, Summary};

    #[test]
    fn the_table_lines_up_and_says_what_changed() {
        let info = |n, outcome, changes: &[&str]| RevisionInfo {
            revision: n,
            time: "2026-01-01T00:00:00Z".into(),
            runnerctl_version: "0.1.0".into(),
            applied_by: "kubernetes-admin".into(),
            operation: if n == 1 {
                Operation::Apply
            } else {
                Operation::Rollback { to: 1 }
            },
            summary: Summary {
                change: changes.len(),
                ..Default::default()
            },
            changes: changes.iter().map(|c| c.to_string()).collect(),
            outcome,
        };
        let a = info(1, Outcome::Ready, &[]);
        let b = info(
            12,
            Outcome::Failed("wait timed out".into()),
            &["update Deployment/ns/r"],
        );
        let text = table(&[&a, &b]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("REVISION  TIME "), "{text}");
        assert!(
            lines[1].starts_with("1         2026-01-01T00:00:00Z  kubernetes-admin  ready "),
            "{text}"
        );
        assert!(
            lines[2].ends_with(
                "failed: wait timed out  rollback to 1 (0 to add, 1 to change, 0 to delete, 0 unchanged): update Deployment/ns/r"
            ),
            "{text}"
        );
        assert_eq!(lines[1].find("ready"), lines[2].find("failed"), "{text}");
    }
}
