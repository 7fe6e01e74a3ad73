//! In-process rendering of the seed values: `cargo bench --bench render`.
use criterion::{Criterion, criterion_group, criterion_main};
use runnerctl::{Release, ValuesBuilder, render};

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

fn bench(c: &mut Criterion) {
    let release = seed_release();
    // The first render parses the embedded templates once per process.
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
                .to_text(runnerctl::render::OutputFormat::Yaml, false)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
