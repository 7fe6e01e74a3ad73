//! Cluster access, below the apply engine: connecting as kubectl does ([`client`]), and a
//! counted REST layer over untyped JSON objects with a discovery cache ([`Cluster`]).
mod api;
mod client;

pub use api::{
    ApplyParams, Cluster, CreateMode, DEFAULT_REQUEST_TIMEOUT, Kind, NoAnswer, RetryNotice,
    RetryPolicy, group_kind, split_api_version,
};
pub use client::{ClientOptions, Error, client, default_namespace};
