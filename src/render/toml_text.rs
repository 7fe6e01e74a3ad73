//! Editing the TOML text of `runners.config` in place, with a document editor (`toml_edit`):
//! finding its one `[[runners]]` table and indenting the lines runnerctl adds (`privileged =
//! true` in [`runner_config`](super::runner_config), a build mode's settings in
//! [`build_mode`](super::build_mode)) like the user's own, so that comments and layout stay.
use toml_edit::{DocumentMut, Item, Table, TableLike};

/// The values key whose text this is, as errors name it.
pub const KEY: &str = "runners.config";

/// The one `[[runners]]` table of a config (the first, if there are more).
pub fn runner_mut(doc: &mut DocumentMut) -> Option<&mut Table> {
    doc.get_mut("runners")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|runners| runners.get_mut(0))
}

/// The whitespace that starts the last line of a decor prefix (`"\n# note\n  "` -> `"  "`).
pub fn line_indent(prefix: Option<&str>) -> String {
    let last = prefix.unwrap_or("").rsplit('\n').next().unwrap_or("");
    last.chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The indentation of a new key of `table`: that of its own keys (the last one's), else its
/// header's, two spaces deeper.
pub fn key_indent(table: &Table) -> String {
    let siblings = table
        .iter()
        .filter(|(_, item)| item.is_value())
        .filter_map(|(k, _)| table.key(k))
        .last()
        .map(|k| line_indent(k.leaf_decor().prefix().and_then(|p| p.as_str())));
    siblings.unwrap_or_else(|| {
        let header = line_indent(table.decor().prefix().and_then(|p| p.as_str()));
        format!("{header}  ")
    })
}

/// Indents the line of `key` in `table`.
pub fn set_key_indent(table: &mut dyn TableLike, key: &str, indent: &str) {
    if let Some(mut k) = table.key_mut(key) {
        k.leaf_decor_mut().set_prefix(indent);
    }
}
