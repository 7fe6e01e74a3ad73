//! In-process benchmarks: `cargo bench --bench render`.
//!
//! Rendering the seed release (values merged or not, with and without the YAML text), and the
//! CPU side of planning on its objects: normalising, masking Secret values, the YAML text, and
//! the diff of each object against a live copy that differs from it (a [`Change`] built by
//! hand: no cluster).
use criterion::{Criterion, criterion_group, criterion_main};
use runnerctl::apply::{Change, DiffOptions, ObjectRef, PlannedAction, normalize};
use runnerctl::k8s::Kind;
use runnerctl::render::{Object, OutputFormat, to_yaml};
use runnerctl::secret::mask_secrets;
use runnerctl::{Release, ValuesBuilder, render};
use serde_json::{Value, json};

const SEED: &str = include_str!("../values/examples/seed.yaml");

fn seed_release() -> Release {
    let (values, _) = ValuesBuilder::new()
        .values_file("seed.yaml", SEED)
        .build()
        .expect("seed values");
    Release {
        name: "gitlab-runner".into(),
        namespace: "gitlab-runner".into(),
        values,
        create_namespace: true,
        api_versions: Vec::new(),
    }
}

fn render_benches(c: &mut Criterion) {
    let release = seed_release();
    // The first render compiles the templates the release uses, once per process.
    render(&release).expect("renders");
    c.bench_function("render seed (values merged)", |b| {
        b.iter(|| render(std::hint::black_box(&release)).expect("renders"))
    });
    c.bench_function("merge values + render seed", |b| {
        b.iter(|| render(&seed_release()).expect("renders"))
    });
    c.bench_function("render seed + YAML text", |b| {
        b.iter(|| {
            render(&release)
                .expect("renders")
                .to_text(OutputFormat::Yaml, false)
        })
    });
}

/// The object as the server would return it: server metadata, a status, and (to make the diff
/// non-empty) one changed label.
fn live_copy(o: &Object) -> Value {
    let mut live = o.value.clone();
    let meta = live["metadata"].as_object_mut().expect("metadata");
    meta.insert("resourceVersion".into(), json!("4711"));
    meta.insert("uid".into(), json!("0b8a3c1e-0000-4000-8000-000000000000"));
    meta.insert("creationTimestamp".into(), json!("2025-01-01T00:00:00Z"));
    meta.insert(
        "managedFields".into(),
        json!([{"manager": "runnerctl", "operation": "Apply", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}}}]),
    );
    meta.entry("labels")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("labels")
        .insert("chart".into(), json!("gitlab-runner-0.0.1"));
    live.as_object_mut()
        .expect("object")
        .insert("status".into(), json!({"observedGeneration": 1}));
    live
}

/// An update of `o` from `live`, as a plan would hold it after the server's dry-run.
fn change(o: &Object, live: Value) -> Change {
    let obj = ObjectRef::of(&o.value);
    let (group, version) = match obj.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", obj.api_version.as_str()),
    };
    let gvk = kube::core::GroupVersionKind::gvk(group, version, &obj.kind);
    let plural = format!("{}s", obj.kind.to_ascii_lowercase());
    Change {
        kind: Kind {
            resource: kube::core::ApiResource::from_gvk_with_plural(&gvk, &plural),
            namespaced: obj.namespace.is_some(),
        },
        object: obj,
        action: PlannedAction::Update,
        desired: o.value.clone(),
        live: Some(live),
        after: Some(o.value.clone()),
        adopt: Vec::new(),
        immutable: None,
        adoption: None,
    }
}

fn plan_benches(c: &mut Criterion) {
    let manifest = render(&seed_release()).expect("renders");
    let objects = &manifest.objects;
    let lives: Vec<Value> = objects.iter().map(live_copy).collect();
    c.bench_function("plan: normalize live + rendered objects", |b| {
        b.iter(|| {
            for (o, live) in objects.iter().zip(&lives) {
                std::hint::black_box(normalize(&o.value) == normalize(live));
            }
        })
    });
    c.bench_function("plan: mask_secrets live + rendered objects", |b| {
        b.iter(|| {
            for (o, live) in objects.iter().zip(&lives) {
                std::hint::black_box(mask_secrets(Some(live), Some(&o.value)));
            }
        })
    });
    c.bench_function("plan: to_yaml of each object", |b| {
        b.iter(|| {
            for o in objects {
                std::hint::black_box(to_yaml(&o.value));
            }
        })
    });
    let changes: Vec<Change> = objects
        .iter()
        .zip(&lives)
        .map(|(o, live)| change(o, live.clone()))
        .collect();
    let opts = DiffOptions::default().secrets(manifest.secrets.clone());
    assert!(
        changes.iter().all(|c| !c.diff(&opts).is_empty()),
        "every change has a diff to present"
    );
    c.bench_function(
        "plan: Change::diff of every object (one label changed)",
        |b| {
            b.iter(|| {
                for change in &changes {
                    std::hint::black_box(change.diff(&opts));
                }
            })
        },
    );
}

criterion_group!(benches, render_benches, plan_benches);
criterion_main!(benches);
