//! Cluster access: a client from kubeconfig, context or in-cluster config.
