//! `packetguard simulate`: flags to a [`simulate::Request`], a summary on stdout.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::evaluate::labels::{format_epoch, HEADER};
use crate::simulate::{
    self, AttackKind, AttackOptions, AttackSpec, StartAt, DEFAULT_DURATION_S, DEFAULT_START_PERCENT,
};

/// The attacks, their defaults and the labels format, built from the defaults themselves.
fn after_help() -> String {
    let mut text = String::from("Attacks (default rate, victim port):\n");
    for kind in AttackKind::ALL {
        let port = kind
            .default_port()
            .map(|p| format!(", port {p}"))
            .unwrap_or_default();
        let rate = format!("{} {}{port}", kind.default_rate(), kind.rate_unit());
        text.push_str(&format!("  {:<16} {rate}\n", kind.as_str()));
        let mut line = String::new();
        for word in kind.summary().split(' ') {
            if !line.is_empty() && line.len() + word.len() > 70 {
                text.push_str(&format!("{:19}{line}\n", ""));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        text.push_str(&format!("{:19}{line}\n", ""));
    }
    text.push_str(&format!(
        "
Options per attack override the flags: --attack KIND:key=value,... with keys rate, start,
duration, victim, attacker, port and the bare word spoofed, e.g.
  --attack syn-flood:rate=5000,spoofed --attack vertical-scan:victim=192.0.2.7,start=40%

Defaults: --start {DEFAULT_START_PERCENT}% of the capture's span, --duration {DEFAULT_DURATION_S} s, --victim the
capture's busiest destination, attacker 203.0.113.66 (the n-th attack .66+n; IPv6
2001:db8:bad::66); spoofed sources are random in 198.18.0.0/15 (IPv6 2001:db8:5900::/40).

The labels CSV has one row per attack:
  {HEADER}
times are seconds since the epoch (first and last injected packet), bytes are frame
bytes. A flow CSV input (from collect) gets one synthetic row per attack flow instead."
    ));
    text
}

/// Inject synthetic attacks into a capture (or flow CSV) and write their ground truth.
#[derive(Args, Debug)]
#[command(after_long_help = after_help())]
pub struct SimulateArgs {
    /// The capture (pcap or pcapng; Ethernet, raw IP or Linux cooked) or flow CSV.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// An attack to inject: KIND or KIND:key=value,... (see below); repeat for several.
    #[arg(long = "attack", value_name = "KIND[:OPTIONS]", required = true, value_parser = parse_attack)]
    pub attacks: Vec<AttackSpec>,
    /// Rate of every attack, in its unit (see below).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Start: seconds after the first packet, N% of the span, or @EPOCH seconds.
    #[arg(long, value_parser = parse_start)]
    pub start: Option<StartAt>,
    /// Duration of each attack, seconds [default: 10].
    #[arg(long)]
    pub duration: Option<f64>,
    /// The attacked host (the sender, for exfiltration) [default: busiest destination].
    #[arg(long)]
    pub victim: Option<IpAddr>,
    /// The attacking host [default: 203.0.113.66 + attack number, or 2001:db8:bad::66].
    #[arg(long, conflicts_with = "spoofed")]
    pub attacker: Option<IpAddr>,
    /// Forged random sources (floods only).
    #[arg(long)]
    pub spoofed: bool,
    /// The victim port (syn-flood, udp-flood, horizontal-scan, brute-force, exfiltration).
    #[arg(long)]
    pub port: Option<u16>,
    /// Seed of every random choice: the same input, options and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The labelled capture (pcap) or flow CSV to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The ground truth CSV to write.
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
}

fn parse_attack(s: &str) -> Result<AttackSpec, String> {
    s.parse()
        .map_err(|e: simulate::SimulateError| e.to_string())
}

fn parse_start(s: &str) -> Result<StartAt, String> {
    s.parse()
        .map_err(|e: simulate::SimulateError| e.to_string())
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let req = simulate::Request {
        input: args.input,
        out: args.out.clone(),
        labels: args.labels.clone(),
        attacks: args.attacks,
        global: AttackOptions {
            rate: args.rate,
            start: args.start,
            duration: args.duration,
            victim: args.victim,
            attacker: args.attacker,
            spoofed: args.spoofed.then_some(true),
            port: args.port,
        },
        seed: args.seed,
        progress: true,
    };
    let outcome = simulate::simulate(&req)?;
    if let Some(w) = &outcome.warning {
        eprintln!("warning: {w}; wrote what was read");
    }
    for l in &outcome.labels {
        let attacker = l.attacker.map(|a| a.to_string()).unwrap_or_default();
        println!(
            "{} {} -> {}: {} packets, {} to {}",
            l.attack,
            attacker,
            l.victim,
            l.packets.unwrap_or(0),
            format_epoch(l.start_ns),
            format_epoch(l.end_ns)
        );
    }
    println!(
        "wrote {} ({} original records) and {}",
        args.out.display(),
        outcome.input_records,
        args.labels.display()
    );
    Ok(())
}
