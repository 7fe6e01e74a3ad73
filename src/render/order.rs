//! Sorting rendered objects into helm's install order (see [`crate::object::install_order`]).
use super::Object;
use crate::object::{ObjectRef, install_rank, tie_break};

/// Sort objects into install order (stable; ties broken by kind, namespace and name).
pub fn sort(objects: &mut Vec<Object>) {
    // Each object's rank looked up once, not at every comparison.
    let mut keyed: Vec<(usize, ObjectRef, Object)> = objects
        .drain(..)
        .map(|o| {
            let r = ObjectRef::of(&o.value);
            (install_rank(&r.kind), r, o)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| tie_break(&a.1, &b.1)));
    objects.extend(keyed.into_iter().map(|(_, _, o)| o));
}
