//! The capacity bench's table: one group of rows per rate (the generator alone before and
//! after the tools, each tool between), the method's notes, and the highest rate at which
//! each tool accounted for every packet.

use super::{
    capacity::{Measured, Peer, ALONE},
    proc::ticks_per_second,
};

/// One measurement, or why it failed (one line).
pub struct Row {
    pub name: &'static str,
    pub rate: u64,
    pub result: Result<Measured, String>,
}

/// Background busy-ness above this (CPUs' worth) is reported as other work.
const BUSY_WARNING: f64 = 0.10;

pub fn rate_name(rate: u64) -> String {
    if rate == 0 {
        "max".to_string()
    } else {
        format!("{}k", rate / 1000)
    }
}

pub fn header() {
    println!(
        "  {:>5} {:<24} {:>9} {:>9} {:>9} {:>8} {:>9} {:>7} {:>9} {:>7} {:>5}",
        "rate",
        "tool",
        "sent pps",
        "sent",
        "accounted",
        "share",
        "machine",
        "vs ours",
        "own",
        "vs ours",
        "bg"
    );
}

/// The generator's own machine cost per packet at this rate: both runs with no tool
/// together. `None` when neither run worked.
fn baseline_per_packet(group: &[Row]) -> Option<f64> {
    let runs: Vec<&Measured> = group
        .iter()
        .filter(|r| r.name == ALONE)
        .filter_map(|r| r.result.as_ref().ok())
        .collect();
    let sent: u64 = runs.iter().map(|m| m.sent.packets).sum();
    (sent > 0).then(|| runs.iter().map(|m| m.window.net_s()).sum::<f64>() / sent as f64)
}

/// Machine CPU seconds per million packets accounted, beyond the generator alone's.
fn machine_per_million(m: &Measured, base_pp: f64) -> f64 {
    (m.window.net_s() - base_pp * m.sent.packets as f64) * 1e6 / m.accounted.max(1) as f64
}

fn ratio(x: Option<f64>, ours: Option<f64>) -> String {
    match (x, ours) {
        (Some(x), Some(o)) if o > 0.0 => format!("{:.1}x", x / o),
        _ => String::new(),
    }
}

/// Prints one rate's rows; `load` is the 1-minute load average when the rate started.
pub fn group(group: &[Row], load: &str) {
    let base = baseline_per_packet(group);
    let machine = |m: &Measured| base.map(|b| machine_per_million(m, b));
    let ours = group
        .iter()
        .find(|r| r.name.starts_with("PacketGuard"))
        .and_then(|r| r.result.as_ref().ok());
    let (ours_machine, ours_own) = (ours.and_then(machine), ours.map(Measured::own_per_million));
    let rate = rate_name(group.first().map_or(0, |r| r.rate));
    println!("  at {rate}: load average {load}");
    let mut alone_seen = false;
    for row in group {
        let label = if row.name == ALONE {
            let l = if alone_seen {
                "generator alone, after"
            } else {
                "generator alone, before"
            };
            alone_seen = true;
            l.to_string()
        } else {
            row.name.to_string()
        };
        let m = match &row.result {
            Ok(m) => m,
            Err(why) => {
                println!("  {rate:>5} {label:<24} failed: {why}");
                continue;
            }
        };
        let share = 100.0 * m.accounted as f64 / m.sent.packets.max(1) as f64;
        let (mach, own) = if row.name == ALONE {
            // Its own cost per packet sent, not a difference: the figure subtracted.
            let pp = m.window.net_s() * 1e6 / m.sent.packets.max(1) as f64;
            (format!("{pp:.3}"), String::new())
        } else {
            (
                machine(m).map_or("-".into(), |x| format!("{x:.3}")),
                format!("{:.3}", m.own_per_million()),
            )
        };
        let is_ours = ours.is_some_and(|o| std::ptr::eq(o, m));
        let (vs_m, vs_o) = if row.name == ALONE || is_ours {
            (String::new(), String::new())
        } else {
            (
                ratio(machine(m), ours_machine),
                ratio(Some(m.own_per_million()), ours_own),
            )
        };
        println!(
            "  {rate:>5} {label:<24} {:>9.0} {:>9} {:>9} {share:>7.2}% {mach:>9} {vs_m:>7} \
             {own:>9} {vs_o:>7} {:>5.2}",
            m.sent.rate(),
            m.sent.packets,
            m.accounted,
            m.window.background,
        );
        if let Some(k) = m.kernel_s {
            let per = |s: f64| s * 1e6 / m.accounted.max(1) as f64;
            println!(
                "  {:>5} {:<24} own: XDP in the kernel {:.3}, agent process {:.3}",
                "",
                "",
                per(k),
                per(m.cpu_s)
            );
        }
    }
}

pub fn notes(count: u64) {
    let tick = 1e6 / count as f64 / ticks_per_second();
    for line in [
        "machine: CPU seconds per million packets accounted, all CPUs' busy time (/proc/stat: user,",
        "nice, system, irq, softirq) from just before the send until the tool is idle again, less",
        "the background (busy CPUs in the second before the send, the tool started and idle; the",
        "\"bg\" column) over the same time, less the generator alone's machine cost for as many",
        "packets (its two runs at the rate together; its rows show that cost per packet sent).",
        "Every tool's kernel work is in it alike: XDP, AF_PACKET copies, libpcap's ring.",
        "own: the tool's processes' user + system time (softflowd: softflowd and nfcapd), plus",
        "PacketGuard's XDP program run time (kernel BPF statistics); the kernel's AF_PACKET",
        "delivery to the others is in no tool's own figure.",
        "\"vs ours\": that figure over PacketGuard's at the same rate.",
    ] {
        println!("  {line}");
    }
    println!(
        "  CPU times come in clock ticks: one tick is {tick:.3} s per million of {count} packets."
    );
}

/// The highest rate at which each tool accounted for every packet, and a warning when other
/// work was running during the runs.
pub fn summary(rows: &[Row], peers: &[&dyn Peer]) {
    fn ok<'a>(rows: &'a [Row], name: &'a str) -> impl Iterator<Item = (u64, &'a Measured)> {
        rows.iter()
            .filter(move |r| r.name == name)
            .filter_map(|r| r.result.as_ref().ok().map(|m| (r.rate, m)))
    }
    let generator_top = ok(rows, ALONE)
        .map(|(_, m)| m.sent.rate())
        .fold(0.0, f64::max);
    println!(
        "  Highest rate with every packet accounted for (the generator alone reached \
         {generator_top:.0} pps at most):"
    );
    for peer in peers {
        let runs: Vec<(u64, &Measured)> = ok(rows, peer.name()).collect();
        let best = runs
            .iter()
            .filter(|(_, m)| m.complete())
            .max_by(|a, b| a.1.sent.rate().total_cmp(&b.1.sent.rate()));
        let lost: Vec<String> = runs
            .iter()
            .filter(|(_, m)| !m.complete())
            .map(|(r, m)| {
                let share = 100.0 * m.accounted as f64 / m.sent.packets.max(1) as f64;
                format!("{} {share:.2}%", rate_name(*r))
            })
            .collect();
        let line = match best {
            None if runs.is_empty() => "no result".to_string(),
            None => format!("none (accounted at {})", lost.join(", ")),
            Some((r, m)) => {
                let tail = if lost.is_empty() {
                    "every rate".to_string()
                } else {
                    format!("lost packets at {}", lost.join(", "))
                };
                format!("{} ({:.0} pps sent); {tail}", rate_name(*r), m.sent.rate())
            }
        };
        println!("    {:<22} {line}", peer.name());
    }
    let bgs: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|m| m.window.background))
        .collect();
    let top = bgs.iter().copied().fold(0.0, f64::max);
    if top > BUSY_WARNING {
        let mut sorted = bgs.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "  Warning: other work was running: up to {top:.2} CPUs busy before a send (median \
             {:.2}; load average {} now). The figures are net of it, but it competes for the \
             same CPUs and caches: they are noisy, and can go below zero.",
            sorted[sorted.len() / 2],
            super::load_average()
        );
    }
}
