//! Project tasks: `cargo xtask testenv up|down|env|status`, `cargo xtask test`.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("no task yet")
}
