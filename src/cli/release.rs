//! The [`Release`](crate::Release) the flags describe: `-f` files read (`-` = stdin),
//! `--set-file` files read, the value flags merged in helm's order.
use anyhow::Context as _;

use super::args::ManifestArgs;

impl ManifestArgs {
    /// Merge the value flags in helm's order and build the release to render, in `namespace`
    /// (the `-n` flag or the default the caller resolved). Returns the warnings about the
    /// values (unknown or deprecated keys) for the caller to print.
    pub(crate) fn release(
        &self,
        namespace: String,
    ) -> anyhow::Result<(crate::Release, Vec<String>)> {
        let values = &self.values;
        let mut builder = crate::ValuesBuilder::new().strict(values.strict);
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
            let (key, path) = crate::values::parse_set_file_arg(arg)?;
            let content = std::fs::read_to_string(&path)
                .with_context(|| format!("--set-file {arg}: cannot read {path}"))?;
            builder = builder.set_file(key, content);
        }
        let (merged, warnings) = builder.build()?;
        let release = crate::Release {
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
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("reading values from stdin")?;
        return Ok(("<stdin>".to_string(), text));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read values file {path}"))?;
    Ok((path.to_string(), text))
}
