//! Helm's merge rules: maps merge deeply, everything else replaces, `null` deletes.

use serde_json::{Map, Value};

use super::path::{KeyPath, Seg};

/// Merges a later user source into the user tree (`-f` files): maps deeply, others replace.
/// `null` is kept here (it deletes from the defaults in [`coalesce`]).
pub(crate) fn merge_user(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(&k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_user(d, s),
            (_, v) => {
                dst.insert(k, v);
            }
        }
    }
}

/// Sets `value` at `path` in `root` like helm's `--set`: creates maps and lists on the way,
/// replaces what has the wrong shape, grows lists with `null` to reach an index.
pub(crate) fn set_path(root: &mut Map<String, Value>, path: &KeyPath, value: Value) {
    let Some(Seg::Key(first)) = path.0.first() else {
        return; // the grammar guarantees a key first
    };
    let rest = &path.0[1..];
    if rest.is_empty() {
        root.insert(first.clone(), value);
        return;
    }
    let slot = root.entry(first.clone()).or_insert(Value::Null);
    set_in(slot, rest, value);
}

/// How many list slots [`set_path`] would add to `root` for `path`: for each index, the entries
/// the list there grows by (all `index + 1` of them where no list is there yet). Counted
/// without allocating, so that a limit can be checked before the list grows.
pub(crate) fn new_list_slots(root: &Map<String, Value>, path: &KeyPath) -> usize {
    let Some(Seg::Key(first)) = path.0.first() else {
        return 0;
    };
    let mut cur = root.get(first);
    let mut total = 0usize;
    for seg in &path.0[1..] {
        match seg {
            Seg::Key(k) => cur = cur.and_then(Value::as_object).and_then(|m| m.get(k)),
            Seg::Index(i) => {
                let list = cur.and_then(Value::as_array);
                let len = list.map_or(0, Vec::len);
                total = total.saturating_add(i.saturating_add(1).saturating_sub(len));
                cur = list.and_then(|l| l.get(*i));
            }
        }
    }
    total
}

fn set_in(slot: &mut Value, path: &[Seg], value: Value) {
    let Some((seg, rest)) = path.split_first() else {
        *slot = value;
        return;
    };
    match seg {
        Seg::Key(k) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let map = slot.as_object_mut().expect("just made a map");
            if rest.is_empty() {
                map.insert(k.clone(), value);
            } else {
                set_in(map.entry(k.clone()).or_insert(Value::Null), rest, value);
            }
        }
        Seg::Index(i) => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let list = slot.as_array_mut().expect("just made a list");
            if list.len() <= *i {
                list.resize(*i + 1, Value::Null);
            }
            set_in(&mut list[*i], rest, value);
        }
    }
}

/// Lays the user tree over the defaults: user `null` removes the key, maps merge, the rest
/// replaces. `null` entries inside maps the user brings in are dropped too.
pub(crate) fn coalesce(dst: &mut Map<String, Value>, user: Map<String, Value>) {
    for (k, v) in user {
        match v {
            Value::Null => {
                dst.shift_remove(&k);
            }
            Value::Object(u) => match dst.get_mut(&k) {
                Some(Value::Object(d)) => coalesce(d, u),
                _ => {
                    let mut fresh = Map::new();
                    coalesce(&mut fresh, u);
                    dst.insert(k, Value::Object(fresh));
                }
            },
            other => {
                dst.insert(k, other);
            }
        }
    }
}

/// How deeply a value nests (a scalar is 0, `{a: 1}` is 1).
pub(crate) fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::strvals::parse_key;
    use serde_json::json;

    /// The count matches what `set_path` really adds, for fresh, growing and replaced lists.
    #[test]
    fn new_list_slots_counts_what_set_path_adds() {
        fn slots(v: &Value) -> usize {
            match v {
                Value::Array(a) => a.len() + a.iter().map(slots).sum::<usize>(),
                Value::Object(m) => m.values().map(slots).sum(),
                _ => 0,
            }
        }
        let mut root = Map::new();
        for (key, want) in [
            ("a[2]", 3),
            ("a[1]", 0),
            ("a[4]", 2),
            ("a[4][1]", 2),
            ("a[4][1].b[0]", 1),
            ("a.b[3]", 4), // a is replaced by a map: a fresh list below it
            ("c.d", 0),
            ("c.d[0][0]", 2), // a string replaced by a list of a list
            ("e[9][9]", 20),
        ] {
            let path = parse_key(key).unwrap();
            let before = slots(&Value::Object(root.clone()));
            assert_eq!(new_list_slots(&root, &path), want, "{key}");
            set_path(&mut root, &path, json!("x"));
            let after = slots(&Value::Object(root.clone()));
            // Replacing a list drops its slots; the count is of the slots created.
            assert!(after <= before + want, "{key}: {before} -> {after}");
        }
        assert_eq!(root["e"].as_array().unwrap().len(), 10);
    }
}
