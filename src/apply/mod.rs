//! The apply engine: plan (server-side dry-run), diff, apply, prune, wait, status, uninstall.
