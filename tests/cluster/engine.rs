//! Cluster tests of the library: the apply engine's returned data (plan actions, report
//! actions and write counts, adoption, refusals, status, uninstall) against the real
//! control plane, without going through the command line.

use runnerctl::apply::{
    Action, Adoption, ApplySet, Engine, EngineOptions, Error, PlannedAction, Readiness,
    UninstallOptions, WaitOptions,
};
use runnerctl::k8s::ClientOptions;
use runnerctl::{Manifest, Release, ValuesBuilder, render};

use crate::support::cluster::{kubeconfig, kubectl, namespace};

fn manifest(ns: &str, concurrent: u32) -> Manifest {
    let (values, _) = ValuesBuilder::new()
        .set("gitlabUrl=https://gitlab.example.com,rbac.create=true")
        .set("runnerToken=glrt-engine-test")
        .set(format!("concurrent={concurrent}"))
        .build()
        .unwrap();
    render(&Release {
        name: "gitlab-runner".into(),
        namespace: ns.into(),
        values,
        create_namespace: true,
        api_versions: vec![],
    })
    .unwrap()
}

async fn engine(opts: EngineOptions) -> Engine {
    let client =
        runnerctl::k8s::client(&ClientOptions::default().kubeconfig(Some(kubeconfig().into())))
            .await
            .unwrap();
    Engine::new(client, opts)
}

fn actions(plan: &runnerctl::apply::Plan) -> Vec<(String, PlannedAction)> {
    plan.changes
        .iter()
        .map(|c| (c.object.kind.clone(), c.action))
        .collect()
}

#[tokio::test]
#[ignore = "needs the control plane: cargo xtask test"]
async fn install_noop_change_status_uninstall_as_data() {
    let ns = namespace("engine");
    let engine = engine(EngineOptions::default()).await;
    let set = ApplySet::for_release("gitlab-runner", &ns);

    let plan = engine.plan(&set, &manifest(&ns, 10).objects).await.unwrap();
    assert!(
        plan.changes
            .iter()
            .all(|c| c.action == PlannedAction::Create),
        "{:?}",
        actions(&plan)
    );
    assert_eq!(plan.changes[0].object.kind, "Namespace", "namespace first");
    let report = engine.apply(&plan, |_| {}).await.unwrap();
    assert!(report.results.iter().all(|r| r.action == Action::Created));
    // One write per object, plus the ApplySet parent.
    assert_eq!(report.writes, plan.changes.len() + 1);
    let waited = engine
        .wait(&report.objects(), &WaitOptions::default(), |_, _| {})
        .await
        .unwrap();
    assert!(waited.is_ready(), "{waited}");

    let again = engine.plan(&set, &manifest(&ns, 10).objects).await.unwrap();
    assert!(!again.summary().has_changes(), "{:?}", actions(&again));
    let report = engine.apply(&again, |_| {}).await.unwrap();
    assert_eq!(report.writes, 0, "a no-op apply writes nothing");

    let changed = engine.plan(&set, &manifest(&ns, 20).objects).await.unwrap();
    let updated: Vec<String> = changed
        .changes
        .iter()
        .filter(|c| c.action == PlannedAction::Update)
        .map(|c| c.object.kind.clone())
        .collect();
    assert_eq!(
        updated,
        ["ConfigMap", "Deployment"],
        "config and the pod checksum"
    );
    engine.apply(&changed, |_| {}).await.unwrap();

    let status = engine.status(&set).await.unwrap();
    assert_eq!(status.objects.len(), plan.changes.len());
    assert!(
        status
            .objects
            .iter()
            .any(|o| o.object.kind == "Deployment" && o.readiness != Readiness::Missing)
    );

    let done = engine
        .uninstall(
            &set,
            &UninstallOptions::default().delete_namespace(true),
            |_| {},
        )
        .await
        .unwrap();
    let deleted = done
        .results
        .iter()
        .filter(|r| r.action == Action::Deleted)
        .count();
    assert_eq!(
        deleted,
        plan.changes.len(),
        "every member, the namespace included"
    );
    assert!(matches!(
        engine.status(&set).await,
        Err(Error::NotInstalled { .. })
    ));
}

#[tokio::test]
#[ignore = "needs the control plane: cargo xtask test"]
async fn an_object_someone_else_made_is_refused_then_adopted_on_request() {
    let ns = namespace("engine-own");
    kubectl(&["create", "namespace", &ns], None).expect(0);
    kubectl(
        &[
            "create",
            "configmap",
            "gitlab-runner",
            "-n",
            &ns,
            "--from-literal=mine=yes",
        ],
        None,
    )
    .expect(0);
    let set = ApplySet::for_release("gitlab-runner", &ns);
    let objects = manifest(&ns, 10).objects;

    let refused = engine(EngineOptions::default())
        .await
        .plan(&set, &objects)
        .await
        .unwrap_err();
    let Error::NotOwned { object, owner } = &refused else {
        panic!("{refused}");
    };
    assert_eq!(
        (object.kind.as_str(), object.name.as_str()),
        ("ConfigMap", "gitlab-runner")
    );
    assert!(owner.contains("kubectl-create"), "{owner}");

    let adopting = engine(EngineOptions::default().adopt(true)).await;
    let plan = adopting.plan(&set, &objects).await.unwrap();
    let cm = plan
        .changes
        .iter()
        .find(|c| c.object.kind == "ConfigMap")
        .unwrap();
    assert_eq!(cm.adoption, Some(Adoption::Requested));
    assert_eq!(cm.action, PlannedAction::Update);
    let ns_change = &plan.changes[0];
    assert_eq!(
        ns_change.action,
        PlannedAction::Keep,
        "a namespace made beforehand is left alone"
    );
    adopting.apply(&plan, |_| {}).await.unwrap();
    let again = engine(EngineOptions::default())
        .await
        .plan(&set, &objects)
        .await
        .unwrap();
    assert!(
        !again.summary().has_changes(),
        "adopted: a member now: {:?}\n{}",
        actions(&again),
        again.diff(&Default::default())
    );
}
