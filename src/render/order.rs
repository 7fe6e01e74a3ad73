//! Sorting rendered objects into helm's install order (see [`crate::object::install_order`]).
use super::Object;
use crate::object::{install_rank, tie_key};

/// Sort objects into install order (stable; ties broken by [`tie_key`]).
pub fn sort(objects: &mut Vec<Object>) {
    // The order is worked out on borrowed keys (each object's rank looked up once), then
    // applied: no key is copied.
    let mut keys: Vec<_> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let kind = o.kind();
            let ties = tie_key(kind, o.namespace(), o.name(), o.api_version());
            (install_rank(kind), ties, i)
        })
        .collect();
    // The index last: equal keys keep their order, as in a stable sort.
    keys.sort_unstable();
    let mut place = vec![0; keys.len()];
    for (at, (_, _, i)) in keys.iter().enumerate() {
        place[*i] = at;
    }
    let mut placed: Vec<(usize, Object)> = objects
        .drain(..)
        .enumerate()
        .map(|(i, o)| (place[i], o))
        .collect();
    placed.sort_unstable_by_key(|(at, _)| *at);
    objects.extend(placed.into_iter().map(|(_, o)| o));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{ObjectRef, install_order};

    /// Over every rotation of a list with equal keys, unknown kinds, cluster-scoped and
    /// namespaced objects, the order is the stable sort by [`install_order`].
    #[test]
    fn the_order_is_the_stable_sort_by_install_order() {
        let mut objects = Vec::new();
        let specs = [
            ("apps/v1", "Deployment", Some("b"), "x"),
            ("v1", "Secret", Some("a"), "x"),
            ("v1", "Namespace", None, "a"),
            ("example.com/v1", "Widget", Some("a"), "w"),
            ("v1", "Secret", Some("a"), "x"),
            ("v1", "Secret", None, "x"),
            ("v2", "Secret", Some("a"), "x"),
            ("apps/v1", "Deployment", Some("a"), "y"),
            ("example.com/v1", "Gadget", Some("a"), "w"),
            ("rbac.authorization.k8s.io/v1", "Role", Some("a"), "r"),
            ("v1", "ConfigMap", Some("a"), "c"),
        ];
        for (i, (api_version, kind, namespace, name)) in specs.into_iter().enumerate() {
            let mut value = serde_json::json!({"apiVersion": api_version, "kind": kind,
                "metadata": {"name": name}});
            if let Some(ns) = namespace {
                value["metadata"]["namespace"] = ns.into();
            }
            objects.push(Object {
                source: format!("t{i}"),
                value,
            });
        }
        for turn in 0..objects.len() {
            let mut list = objects.clone();
            list.rotate_left(turn);
            let mut expected = list.clone();
            expected
                .sort_by(|a, b| install_order(&ObjectRef::of(&a.value), &ObjectRef::of(&b.value)));
            sort(&mut list);
            assert_eq!(list, expected, "rotated by {turn}");
        }
    }
}
