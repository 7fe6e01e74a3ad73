//! Embed the apply engine: render a release, show the plan, apply it, wait, print the report.
//!
//! ```text
//! KUBECONFIG=$(cargo xtask testenv env) cargo run --example embed_engine -- my-namespace
//! ```
use std::error::Error;

use runnerctl::apply::{Action, ApplySet, DiffOptions, Engine, EngineOptions, WaitOptions};
use runnerctl::{Release, ValuesBuilder, render};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let namespace = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "embed-example".into());

    // 1. Render: no cluster needed.
    let (values, warnings) = ValuesBuilder::new()
        .set("gitlabUrl=https://gitlab.example.com,rbac.create=true")
        .set("runnerToken=glrt-example-token")
        .build()?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let release = Release {
        name: "gitlab-runner".into(),
        namespace: namespace.clone(),
        values,
        create_namespace: true,
        api_versions: vec![],
    };
    let manifest = render(&release)?;

    // 2. Plan against the cluster (server-side dry-run) and print the masked diff.
    let client = kube::Client::try_default().await?;
    let engine = Engine::new(client, EngineOptions::default());
    let applyset = ApplySet::for_release(&release.name, &release.namespace);
    let plan = engine.plan(&applyset, &manifest.objects).await?;
    print!("{}", plan.diff(&DiffOptions::default()));
    println!("{}", plan.summary());

    // 3. Apply only what differs, prune what is gone, then wait.
    let report = engine.apply(&plan, |r| eprintln!("{r}")).await?;
    let changed = report
        .results
        .iter()
        .filter(|r| r.action != Action::Unchanged)
        .count();
    let waited = engine
        .wait(&report.objects(), &WaitOptions::default(), |object, r| {
            eprintln!("{object}: {r}")
        })
        .await?;
    if !waited.is_ready() {
        eprint!("{waited}");
        return Err("not ready".into());
    }
    println!(
        "{changed} object(s) changed, {} write(s), {} API request(s)",
        report.writes,
        engine.requests()
    );
    Ok(())
}
