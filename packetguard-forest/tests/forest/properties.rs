//! Properties of the algorithm: separation, exact path lengths, determinism, thresholds.

use ndarray::{array, Array2};
use packetguard_forest::path_length::average_path_length;
use packetguard_forest::synth::clusters_with_noise;
use packetguard_forest::{
    Attribution, Contamination, ForestError, ForestParams, Model, Schema, Transform, Verdict,
};

use crate::small_model;

fn params(seed: u64) -> ForestParams {
    ForestParams {
        seed,
        trained_unix: Some(1_700_000_000),
        ..ForestParams::default()
    }
}

/// 500 points of a tight 2-d cluster around (0, 0), drawn on a grid-like spiral.
fn cluster() -> Array2<f64> {
    Array2::from_shape_fn((500, 2), |(i, j)| {
        let r = 0.5 * ((i as f64) / 500.0).sqrt();
        let a = i as f64 * 2.399_963;
        if j == 0 {
            r * a.cos()
        } else {
            r * a.sin()
        }
    })
}

#[test]
fn far_point_scores_high_and_cluster_points_low() {
    let data = cluster();
    let model = Model::fit(
        data.view(),
        Schema::uniform(&["x", "y"], Transform::None),
        &params(3),
    )
    .unwrap();
    let far = model.score_one(&[8.0, -7.0]);
    assert!(far > 0.7, "outlier scored {far}");
    assert_eq!(model.predict(&[8.0, -7.0]), Verdict::Anomaly);
    for p in [[0.0, 0.0], [0.1, -0.1], [-0.2, 0.15]] {
        let s = model.score_one(&p);
        assert!(s < 0.5, "cluster point {p:?} scored {s}");
        assert_eq!(model.predict(&p), Verdict::Normal);
    }
}

#[test]
fn c_matches_the_formula() {
    let h = |k: u64| (1..=k).map(|i| 1.0 / i as f64).sum::<f64>();
    for n in 3..400u64 {
        let expected = 2.0 * h(n - 1) - 2.0 * (n - 1) as f64 / n as f64;
        assert!((average_path_length(n) - expected).abs() < 1e-9, "c({n})");
    }
    assert_eq!(average_path_length(1), 0.0);
    assert_eq!(average_path_length(2), 1.0);
}

#[test]
fn tiny_tree_gives_exact_path_lengths() {
    // Three distinct values on one feature with psi = 3: the height limit is 2, the root
    // splits one value off, and its other side (two rows) either splits again (two leaves
    // at depth 2) or, at depth 2, is a leaf of two rows. Every path length is therefore
    // exactly 1 (isolated at the root) or 2 (isolated below), whichever the draw, and the
    // mean over rows and trees is pinned down by that structure.
    let data = array![[0.0], [1.0], [2.0]];
    let p = ForestParams {
        trees: 1,
        sample_size: 3,
        ..params(5)
    };
    let model = Model::fit(data.view(), Schema::uniform(&["x"], Transform::None), &p).unwrap();
    assert_eq!(model.node_count(), 5);
    let c3 = average_path_length(3);
    let mut lengths: Vec<f64> = [0.0, 1.0, 2.0]
        .iter()
        .map(|x| -model.score_one(&[*x]).log2() * c3)
        .collect();
    lengths.sort_by(f64::total_cmp);
    let expect = [1.0, 2.0, 2.0];
    for (got, want) in lengths.iter().zip(expect) {
        assert!((got - want).abs() < 1e-6, "path lengths {lengths:?}");
    }
    // A value beyond the range follows the outer edge: depth 1 or 2, never anything else.
    let h = -model.score_one(&[100.0]).log2() * c3;
    assert!((h - 1.0).abs() < 1e-6 || (h - 2.0).abs() < 1e-6, "h = {h}");
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, _) = small_model(3, 9);
    let (b, _) = small_model(3, 9);
    let (c, _) = small_model(3, 10);
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(a.id(), b.id());
    assert_ne!(a.to_bytes(), c.to_bytes());
}

#[test]
fn contamination_threshold_flags_about_that_share() {
    let (data, _) = clusters_with_noise(2000, 4, 0.05, 3);
    let names = ["a", "b", "c", "d"];
    let p = ForestParams {
        contamination: Contamination::Fraction(0.1),
        ..params(1)
    };
    let model = Model::fit(data.view(), Schema::uniform(&names, Transform::None), &p).unwrap();
    let mut scores = vec![0.0; data.nrows()];
    model.score_batch(data.view(), &mut scores);
    let flagged = scores
        .iter()
        .filter(|s| model.verdict(**s) == Verdict::Anomaly)
        .count();
    let share = flagged as f64 / data.nrows() as f64;
    assert!((share - 0.1).abs() <= 0.005, "flagged {share}");
}

#[test]
fn batch_equals_one_by_one_including_partial_blocks() {
    let (model, data) = small_model(5, 2);
    let rows = data.slice(ndarray::s![..37, ..]);
    let mut out = vec![0.0; 37];
    model.score_batch(rows, &mut out);
    for (i, row) in rows.outer_iter().enumerate() {
        assert_eq!(out[i], model.score_one(row.as_slice().unwrap()), "row {i}");
    }
}

#[test]
fn batch_scores_the_same_from_a_slice_and_from_strided_rows() {
    // Standard layout takes the direct conversion of identity schemas, a column-major copy
    // the per-row transform: both must give `score_one`'s bits, special values included.
    let (model, data) = small_model(5, 3);
    let mut rows = data.slice(ndarray::s![..70, ..]).to_owned();
    rows.row_mut(0).fill(f64::NAN);
    rows.row_mut(1).fill(f64::INFINITY);
    rows[[2, 3]] = f64::NEG_INFINITY;
    rows[[3, 1]] = -0.0;
    rows[[4, 4]] = 1e300;
    let strided = rows.t().as_standard_layout().into_owned();
    let strided = strided.t();
    assert!(strided.as_slice().is_none());
    let (mut a, mut b) = (vec![0.0; 70], vec![0.0; 70]);
    model.score_batch(rows.view(), &mut a);
    model.score_batch(strided, &mut b);
    for (i, row) in rows.outer_iter().enumerate() {
        let one = model.score_one(&row.to_vec()).to_bits();
        assert_eq!((a[i].to_bits(), b[i].to_bits()), (one, one), "row {i}");
    }
}

#[test]
fn log1p_schema_scores_like_pretransformed_data() {
    let (data, _) = clusters_with_noise(400, 3, 0.05, 8);
    let raw = data.mapv(|x| x.abs() * 1000.0);
    let names = ["a", "b", "c"];
    let logged = Model::fit(
        raw.view(),
        Schema::uniform(&names, Transform::Log1p),
        &params(4),
    )
    .unwrap();
    let row = [5.0, 5000.0, 20.0];
    assert!(logged.score_one(&row).is_finite());
    assert!(logged.score_one(&[-3.0, f64::NAN, 1e300]).is_finite());
}

#[test]
fn explanation_names_the_isolating_feature() {
    // Feature 1 is where the outlier stands out; feature 0 is ordinary.
    let data = cluster();
    let model = Model::fit(
        data.view(),
        Schema::uniform(&["x", "y"], Transform::None),
        &params(6),
    )
    .unwrap();
    let mut out = [Attribution::default(); 2];
    let n = model.explain_into(&[0.0, 40.0], &mut out);
    assert_eq!(n, 2);
    assert_eq!(out[0].feature, 1, "{out:?}");
    assert!(out[0].weight > out[1].weight);
    assert!((out[0].weight + out[1].weight - 1.0).abs() < 1e-9);
    let mut one = [Attribution::default(); 1];
    assert_eq!(model.explain_into(&[0.0, 40.0], &mut one), 1);
    assert_eq!(one[0], out[0]);
    assert_eq!(model.explain(&[0.0, 40.0], 5).len(), 2);
}

#[test]
fn model_is_shared_across_threads() {
    let (model, data) = small_model(4, 1);
    let model = std::sync::Arc::new(model);
    let expected = model.score_one(data.row(0).as_slice().unwrap());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (m, d) = (model.clone(), data.clone());
            std::thread::spawn(move || m.score_one(d.row(0).as_slice().unwrap()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
}

#[test]
fn bad_training_input_is_rejected() {
    let schema = || Schema::uniform(&["a", "b"], Transform::None);
    let mut data = Array2::from_elem((10, 2), 1.0);
    data[[4, 1]] = f64::NAN;
    let p = ForestParams {
        contamination: Contamination::Fraction(0.1),
        ..params(1)
    };
    match Model::fit(data.view(), schema(), &p) {
        Err(ForestError::NonFinite {
            row: 4, feature: 1, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // Auto contamination still refuses a NaN drawn into a tree (10 rows, all drawn).
    assert!(matches!(
        Model::fit(data.view(), schema(), &params(1)),
        Err(ForestError::NonFinite { row: 4, .. })
    ));
    let wide = Array2::from_elem((10, 3), 1.0);
    assert!(matches!(
        Model::fit(wide.view(), schema(), &params(1)),
        Err(ForestError::ColumnCount {
            expected: 2,
            got: 3
        })
    ));
    let one_row = Array2::from_elem((1, 2), 1.0);
    assert!(matches!(
        Model::fit(one_row.view(), schema(), &params(1)),
        Err(ForestError::InvalidParameter { name: "data", .. })
    ));
    let p = ForestParams {
        trees: 0,
        ..params(1)
    };
    let err = Model::fit(Array2::from_elem((10, 2), 1.0).view(), schema(), &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid parameter trees: 0 is outside 1..=100000"
    );
}
