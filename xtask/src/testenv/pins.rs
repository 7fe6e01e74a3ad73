//! Every version the test control plane is built from, in one place.
//!
//! Why these versions:
//! - Kubernetes v1.37.2: the newest release of `k8s.io/kubernetes` served by the Go module
//!   proxy here, inside the range k8s-openapi 0.29 covers (v1_33 to v1_37), so runnerctl can
//!   be tested against the newest API it knows. Its `go` line (1.26.0) builds with the
//!   installed Go 1.26.
//! - The `k8s.io/*` staging modules are released as v0.X.Y next to v1.X.Y: v0.37.2.
//! - etcd v3.7.3: k8s v1.37.2's go.mod requires the etcd v3.7 client
//!   (`go.etcd.io/etcd/client/v3 v3.7.0`); v3.7.3 is the newest v3.7 patch.
//! - kwok v0.8.0: the newest kwok release; it talks to the API server through client-go
//!   v0.36, which is within client-go's supported skew of a v1.37 server.
//!
//! Bumping any of these rebuilds the binaries (the build stamp includes them). Bump
//! `BUILD_REV` when the build itself changes (flags, wrapper go.mod) without a version bump.

/// `k8s.io/kubernetes` release: kube-apiserver, kube-controller-manager, kube-scheduler.
pub const KUBERNETES: &str = "v1.37.2";
/// The matching release of the `k8s.io/*` staging modules.
pub const STAGING: &str = "v0.37.2";
/// `go.etcd.io/etcd/server/v3` release.
pub const ETCD: &str = "v3.7.3";
/// `sigs.k8s.io/kwok` release.
pub const KWOK: &str = "v0.8.0";
/// The `go` line of the generated wrapper modules (the oldest Go that builds all of them).
pub const GO_LANGUAGE: &str = "1.26.0";
/// Bumped when the build recipe changes without a version change.
pub const BUILD_REV: u32 = 1;

/// What a finished build records in its stamp file; a different stamp means rebuild.
pub fn stamp() -> String {
    format!("kubernetes={KUBERNETES} staging={STAGING} etcd={ETCD} kwok={KWOK} rev={BUILD_REV}\n")
}
