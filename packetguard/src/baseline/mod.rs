//! Generated normal traffic: the training data of the shipped default models.
//!
//! `packetguard model generate --kind flow|host|source` writes rows of the model's features
//! for traffic that a healthy host sees, drawn from a fixed set of profiles with a seeded
//! generator, so the same command always writes the same file:
//!
//! - [`flows`]: conversations (TCP request/response and bulk transfers, UDP queries and
//!   streams, ICMP echo) simulated packet by packet through the same flow arithmetic the
//!   XDP program runs, seen from one side (XDP sees ingress only) or both (a router);
//! - [`hosts`]: one-second windows of a destination host (quiet, web or DNS server, bulk
//!   receiver or sender, login or database server, pinged), built with the same feature
//!   function the agent uses;
//! - [`sources`]: one-second windows of a source address (idle, web and API clients, DNS
//!   and NTP clients, bulk uploads and downloads, SSH, a server's replies, ping, media
//!   streams), built with the agent's source feature function;
//! - `logins`: the login activity of both (SSH sessions and copies, an Ansible-like run,
//!   a mail client, a database pool, and their servers), which the source and destination
//!   profiles draw from.
//!
//! `cargo xtask models` generates all three and trains `models/flow.pgm`, `models/host.pgm`
//! and `models/source.pgm` from them (see models/README.md). A detector trained this way knows what ordinary traffic
//! looks like, not what a given network looks like: `packetguard run --learn` replaces the
//! defaults with models of the host's own traffic.

pub mod flows;
pub mod hosts;
mod logins;
pub mod sources;

use std::{io::Write, path::PathBuf};

use anyhow::{Context, Result};
use packetguard_forest::cli::ModelKind;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// Arguments of `packetguard model generate`.
#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Which model's features to generate.
    #[arg(long, value_enum)]
    pub kind: ModelKind,
    /// Rows to write.
    #[arg(long, default_value_t = 20_000)]
    pub rows: usize,
    /// Seed of the generator: the same seed and row count give the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// CSV file to write (header: the feature names).
    #[arg(long)]
    pub out: PathBuf,
}

/// A value drawn log-uniformly from `[lo, hi]`: rates and sizes span orders of magnitude.
pub(crate) fn log_uniform(rng: &mut SmallRng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..=hi.ln())).exp()
}

/// One CSV line of numbers.
fn write_row(w: &mut impl Write, row: &[f64]) -> std::io::Result<()> {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{v}")?;
    }
    w.write_all(b"\n")
}

/// Writes the rows.
pub fn run_generate(args: &GenerateArgs) -> Result<()> {
    let mut rng = SmallRng::seed_from_u64(args.seed);
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "{}", args.kind.default_features().join(","))?;
    let mut written = 0;
    while written < args.rows {
        match args.kind {
            // A conversation gives one or several records, each a row.
            ModelKind::Flow => {
                for row in flows::generate(&mut rng).iter().take(args.rows - written) {
                    write_row(&mut w, row)?;
                    written += 1;
                }
            }
            ModelKind::Host => {
                write_row(&mut w, &hosts::generate(&mut rng))?;
                written += 1;
            }
            ModelKind::Source => {
                write_row(&mut w, &sources::generate(&mut rng))?;
                written += 1;
            }
        }
    }
    w.flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} generated normal {} rows to {}",
        args.rows,
        args.kind.as_str(),
        args.out.display()
    );
    Ok(())
}
