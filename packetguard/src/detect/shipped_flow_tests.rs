//! The shipped flow model (`models/flow.pgm`) and `prior_login_attempts`: the same SSH
//! connections rank higher when their opener made many attempts to the server just
//! before (a password guesser) than when it made none or one (a session, a second
//! terminal).

use std::path::{Path, PathBuf};

use packetguard_common::features::{flow_row_feature_index, N_FLOW_ROW_FEATURES};
use packetguard_forest::Model;
use rand::{rngs::SmallRng, SeedableRng};

use super::{flow::NAMES, scorer::Scorer};
use crate::{baseline::flows::ssh_conversation, flows::Endpoints};

fn shipped_flow_model() -> Model {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "models", "flow.pgm"]
        .iter()
        .collect();
    Model::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask models`", path.display()))
}

/// Scores of `rows`, each with `prior_login_attempts` set to `prior`.
fn scores(model: &Model, rows: &[[f64; N_FLOW_ROW_FEATURES]], prior: f64) -> Vec<f64> {
    let at = flow_row_feature_index("prior_login_attempts").unwrap();
    let mut s = Scorer::new(model.clone(), Path::new("flow.pgm"), NAMES).unwrap();
    let tag = Endpoints {
        src: [192, 0, 2, 2].into(),
        dst: [198, 51, 100, 2].into(),
        src_port: 40_000,
        dst_port: 22,
        protocol: 6,
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut row = *r;
        row[at] = prior;
        if s.is_full() {
            s.score_pending();
            out.extend_from_slice(s.scores());
            s.clear();
        }
        s.push(tag, &row);
    }
    s.score_pending();
    out.extend_from_slice(s.scores());
    out
}

/// The share of (high, low) pairs in which `high` scores above `low`, ties half: the ROC
/// AUC of the attack lab.
fn auc(high: &[f64], low: &[f64]) -> f64 {
    let mut wins = 0.0;
    for h in high {
        for l in low {
            wins += if h > l {
                1.0
            } else if h == l {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (high.len() * low.len()) as f64
}

#[test]
fn ssh_connections_after_many_attempts_outrank_the_same_after_none_or_one() {
    let model = shipped_flow_model();
    let mut rng = SmallRng::seed_from_u64(7);
    let rows: Vec<_> = (0..200).flat_map(|_| ssh_conversation(&mut rng)).collect();
    let (none, one) = (scores(&model, &rows, 0.0), scores(&model, &rows, 1.0));
    let ordinary: Vec<f64> = none.iter().chain(&one).copied().collect();
    // A guesser at 3 attempts a second has 5 or 6 prior attempts before each guess; the
    // ranking grows with the count and reaches the attack lab's 0.9 there.
    let mut last = 0.5;
    for prior in [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0] {
        let guessed = scores(&model, &rows, prior);
        let a = auc(&guessed, &ordinary);
        println!(
            "prior_login_attempts {prior}: AUC {a:.3} over {} records",
            rows.len()
        );
        assert!(a >= last, "prior {prior}: AUC {a:.3} below {last:.3}");
        if prior >= 5.0 {
            assert!(a >= 0.9, "prior {prior}: AUC {a:.3}");
        }
        last = a;
    }
    // A second terminal (one prior attempt) is flagged no more often than the
    // contamination (0.2%) allows.
    let flagged = one.iter().filter(|s| **s > model.threshold()).count();
    println!(
        "records flagged with 1 prior attempt: {flagged} of {}",
        one.len()
    );
    assert!(flagged * 500 <= one.len(), "{flagged} of {}", one.len());
}
