//! Detection delay: one spoofed SYN flood at the victim, watched at the same time by
//! FastNetMon (AF_PACKET, its per-host pps threshold at the flood's rate) and by
//! `packetguard run` (native XDP, the shipped default models). The figure is the time
//! from the flood's start to FastNetMon's attack log line naming the victim, and to our
//! first JSON event naming it, both seen by polling the files they write.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::{
    fastnetmon,
    generator::{self, Traffic},
    lab::{Lab, VICTIM_IF, VICTIM_V4},
    proc::last_line,
};

/// The flood's nominal rate; the generator's real rate is measured before.
const FLOOD_PPS: u64 = 10_000;
/// The longest the flood runs: FastNetMon averages rates over several seconds.
const FLOOD_LIMIT: Duration = Duration::from_secs(45);
/// The threshold is this share of the measured rate, so that an average of the flood can
/// cross it.
const THRESHOLD_SHARE: f64 = 0.9;

fn contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path)
        .map(|t| t.lines().any(|l| l.contains(needle)))
        .unwrap_or(false)
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(
        || format!("not within {} s", FLOOD_LIMIT.as_secs()),
        |d| format!("{:.2} s", d.as_secs_f64()),
    )
}

pub fn run(
    lab: &Lab,
    agent: &Path,
    models: &Path,
    fastnetmon_missing: Option<String>,
) -> Result<()> {
    // The generator's real rate here, before anything watches: a 2 s burst.
    let calibration = generator::send(lab, Traffic::SynFlood, FLOOD_PPS * 2, FLOOD_PPS)?;
    let rate = calibration.rate();
    let threshold = (rate * THRESHOLD_SHARE) as u64;
    println!(
        "Detection delay (one spoofed SYN flood from 198.19.0.0/16 at {rate:.0} pps measured, \
         {FLOOD_PPS} nominal; both watching at once)"
    );

    let fnm = match &fastnetmon_missing {
        Some(why) => {
            println!("  FastNetMon not run: {why}");
            None
        }
        None => {
            let config = fastnetmon::write_config(lab, Some(threshold))?;
            match fastnetmon::start(lab, &config) {
                Ok(p) => Some(p),
                Err(e) => {
                    println!("  FastNetMon not run: {}", last_line(&format!("{e:#}")));
                    None
                }
            }
        }
    };
    let events = lab.dir.join("events.jsonl");
    let mut pg = lab.spawn(
        &lab.victim,
        "packetguard-run",
        &[
            &agent.to_string_lossy(),
            "run",
            "-i",
            VICTIM_IF,
            "--direction",
            "ingress",
            "--xdp-mode",
            "native",
            "--model",
            &models.to_string_lossy(),
            "--events",
            &events.to_string_lossy(),
            "--no-ui",
            "--metrics-addr",
            "127.0.0.1:9464",
        ],
    )?;
    pg.wait_for_output("attached:", Duration::from_secs(60))
        .context("starting packetguard run")?;

    let fnm_log = fastnetmon::log_path(lab);
    let fnm_line = format!("Attack with direction: incoming IP: {VICTIM_V4}");
    let victim = format!("\"{VICTIM_V4}\"");
    let count = FLOOD_PPS * FLOOD_LIMIT.as_secs();
    let start = Instant::now();
    let mut flood = generator::start(lab, Traffic::SynFlood, count, FLOOD_PPS)?;
    let (mut ours, mut theirs) = (None, None);
    while start.elapsed() < FLOOD_LIMIT {
        super::signals::check()?;
        if ours.is_none() && contains(&events, &victim) {
            ours = Some(start.elapsed());
        }
        if theirs.is_none() && fnm.is_some() && contains(&fnm_log, &fnm_line) {
            theirs = Some(start.elapsed());
        }
        if ours.is_some() && (theirs.is_some() || fnm.is_none()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(flood.stop(libc::SIGINT, Duration::from_secs(5)));
    if fnm.is_some() {
        println!(
            "  FastNetMon, threshold_pps {threshold} ({:.0}% of the measured rate), its other \
             settings as shipped: attack log line after {}",
            THRESHOLD_SHARE * 100.0,
            seconds(theirs)
        );
    }
    let ratio = match (ours, theirs) {
        (Some(o), Some(t)) if o.as_secs_f64() > 0.0 => {
            format!("  ({:.1}x sooner)", t.as_secs_f64() / o.as_secs_f64())
        }
        _ => String::new(),
    };
    println!(
        "  PacketGuard run, shipped default models: first event naming {VICTIM_V4} after {}{ratio}",
        seconds(ours)
    );
    let _ = pg.stop(libc::SIGTERM, Duration::from_secs(20));
    if let Some(mut f) = fnm {
        let _ = f.stop(libc::SIGTERM, Duration::from_secs(20));
    }
    Ok(())
}
