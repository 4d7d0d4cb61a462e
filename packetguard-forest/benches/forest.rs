//! Criterion benchmarks: training, single-row and batch scoring, explanations.
//! The one-shot figures of the standard workload come from `forest-bench` instead.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use packetguard_forest::synth::clusters_with_noise;
use packetguard_forest::{Attribution, ForestParams, Model, Schema, Transform};

fn model(features: usize, rows: usize) -> (Model, ndarray::Array2<f64>) {
    let (data, _) = clusters_with_noise(rows, features, 0.01, 1);
    let names: Vec<String> = (0..features).map(|i| format!("f{i}")).collect();
    let params = ForestParams {
        seed: 1,
        ..ForestParams::default()
    };
    let m = Model::fit(
        data.view(),
        Schema::uniform(&names, Transform::None),
        &params,
    )
    .unwrap();
    (m, data)
}

fn bench(c: &mut Criterion) {
    let (data, _) = clusters_with_noise(100_000, 8, 0.01, 1);
    let names: Vec<String> = (0..8).map(|i| format!("f{i}")).collect();
    c.bench_function("fit 100 trees psi 256, 100k x 8", |b| {
        b.iter(|| {
            Model::fit(
                data.view(),
                Schema::uniform(&names, Transform::None),
                &ForestParams::default(),
            )
            .unwrap()
        })
    });

    let (m, rows) = model(8, 4096);
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(rows.nrows() as u64));
    let mut out = vec![0.0; rows.nrows()];
    g.bench_function("score_batch 4096 rows", |b| {
        b.iter(|| m.score_batch(black_box(rows.view()), &mut out))
    });
    let slice = rows.as_slice().unwrap();
    g.bench_function("score_one 4096 rows", |b| {
        b.iter(|| {
            for row in slice.chunks_exact(8) {
                black_box(m.score_one(black_box(row)));
            }
        })
    });
    g.finish();

    let row = rows.row(0).to_vec();
    let mut top = [Attribution::default(); 3];
    c.bench_function("explain_into top 3", |b| {
        b.iter(|| m.explain_into(black_box(&row), &mut top))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
