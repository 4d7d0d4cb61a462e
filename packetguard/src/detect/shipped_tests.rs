//! The shipped default models (`models/host.pgm`, `models/source.pgm`) against the lab's
//! attacks and normal traffic, with no learning: each attack at the lowest promised rate
//! must score as an anomaly in the role that must catch it, and every normal window must
//! score as normal in both roles. Every score is printed (`cargo test -- --nocapture`).

use std::path::{Path, PathBuf};

use packetguard_common::HostKey;
use packetguard_forest::{Model, Verdict};

use super::scenarios::{attacks, boundaries, normal, Expect, Window};
use super::scorer::{Scorer, Tag};
use super::source::SourceKey;
use super::window::WindowRole;
use super::{host, source};

/// A scored window.
pub struct Verdicts {
    pub score: f64,
    pub threshold: f64,
    pub verdict: Verdict,
}

/// Scores one window's row with the agent's batch scorer.
fn score_with<T: Tag>(
    model: &Model,
    names: &'static [&'static str],
    tag: T,
    row: &[f64],
) -> Verdicts {
    let mut s = Scorer::new(model.clone(), Path::new("shipped"), names).unwrap();
    s.push(tag, row);
    s.score_pending();
    let r = s.result(0);
    Verdicts {
        score: r.score,
        threshold: model.threshold(),
        verdict: r.verdict,
    }
}

/// Scores `w` with the host model or the source model, by its role.
pub fn score(host_model: &Model, source_model: &Model, w: &Window) -> Verdicts {
    match w.role {
        WindowRole::Destination => score_with(host_model, host::NAMES, HostKey::default(), &w.row),
        WindowRole::Source => score_with(
            source_model,
            source::NAMES,
            SourceKey(HostKey::default()),
            &w.row,
        ),
    }
}

/// Scores every window, prints one line each, and returns the lines that broke their
/// expectation.
pub fn check(host_model: &Model, source_model: &Model, windows: &[Window]) -> Vec<String> {
    let mut broken = Vec::new();
    for w in windows {
        let v = score(host_model, source_model, w);
        let role = match w.role {
            WindowRole::Destination => "host  ",
            WindowRole::Source => "source",
        };
        let line = format!(
            "{role} {:.4} {} {:.4}  {:?}  {}",
            v.score,
            if v.verdict == Verdict::Anomaly {
                '>'
            } else {
                '<'
            },
            v.threshold,
            w.expect,
            w.name
        );
        println!("{line}");
        let ok = match w.expect {
            Expect::Anomaly => v.verdict == Verdict::Anomaly,
            Expect::Normal => v.verdict == Verdict::Normal,
            Expect::Shown => true,
        };
        if !ok {
            broken.push(line);
        }
    }
    broken
}

fn shipped(name: &str) -> Model {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "models", name]
        .iter()
        .collect();
    Model::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask models`", path.display()))
}

#[test]
fn shipped_models_catch_the_lab_attacks_and_pass_its_normal_traffic() {
    let (host_model, source_model) = (shipped("host.pgm"), shipped("source.pgm"));
    assert_eq!(host_model.info().kind, "host");
    assert_eq!(source_model.info().kind, "source");
    println!("role   score    threshold  expected  window");
    let mut broken = check(&host_model, &source_model, &attacks());
    broken.extend(check(&host_model, &source_model, &normal()));
    println!("-- where the defaults start and stop flagging (printed only)");
    check(&host_model, &source_model, &boundaries());
    assert!(
        broken.is_empty(),
        "unexpected verdicts:\n{}",
        broken.join("\n")
    );
}

/// The model's own inputs of a window: its features in the model's schema order.
fn model_input(model: &Model, names: &[&str], row: &[f64]) -> Vec<f64> {
    let positions = model.schema().positions_in(names).unwrap();
    positions.iter().map(|&p| row[p]).collect()
}

#[test]
fn the_source_model_sees_a_guesser_at_3_per_s_by_its_repeated_logins_alone() {
    // Three answered connections a second to port 22 of one server, and the lab's curl
    // client fetching a page three times a second from one server: the same flows opened,
    // destinations and ports, nothing failed, no UDP. The source model reads one feature
    // per attack (failed attempts, non-TCP packets, repeated logins), and only the last
    // tells them apart: two of the guesser's three connections went to a server it had
    // already logged in to in that second.
    let source_model = shipped("source.pgm");
    let names: Vec<&str> = source_model
        .schema()
        .features()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "failed_attempts_per_s",
            "non_tcp_packets_per_s",
            "repeated_login_attempts_per_s"
        ]
    );
    let find = |windows: Vec<Window>, name: &str| {
        windows
            .into_iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("no window {name:?}"))
    };
    let ssh = find(attacks(), "SSH brute force 3/s, attacker");
    let curl = find(normal(), "curl 200 kB x3/s, client");
    assert_eq!(
        model_input(&source_model, source::NAMES, &ssh.row),
        [0.0, 0.0, 2.0]
    );
    assert_eq!(
        model_input(&source_model, source::NAMES, &curl.row),
        [0.0, 0.0, 0.0]
    );
    let at = |n| source::NAMES.iter().position(|f| *f == n).unwrap();
    for feature in [
        "new_flows_per_s",
        "distinct_destinations",
        "distinct_dst_ports",
        "failed_attempt_ratio",
    ] {
        assert_eq!(ssh.row[at(feature)], curl.row[at(feature)], "{feature}");
    }
    assert_eq!(
        (
            ssh.row[at("login_attempts_per_s")],
            curl.row[at("login_attempts_per_s")]
        ),
        (3.0, 0.0)
    );
}
