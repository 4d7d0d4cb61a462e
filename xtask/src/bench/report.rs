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
        "  {:>5} {:<24} {:>8} {:>8} {:>9} {:>8} {:>8} {:>6} {:>8} {:>6} {:>8} {:>6} {:>5}",
        "rate",
        "tool",
        "sent pps",
        "sent",
        "accounted",
        "share",
        "machine",
        "vs us",
        "tasks",
        "vs us",
        "own",
        "vs us",
        "bg"
    );
}

/// CPUs of this machine.
fn cpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// Whether other work leaves the machine's difference meaningless: the background left
/// less than one and a half CPUs idle (the generator takes one, the tool more), or the
/// window had every CPU busy. Then the generator's and the tool's work displaced other
/// work, and a background that changed after its sample is in the difference too.
fn saturated(m: &Measured, cpus: f64) -> bool {
    let w = &m.window;
    cpus - w.background < 1.5 || w.busy_s / w.elapsed_s.max(1e-9) > 0.95 * cpus
}

/// The generator alone's cost per packet sent at this rate, by `cost` (CPU seconds of one
/// run): both runs with no tool together. `None` when neither run worked.
fn baseline(group: &[Row], cost: impl Fn(&Measured) -> f64) -> Option<f64> {
    let runs: Vec<&Measured> = group
        .iter()
        .filter(|r| r.name == ALONE)
        .filter_map(|r| r.result.as_ref().ok())
        .collect();
    let sent: u64 = runs.iter().map(|m| m.sent.packets).sum();
    (sent > 0).then(|| runs.iter().map(|m| cost(m)).sum::<f64>() / sent as f64)
}

/// One tool run's three figures, CPU seconds per million packets accounted.
#[derive(Clone, Copy)]
struct Figures {
    /// Whole machine beyond its background and the generator alone's (`None`: no baseline
    /// or the machine was saturated).
    machine: Option<f64>,
    /// Generator, softirq threads and tool processes beyond the generator alone's.
    tasks: Option<f64>,
    own: f64,
}

fn machine_s(m: &Measured) -> f64 {
    m.window.net_s()
}

fn alone_tasks_s(m: &Measured) -> f64 {
    m.sent.cpu_s + m.window.softirqd_s
}

fn figures(m: &Measured, group: &[Row], cpus: f64) -> Figures {
    let per_million = |s: f64| s * 1e6 / m.accounted.max(1) as f64;
    let beyond = |total: f64, base: Option<f64>| {
        base.map(|b| per_million(total - b * m.sent.packets as f64))
    };
    Figures {
        machine: beyond(machine_s(m), baseline(group, machine_s)).filter(|_| !saturated(m, cpus)),
        tasks: beyond(m.tasks_s(), baseline(group, alone_tasks_s)),
        own: m.own_per_million(),
    }
}

fn ratio(x: Option<f64>, ours: Option<f64>) -> String {
    match (x, ours) {
        (Some(x), Some(o)) if o > 0.0 => format!("{:.1}x", x / o),
        _ => String::new(),
    }
}

fn figure(x: Option<f64>, m: &Measured, cpus: f64) -> String {
    match x {
        Some(x) => format!("{x:.3}"),
        None if saturated(m, cpus) => "busy".into(),
        None => "-".into(),
    }
}

/// Prints one rate's rows; `load` is the 1-minute load average when the rate started.
pub fn group(group: &[Row], load: &str) {
    let ours = group
        .iter()
        .find(|r| r.name.starts_with("PacketGuard"))
        .and_then(|r| r.result.as_ref().ok());
    let cpus = cpus();
    let ours_f = ours.map(|m| figures(m, group, cpus));
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
            l
        } else {
            row.name
        };
        let m = match &row.result {
            Ok(m) => m,
            Err(why) => {
                println!("  {rate:>5} {label:<24} failed: {why}");
                continue;
            }
        };
        let share = 100.0 * m.accounted as f64 / m.sent.packets.max(1) as f64;
        let cells: [String; 6] = if row.name == ALONE {
            // Its own cost per packet sent, not a difference: the figures subtracted.
            let per = |s: f64| Some(s * 1e6 / m.sent.packets.max(1) as f64);
            let machine = per(machine_s(m)).filter(|_| !saturated(m, cpus));
            [
                figure(machine, m, cpus),
                String::new(),
                figure(per(alone_tasks_s(m)), m, cpus),
                String::new(),
                String::new(),
                String::new(),
            ]
        } else {
            let f = figures(m, group, cpus);
            let of = |pick: fn(&Figures) -> Option<f64>| {
                if ours.is_some_and(|o| std::ptr::eq(o, m)) {
                    String::new()
                } else {
                    ratio(pick(&f), ours_f.as_ref().and_then(pick))
                }
            };
            [
                figure(f.machine, m, cpus),
                of(|f| f.machine),
                figure(f.tasks, m, cpus),
                of(|f| f.tasks),
                format!("{:.3}", f.own),
                of(|f| Some(f.own)),
            ]
        };
        println!(
            "  {rate:>5} {label:<24} {:>8.0} {:>8} {:>9} {share:>7.2}% {:>8} {:>6} {:>8} {:>6} \
             {:>8} {:>6} {:>5.2}",
            m.sent.rate(),
            m.sent.packets,
            m.accounted,
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
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
        if row.rate > 0 && m.sent.rate() > 1.1 * row.rate as f64 {
            println!(
                "  {:>5} {:<24} sent faster than asked: trafgen's shaper did not hold the rate",
                "", ""
            );
        }
        if let Some(note) = &m.note {
            println!("  {:>5} {:<24} {note}", "", "");
        }
    }
    least(group);
}

/// Which tool used the least CPU per million packets at this rate, by each figure.
fn least(group: &[Row]) {
    let tools: Vec<(&str, Figures)> = group
        .iter()
        .filter(|r| r.name != ALONE)
        .filter_map(|r| {
            r.result
                .as_ref()
                .ok()
                .map(|m| (r.name, figures(m, group, cpus())))
        })
        .collect();
    let by = |pick: fn(&Figures) -> Option<f64>| {
        tools
            .iter()
            .filter_map(|(n, f)| pick(f).map(|x| (*n, x)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("-".to_string(), |(n, _)| n.to_string())
    };
    println!(
        "  {:>5} least CPU per million packets: machine {}; tasks {}; own {}",
        "",
        by(|f| f.machine),
        by(|f| f.tasks),
        by(|f| Some(f.own))
    );
}

pub fn notes(count: u64) {
    let tick = 1e6 / count as f64 / ticks_per_second();
    for line in [
        "CPU seconds per million packets accounted, three ways:",
        "machine: all CPUs' busy time (/proc/stat: user, nice, system, irq, softirq) from just",
        "before the send until the tool is idle again, less the background (busy CPUs in the",
        "second before the send, the tool started and idle: column bg) over that time, less the",
        "generator alone's cost for as many packets (its two runs at the rate together; its rows",
        "show that cost per packet sent). \"busy\": the background left less than 1.5 CPUs idle",
        "or every CPU was busy in the window, so the difference cannot be told from the other",
        "work it displaced or from a background that changed after its sample.",
        "tasks: the same difference for the generator's process, the kernel's softirq threads",
        "and the tool's processes only, which hold all of the packets' work (the veth's receive,",
        "XDP and AF_PACKET delivery run in softirqs, charged to the task they interrupt) and",
        "little of anything else: it holds up while other work runs.",
        "Every tool's kernel work is in machine and tasks alike.",
        "own: the tool's processes' user + system time (softflowd: softflowd and nfcapd), plus",
        "PacketGuard's XDP program run time (kernel BPF statistics); the kernel's AF_PACKET",
        "delivery to the others is in no tool's own figure.",
        "\"vs us\": that figure over PacketGuard's at the same rate.",
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

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
