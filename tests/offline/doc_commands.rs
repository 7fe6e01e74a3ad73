//! Every command the docs show runs as written: README.md, CONTRIBUTING.md and docs/**/*.md.
//!
//! Commands are the lines of fenced `sh`, `bash` and `shell` blocks, and the lines starting
//! with `$ ` in `console` blocks. A line ending in `\` continues on the next; `# comments`
//! are dropped; a line is split into commands at `|`, `||`, `&&` and `;`; redirections
//! (`> FILE`, `2>&1`) are dropped; each `$(...)` is a command of its own; leading
//! `VAR=value` assignments and `time`, `eval` and `export` are stripped. Then, by program:
//!
//! - `runnerctl ...` (also `target/*/runnerctl ...`) and `cargo run [--release] -- ...`: the
//!   arguments parse with the command's own parser, `runnerctl_cli::Cli` (parsing contacts
//!   nothing, so placeholders such as `glrt-XXXX` are fine);
//! - `cargo xtask TASK [SUB]`: TASK is one that xtask's usage text lists, and for
//!   `cargo xtask testenv SUB`, SUB one that the testenv usage text lists;
//! - `cargo test`, `cargo bench`, `cargo run` and `cargo xtask test`: every `--test NAME`,
//!   `--bench NAME` and `--example NAME` names a target of the workspace;
//! - `cargo [+TOOLCHAIN] fuzz run TARGET`: TARGET is a fuzz target in `fuzz/fuzz_targets/`;
//! - other `cargo` subcommands: the ones in [`OTHER_CARGO`], not checked further;
//! - every other program must be one of [`OTHER_TOOLS`] (helm, kubectl, hyperfine, ...,
//!   not checked, but what they run is: hyperfine's quoted commands, the `runnerctl ...` at the
//!   end of valgrind's or perf's arguments), so a misspelt `runerctl` fails instead of being
//!   skipped.
//!
//! A file named in a checked command (`-f`/`--values`, `--set-file KEY=PATH`, `--plan`)
//! must exist when it has a `/` in it; a bare name (`values.yaml`) is the reader's own file.
//! Outside commands, relative Markdown links and backquoted repository paths (`` `tests/...` ``,
//! `` `values/...` ``, ...) must exist too.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Parser as _;
use clap::error::ErrorKind;
use runnerctl_cli::Cli;

use crate::support;

/// Programs that are not runnerctl's, shown in the docs: not checked beyond their arguments
/// that are commands themselves.
const OTHER_TOOLS: &[&str] = &[
    "helm",
    "kubectl",
    "hyperfine",
    "man",
    "sudo",
    "mkdir",
    "valgrind",
    "perf",
    "/usr/bin/time",
    "Out-String",
    "Invoke-Expression",
];

/// `cargo` subcommands shown in the docs that name no target of this repository.
const OTHER_CARGO: &[&str] = &["install", "build", "fmt", "clippy", "insta"];

/// Top-level folders whose paths, backquoted in the docs, must exist.
const REPO_DIRS: &[&str] = &[
    "src/",
    "tests/",
    "values/",
    "manifests/",
    "xtask/",
    "docs/",
    "fuzz/",
    "benches/",
    "examples/",
    ".ci/",
];

/// What the workspace has, to check commands against.
struct Repo {
    root: PathBuf,
    tests: BTreeSet<String>,
    benches: BTreeSet<String>,
    examples: BTreeSet<String>,
    fuzz_targets: BTreeSet<String>,
    xtask_tasks: BTreeSet<String>,
    testenv_commands: BTreeSet<String>,
}

impl Repo {
    fn load() -> Repo {
        let root = support::root();
        // The targets declared in the library's and the command's manifests.
        let manifests: Vec<toml::Table> = ["Cargo.toml", "src/cli/Cargo.toml"]
            .iter()
            .map(|m| {
                std::fs::read_to_string(root.join(m))
                    .unwrap()
                    .parse()
                    .unwrap_or_else(|e| panic!("{m} parses: {e}"))
            })
            .collect();
        let targets = |kind: &str| -> BTreeSet<String> {
            manifests
                .iter()
                .filter_map(|m| m.get(kind).and_then(|t| t.as_array()))
                .flatten()
                .map(|t| t["name"].as_str().expect("a target has a name").to_string())
                .collect()
        };
        let mut tests = targets("test");
        // xtask's own tests are found by cargo (no autotests = false there).
        tests.extend(file_stems(&root.join("xtask/tests")));
        let mut benches = targets("bench");
        benches.extend(file_stems(&root.join("benches")));
        Repo {
            tests,
            benches,
            examples: file_stems(&root.join("examples")),
            fuzz_targets: file_stems(&root.join("fuzz/fuzz_targets")),
            xtask_tasks: usage_words(&root.join("xtask/src/main.rs")),
            testenv_commands: usage_words(&root.join("xtask/src/testenv/mod.rs")),
            root,
        }
    }
}

/// The names of the `.rs` files in `dir`, without the extension.
fn file_stems(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".rs")?.to_string())
        })
        .collect()
}

/// The commands a usage text lists: in `const USAGE` of `file`, the first word of each line
/// indented by exactly two spaces, plus `help`.
fn usage_words(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let start = text.find("const USAGE: &str = \"").expect("a USAGE text");
    let usage = &text[start..];
    let usage = &usage[..usage.find("\";").expect("USAGE ends")];
    let mut words: BTreeSet<String> = usage
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    words.insert("help".into());
    assert!(words.len() > 2, "no commands found in {}", file.display());
    words
}

/// The Markdown files the docs are made of.
fn doc_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    walk(&root.join("docs"), &mut files);
    files.sort();
    files
}

/// The command lines of a Markdown text, with their line numbers: continuation lines joined.
fn command_lines(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut block: Option<&str> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            block = match block {
                None => Some(info.trim()),
                Some(_) => None,
            };
            continue;
        }
        let command = match block {
            Some("sh" | "bash" | "shell") => line,
            Some("console") => match trimmed.strip_prefix("$ ") {
                Some(c) => c,
                None if pending.is_some() => line,
                None => continue,
            },
            _ => continue,
        };
        let (start, mut text) = pending.take().unwrap_or((i + 1, String::new()));
        match command.strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            }
            None => {
                text.push_str(command);
                out.push((start, text));
            }
        }
    }
    out
}

/// The word that stands for a `$(...)` taken out of a line.
const SUBSTITUTED: &str = "SUBSTITUTED";

/// Takes each `$(...)` out of `line`: the line with a word in its place, and the commands
/// that were inside.
fn substitutions(line: &str) -> (String, Vec<String>) {
    let mut rest = line.to_string();
    let mut inner = Vec::new();
    while let Some(start) = rest.find("$(") {
        let mut depth = 0;
        let mut end = None;
        for (i, c) in rest[start + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(start + 1 + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        inner.push(rest[start + 2..end].to_string());
        rest.replace_range(start..=end, SUBSTITUTED);
    }
    (rest, inner)
}

/// The simple commands of one line, as words.
fn simple_commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    let (line, inner) = substitutions(line);
    let words = shlex::split(&line).ok_or("unbalanced quotes")?;
    let mut commands = vec![Vec::new()];
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "|" | "||" | "&&" | ";" => commands.push(Vec::new()),
            ">" | ">>" | "<" | "2>" | "2>>" => {
                words.next();
            }
            w if w.starts_with('>') || w.starts_with("2>") || w.starts_with('<') => {}
            _ => commands.last_mut().unwrap().push(word),
        }
    }
    for sub in inner {
        commands.extend(simple_commands(&sub)?);
    }
    commands.retain(|c| !c.is_empty());
    Ok(commands)
}

/// Checks every command of one line; `Err` says what is wrong with the first bad one.
fn check_line(repo: &Repo, line: &str) -> Result<(), String> {
    simple_commands(line)?
        .into_iter()
        .try_for_each(|words| check(repo, words))
}

/// Checks one simple command; `Err` says what is wrong with it.
fn check(repo: &Repo, mut words: Vec<String>) -> Result<(), String> {
    while let Some(first) = words.first() {
        let assignment = first
            .split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && !name.starts_with('-'));
        if assignment || ["time", "eval", "export"].contains(&first.as_str()) {
            words.remove(0);
        } else {
            break;
        }
    }
    let Some(program) = words.first() else {
        return Ok(());
    };
    if program == SUBSTITUTED {
        // `eval "$(...)"`: what runs is the output of a command checked on its own.
        return Ok(());
    }
    if is_runnerctl(program) {
        return check_runnerctl(repo, &words[1..]);
    }
    if program == "cargo" {
        return check_cargo(repo, &words[1..]);
    }
    if OTHER_TOOLS.contains(&program.as_str()) {
        // What such a tool runs is checked: an argument that is a whole command
        // (hyperfine's), or the runnerctl command its last arguments are (valgrind's).
        for (i, arg) in words.iter().enumerate().skip(1) {
            if is_runnerctl(arg) {
                return check(repo, words[i..].to_vec());
            }
            let first = arg.split_whitespace().next().unwrap_or("");
            if arg.contains(' ') && (is_runnerctl(first) || first == "cargo") {
                check_line(repo, arg)?;
            }
        }
        return Ok(());
    }
    Err(format!(
        "`{program}` is neither a command this test checks nor one of OTHER_TOOLS"
    ))
}

/// `runnerctl`, or a path to it (`target/release/runnerctl`).
fn is_runnerctl(word: &str) -> bool {
    word == "runnerctl" || word.ends_with("/runnerctl")
}

fn check_runnerctl(repo: &Repo, args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("runnerctl").chain(args.iter().map(String::as_str));
    if let Err(e) = Cli::try_parse_from(argv)
        && !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
    {
        return Err(format!("runnerctl does not parse it: {}", e.render()));
    }
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if !["-f", "--values", "--set-file", "--plan"].contains(&flag) {
            continue;
        }
        let Some(value) = inline.or_else(|| args.next().cloned()) else {
            continue;
        };
        let path = match flag {
            "--set-file" => value.split_once('=').map_or(value.as_str(), |(_, p)| p),
            _ => value.as_str(),
        };
        if path.contains('/') && !repo.root.join(path).exists() {
            return Err(format!("{flag} names {path}, which does not exist"));
        }
    }
    Ok(())
}

fn check_cargo(repo: &Repo, args: &[String]) -> Result<(), String> {
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .skip_while(|a| a.starts_with('+'))
        .collect();
    let Some(&sub) = args.first() else {
        return Err("cargo without a subcommand".into());
    };
    let targets = |args: &[&str]| -> Result<(), String> {
        for pair in args.windows(2) {
            let (kind, known) = match pair[0] {
                "--test" => ("test", &repo.tests),
                "--bench" => ("bench", &repo.benches),
                "--example" => ("example", &repo.examples),
                _ => continue,
            };
            if !known.contains(pair[1]) {
                return Err(format!("no {kind} target named `{}`: {known:?}", pair[1]));
            }
        }
        Ok(())
    };
    match sub {
        "run" => {
            let (cargo_args, rest) = match args.iter().position(|a| *a == "--") {
                Some(i) => (&args[..i], &args[i + 1..]),
                None => (&args[..], &[][..]),
            };
            targets(cargo_args)?;
            if cargo_args.contains(&"--example") {
                return Ok(());
            }
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            check_runnerctl(repo, &rest)
        }
        "test" | "bench" => targets(&args),
        "xtask" => {
            let task = args.get(1).copied().unwrap_or("help");
            if !repo.xtask_tasks.contains(task) {
                return Err(format!(
                    "xtask has no task `{task}`: {:?}",
                    repo.xtask_tasks
                ));
            }
            if task == "testenv" {
                let command = args.get(2).copied().unwrap_or("help");
                if !repo.testenv_commands.contains(command) {
                    return Err(format!(
                        "xtask testenv has no command `{command}`: {:?}",
                        repo.testenv_commands
                    ));
                }
            }
            targets(&args)
        }
        "fuzz" => match args.get(1..3) {
            Some(["run", target]) if repo.fuzz_targets.contains(*target) => Ok(()),
            Some(["run", target]) => Err(format!(
                "no fuzz target `{target}`: {:?}",
                repo.fuzz_targets
            )),
            _ => Ok(()),
        },
        other if OTHER_CARGO.contains(&other) => Ok(()),
        other => Err(format!("cargo {other}: not a subcommand this test knows")),
    }
}

/// Relative links and backquoted repository paths of a Markdown text that do not exist.
fn missing_paths(root: &Path, file: &Path, markdown: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let dir = file.parent().unwrap();
    let mut in_block = false;
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        }
        if in_block || line.trim_start().starts_with("```") {
            continue;
        }
        for link in line.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !dir.join(target).exists() {
                missing.push(format!("line {}: link to {target}", i + 1));
            }
        }
        for (n, code) in line.split('`').enumerate() {
            let is_path = n % 2 == 1
                && REPO_DIRS.iter().any(|d| code.starts_with(d))
                && !code.contains(|c: char| c.is_whitespace() || "<>*{}".contains(c));
            if is_path && !root.join(code).exists() {
                missing.push(format!("line {}: `{code}`", i + 1));
            }
        }
    }
    missing
}

#[test]
fn every_command_in_the_docs_runs() {
    let repo = Repo::load();
    let mut failures = Vec::new();
    let mut checked = BTreeSet::new();
    for file in doc_files(&repo.root) {
        let name = file.strip_prefix(&repo.root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, command) in command_lines(&text) {
            match check_line(&repo, &command) {
                Ok(()) => {
                    checked.insert(command.split_whitespace().collect::<Vec<_>>().join(" "));
                }
                Err(e) => failures.push(format!("{name}:{line}: {command}\n    {e}")),
            }
        }
        for m in missing_paths(&repo.root, &file, &text) {
            failures.push(format!("{name}: {m} does not exist"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // The two commands a newcomer runs first are among those checked.
    for command in [
        "cargo run -- render gitlab-runner -n gitlab-runner --create-namespace -f values/examples/seed.yaml",
        "cargo xtask test",
    ] {
        assert!(
            checked.iter().any(|c| c.starts_with(command)),
            "README lacks `{command}`"
        );
    }
}

#[test]
fn wrong_commands_are_caught() {
    let repo = Repo::load();
    let bad = [
        "runnerctl render --no-such-flag",
        "runnerctl rendr gitlab-runner",
        "cargo run -- apply --plan plan.json --set a=b",
        "runnerctl render -f values/examples/no-such.yaml",
        "cargo xtask no-such-task",
        "cargo xtask testenv no-such-command",
        "cargo test --test no_such_binary",
        "cargo xtask test -- --test no_such_binary -- --nocapture",
        "cargo bench --bench no_such_bench",
        "cargo +nightly fuzz run no_such_target",
        "runerctl render",
        "KUBECONFIG=$(cargo xtask no-such-task) kubectl get nodes",
        "hyperfine 'runnerctl render --no-such-flag' 'helm template x'",
        "valgrind --tool=callgrind target/release/runnerctl render --no-such-flag",
        "runnerctl render 'unbalanced",
    ];
    for line in bad {
        assert!(check_line(&repo, line).is_err(), "not caught: {line}");
    }
    let good = [
        "runnerctl render gitlab-runner -n gitlab-runner --set runnerToken=glrt-XXXX # a comment",
        "runnerctl completion bash > ~/.local/share/bash-completion/completions/runnerctl",
        "eval \"$(cargo xtask testenv env --export)\"",
        "cargo xtask test -- --test cluster -- --nocapture",
        "cargo run --example embed_engine -- my-namespace",
    ];
    for line in good {
        assert_eq!(check_line(&repo, line), Ok(()), "{line}");
    }
}

#[test]
fn command_lines_join_continuations_and_skip_output() {
    let md = "text\n```sh\nrunnerctl render \\\n  -n x   # why\n```\n```console\n$ runnerctl status\nok\n```\n```yaml\nrunnerctl: no\n```\n";
    let lines: Vec<String> = command_lines(md).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        lines,
        ["runnerctl render    -n x   # why", "runnerctl status"]
    );
}
