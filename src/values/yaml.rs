//! Loading one values file: YAML -> JSON tree, plus the line:column of every value.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::error::Error;
use super::path::KeyPath;

/// Where each value of a file sits: key path (as displayed) -> (line, column), 1-based.
pub(crate) type Locations = HashMap<String, (u64, u64)>;

/// A YAML node read with `deserialize_any`, children carrying their locations.
enum Node {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::U64(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Node::I64(i),
            Err(_) => Node::F64(v as f64),
        })
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Node::U64(u),
            Err(_) => Node::F64(v as f64),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.0, value));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// `visit_*` methods that turn a scalar into its text, for [`Key`].
macro_rules! as_text {
    ($($visit:ident: $ty:ty),*) => {$(
        fn $visit<E: de::Error>(self, v: $ty) -> Result<Key, E> {
            Ok(Key(v.to_string()))
        }
    )*};
}

/// A map key: any scalar, as text (helm turns keys into strings too).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar map key")
            }
            as_text!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
                visit_u128: u128, visit_f64: f64, visit_str: &str);
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
                Ok(Key(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_owned()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_owned()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

fn to_json(node: Node, path: &mut KeyPath, locs: &mut Locations) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::I64(i) => Value::from(i),
        Node::U64(u) => Value::from(u),
        Node::F64(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    path.push_index(i);
                    let v = spanned_to_json(item, path, locs);
                    path.pop();
                    v
                })
                .collect(),
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (k, item) in entries {
                path.push_key(&k);
                let v = spanned_to_json(item, path, locs);
                path.pop();
                map.insert(k, v);
            }
            Value::Object(map)
        }
    }
}

fn spanned_to_json(item: Spanned<Node>, path: &mut KeyPath, locs: &mut Locations) -> Value {
    let loc = item.referenced;
    if loc.line() > 0 {
        locs.insert(path.to_string(), (loc.line(), loc.column()));
    }
    to_json(item.value, path, locs)
}

/// What a JSON value is, for messages ("a list", ...).
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Stack for parsing a values file: the YAML deserializer recurses once per nesting level with
/// large frames (tens of KiB in debug builds), more than a 2 MiB thread stack holds at
/// [`MAX_NESTING_DEPTH`](super::MAX_NESTING_DEPTH) levels.
const PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;

/// The stack a values file may need at most ([`MAX_NESTING_DEPTH`](super::MAX_NESTING_DEPTH)
/// levels of the deserializer in a debug build, with room to spare): with at least this much
/// left, the file is parsed on the caller's stack.
const PARSE_STACK_NEEDED: usize = 6 * 1024 * 1024;

/// Parses one values file. An empty file (or one holding only `null`) is an empty map.
///
/// Runs on the caller's stack when [`PARSE_STACK_NEEDED`] is left on it, else on a fresh
/// stack of [`PARSE_STACK_BYTES`] (a library caller's small thread): stacker asks the thread
/// library how much is left.
pub(crate) fn load(
    source_name: &str,
    text: &str,
) -> Result<(Map<String, Value>, Locations), Error> {
    stacker::maybe_grow(PARSE_STACK_NEEDED, PARSE_STACK_BYTES, || {
        load_here(source_name, text)
    })
}

/// Parse YAML text held inside the values (an `extraObjects` item) into a value. The error
/// is the line, column and the parser's message, without a snippet of the text (it may hold
/// secrets).
pub(crate) fn parse_document(text: &str) -> Result<Value, (u64, u64, String)> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: super::MAX_NESTING_DEPTH + 1 },
    };
    let node: Option<Spanned<Node>> =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            match yaml_error("", &e) {
                Error::Yaml {
                    line,
                    column,
                    message,
                    ..
                } => (line, column, message),
                other => (0, 0, other.to_string()),
            }
        })?;
    let mut locs = Locations::new();
    Ok(node.map_or(Value::Null, |n| {
        to_json(n.value, &mut KeyPath::default(), &mut locs)
    }))
}

fn load_here(source_name: &str, text: &str) -> Result<(Map<String, Value>, Locations), Error> {
    if text.len() > super::MAX_VALUES_FILE_BYTES {
        return Err(Error::TooLarge {
            source_desc: format!("values file {source_name}"),
            size: text.len(),
            limit: super::MAX_VALUES_FILE_BYTES,
        });
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: super::MAX_NESTING_DEPTH + 1 },
    };
    let node: Option<Spanned<Node>> = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| yaml_error(source_name, &e))?;
    let mut locs = Locations::new();
    let mut path = KeyPath::default();
    let value = match node {
        None => Value::Null,
        Some(n) => to_json(n.value, &mut path, &mut locs),
    };
    match value {
        Value::Null => Ok((Map::new(), locs)),
        Value::Object(m) => Ok((m, locs)),
        other => Err(Error::NotAMap {
            source_name: source_name.to_owned(),
            found: kind_name(&other),
        }),
    }
}

fn yaml_error(source_name: &str, e: &serde_saphyr::Error) -> Error {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    let rendered = e
        .without_snippet()
        .render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
    // The plain rendering ends with " at line L, column C"; we print the location first.
    let mut message = rendered.trim().to_owned();
    for suffix in [
        format!(" at line {line}, column {column}"),
        format!(" at line {line} column {column}"),
    ] {
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    if let Some(stripped) =
        message.strip_suffix(", set DuplicateKeyPolicy in Options if acceptable")
    {
        message = format!("{stripped}; keep only one of them");
    }
    if message.starts_with("budget breached: Depth") {
        message = format!(
            "nested deeper than {} levels (MAX_NESTING_DEPTH); values this deep are not supported",
            super::MAX_NESTING_DEPTH
        );
    }
    Error::Yaml {
        source_name: source_name.to_owned(),
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalar_keys_become_text() {
        let (map, locs) = load(
            "v.yaml",
            "a:\n  1: int\n  -2: neg\n  true: bool\n  1.5: float\n  ~: null\n  x: s\n",
        )
        .unwrap();
        assert_eq!(
            Value::Object(map),
            json!({"a": {"1": "int", "-2": "neg", "true": "bool", "1.5": "float", "null": null, "x": "s"}})
        );
        assert_eq!(locs.get("a.x"), Some(&(7, 6)));
    }
}
