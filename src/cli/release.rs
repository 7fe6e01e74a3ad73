//! The [`Release`](runnerctl::Release) the flags describe: `-f` files read (`-` = stdin),
//! `--set-file` files read, the value flags merged in helm's order.
use std::io::Read;

use anyhow::{Context as _, anyhow, bail};

use runnerctl::values::MAX_VALUES_FILE_BYTES;

use super::args::ManifestArgs;

impl ManifestArgs {
    /// Merge the value flags in helm's order and build the release to render, in `namespace`
    /// (the `-n` flag or the default the caller resolved). Returns the warnings about the
    /// values (unknown or deprecated keys) for the caller to print.
    pub(crate) fn release(
        &self,
        namespace: String,
    ) -> anyhow::Result<(runnerctl::Release, Vec<String>)> {
        let values = &self.values;
        let mut builder = runnerctl::ValuesBuilder::new().strict(values.strict);
        for path in &values.values {
            let (name, text) = read_input(path)?;
            builder = builder.values_file(name, text);
        }
        for expr in &values.set_json {
            builder = builder.set_json(expr.clone());
        }
        for expr in &values.set {
            builder = builder.set(expr.clone());
        }
        for expr in &values.set_string {
            builder = builder.set_string(expr.clone());
        }
        for arg in &values.set_file {
            let (key, path) = runnerctl::values::parse_set_file_arg(arg)?;
            let content = read_file(&format!("--set-file {key}: file {path}"), &path)?;
            builder = builder.set_file(key, content);
        }
        if let Some(mode) = &values.build_mode {
            builder = builder.set_string(format!("{}={mode}", runnerctl::render::build_mode::KEY));
        }
        let (merged, warnings) = builder.build()?;
        let release = runnerctl::Release {
            name: self.release.release.clone(),
            namespace,
            values: merged,
            create_namespace: self.create_namespace,
            api_versions: values.api_versions.clone(),
        };
        Ok((
            release,
            warnings.into_iter().map(|w| w.to_string()).collect(),
        ))
    }
}

/// Read a `-f` file (`-` = stdin) with a message that names it.
fn read_input(path: &str) -> anyhow::Result<(String, String)> {
    if path == "-" {
        let text = read_bounded("values from stdin", std::io::stdin().lock())?;
        return Ok(("<stdin>".to_string(), text));
    }
    let text = read_file(&format!("values file {path}"), path)?;
    Ok((path.to_string(), text))
}

/// Read a file through [`read_bounded`]; `what` names it in errors.
pub(crate) fn read_file(what: &str, path: &str) -> anyhow::Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {what}"))?;
    read_bounded(what, file)
}

/// Read UTF-8 text of at most [`MAX_VALUES_FILE_BYTES`] bytes: a longer input is an error
/// before more than the limit is held in memory (`-f /dev/zero` fails at once).
fn read_bounded(what: &str, reader: impl Read) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_VALUES_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what}"))?;
    if bytes.len() > MAX_VALUES_FILE_BYTES {
        bail!(
            "{what} is larger than {} MiB, the limit for an input file",
            MAX_VALUES_FILE_BYTES >> 20
        );
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{what} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_before_memory_is_used() {
        let big = std::io::repeat(b'a');
        let e = read_bounded("values file big", big)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "values file big is larger than 8 MiB, the limit for an input file"
        );
        let exact = std::io::repeat(b'a').take(MAX_VALUES_FILE_BYTES as u64);
        assert_eq!(
            read_bounded("x", exact).unwrap().len(),
            MAX_VALUES_FILE_BYTES
        );
        let e = read_bounded("x", &[0x61, 0xff][..])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8") && e.contains("offset 1"), "{e}");
    }
}
