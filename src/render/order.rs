//! Sorting rendered objects into helm's install order (see [`crate::object::install_order`]).
use super::Object;
use crate::object::{ObjectRef, install_order};

/// Sort objects into install order (stable; ties broken by kind, namespace and name).
pub fn sort(objects: &mut Vec<Object>) {
    let mut keyed: Vec<(ObjectRef, Object)> = objects
        .drain(..)
        .map(|o| (ObjectRef::of(&o.value), o))
        .collect();
    keyed.sort_by(|a, b| install_order(&a.0, &b.0));
    objects.extend(keyed.into_iter().map(|(_, o)| o));
}
