//! `runners.config`: template expressions, TOML parsing with line:column, DinD lint.
