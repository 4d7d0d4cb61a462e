//! `cargo xtask models`: rebuilds the shipped default models from generated normal traffic.
//!
//! The recipe lives here and in models/README.md, and nowhere else: generate rows with a
//! fixed seed (`packetguard model generate`), train with a fixed seed and contamination
//! (`packetguard train`). Running it again gives the same trees and thresholds; only the
//! training time recorded in the files changes.

use std::path::Path;

use anyhow::{Context, Result};

/// Rows of generated traffic per model.
const ROWS: &str = "20000";
const SEED: &str = "1";
/// Share of the generated rows above the threshold: the false-positive rate on traffic
/// like the generated profiles.
const CONTAMINATION: &str = "0.002";
/// The host model leaves out bytes/s and mean packet size: they describe volume and frame
/// shape, which bulk transfers already spread over the whole range, and without them the
/// forest splits more often on what separates floods and scans from normal traffic
/// (new flows, sources, ports, SYN share).
const HOST_FEATURES: &str =
    "packets_per_s,new_flows_per_s,distinct_sources,distinct_dst_ports,syn_without_ack_ratio";
/// The host model draws 1024 rows per tree instead of 256: deeper trees widen the gap
/// between the scores of floods and scans and those of normal windows (a flood of 1000 new
/// flows/s scores 0.69 against a threshold of 0.66, instead of 0.67 against 0.665).
const HOST_SAMPLE_SIZE: &str = "1024";
/// The source model uses five of the nine source features: flows opened, distinct
/// destinations and ports, failed attempts and non-TCP packets, each per second. Scans
/// and floods are extreme on these. Packets/s, bytes/s, SYN share and failed share hold
/// ordinary senders together where the attacks are not extreme: with packets/s and both
/// shares also in the forest (1024 rows per tree), a UDP flood of 5000 packets/s scored
/// 0.62 against a threshold of 0.66.
const SOURCE_FEATURES: &str = "new_flows_per_s,distinct_destinations,distinct_dst_ports,failed_attempts_per_s,non_tcp_packets_per_s";
/// The source model draws 4096 rows per tree: a flood or scan beyond every normal
/// window then shares its leaf with fewer of the most extreme normal ones (UDP flood
/// 0.70 and scans 0.75 against 0.67, instead of 0.695 and 0.72 against 0.688 at 1024).
const SOURCE_SAMPLE_SIZE: &str = "4096";

pub fn run(root: &Path) -> Result<()> {
    let bin = super::build_release(root, |_| ())?;
    let work = root.join("target/models");
    std::fs::create_dir_all(&work)?;
    for (kind, features) in [
        ("flow", None),
        ("host", Some((HOST_FEATURES, HOST_SAMPLE_SIZE))),
        ("source", Some((SOURCE_FEATURES, SOURCE_SAMPLE_SIZE))),
    ] {
        let csv = work.join(format!("{kind}.csv"));
        let csv = csv.to_str().context("non-UTF-8 path")?;
        let out = root.join(format!("models/{kind}.pgm"));
        let out = out.to_str().context("non-UTF-8 path")?;
        let mut generate = std::process::Command::new(&bin);
        generate.args([
            "model", "generate", "--kind", kind, "--rows", ROWS, "--seed", SEED, "--out", csv,
        ]);
        super::toolchain::run(&mut generate)?;
        let mut train = std::process::Command::new(&bin);
        train.args([
            "train",
            "--kind",
            kind,
            "--input",
            csv,
            "--out",
            out,
            "--seed",
            SEED,
            "--contamination",
            CONTAMINATION,
        ]);
        if let Some((f, sample_size)) = features {
            train.args(["--features", f, "--sample-size", sample_size]);
        }
        super::toolchain::run(&mut train)?;
    }
    eprintln!(
        "default models written to {}",
        root.join("models").display()
    );
    Ok(())
}
