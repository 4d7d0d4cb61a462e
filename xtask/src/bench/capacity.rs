//! Capture capacity: the generator sends the same fixed count of mixed small packets at
//! rising rates into the victim's interface; for each rate and each tool, what was sent,
//! what the tool accounted for, and CPU seconds per million packets sent. Each tool runs
//! alone (started fresh for every rate), so no tool's CPU use slows another.

use anyhow::Result;

use super::{generator::Sent, lab::Lab, proc::last_line};

/// What one tool did with one send.
pub struct Measured {
    pub sent: Sent,
    /// Packets the tool's own totals say it saw.
    pub accounted: u64,
    /// User plus system CPU seconds of the tool's process while it took the packets in.
    pub cpu_s: f64,
    /// Kernel time of an XDP program, for a tool that has one (from `run_time_ns`).
    pub kernel_s: Option<f64>,
}

impl Measured {
    /// Every packet sent is in the tool's totals (FastNetMon's can run a little over).
    fn complete(&self) -> bool {
        self.accounted >= self.sent.packets
    }

    /// CPU seconds per million packets accounted for, the process's and the XDP program's
    /// together: what the tool spent per packet it did take in.
    fn cpu_per_million(&self) -> f64 {
        (self.cpu_s + self.kernel_s.unwrap_or(0.0)) * 1e6 / self.accounted.max(1) as f64
    }
}

/// A tool the capacity bench measures.
pub trait Peer {
    fn name(&self) -> &'static str;
    /// Why the tool cannot run here, if it cannot (one line).
    fn missing(&self) -> Option<String>;
    /// Starts the tool on the victim's interface, sends `count` mixed packets at `rate`
    /// (0: as fast as the generator can), and reports what the tool accounted for.
    fn measure(&self, lab: &Lab, count: u64, rate: u64) -> Result<Measured>;
}

fn rate_name(rate: u64) -> String {
    if rate == 0 {
        "max".to_string()
    } else {
        format!("{}k", rate / 1000)
    }
}

/// One tool's results: the rates it ran at, in order.
struct Results<'a> {
    peer: &'a dyn Peer,
    rows: Vec<(u64, Measured)>,
    skipped: Option<String>,
}

/// Runs every tool at every rate and prints the table and the summary.
pub fn run(lab: &Lab, peers: &[&dyn Peer], count: u64, rates: &[u64]) -> Result<()> {
    println!(
        "Capture capacity ({count} mixed packets per rate: TCP SYN, TCP ACK, UDP, ICMP echo, \
         54 to 60 bytes, up to 16384 flows; trafgen on one core into the victim's veth)"
    );
    println!(
        "  {:<22} {:>6} {:>9} {:>10} {:>10} {:>8} {:>12} {:>9}",
        "tool", "rate", "sent pps", "sent", "accounted", "share", "CPU s/Mpkt", "vs ours"
    );
    let mut all: Vec<Results> = Vec::new();
    for &peer in peers {
        let mut res = Results {
            peer,
            rows: Vec::new(),
            skipped: peer.missing(),
        };
        if let Some(why) = &res.skipped {
            println!("  {:<22} not run: {why}", peer.name());
            all.push(res);
            continue;
        }
        for &rate in rates {
            super::signals::check()?;
            match peer.measure(lab, count, rate) {
                Ok(m) => {
                    print_row(
                        peer.name(),
                        rate,
                        &m,
                        all.first().and_then(|r| find(r, rate)),
                    );
                    res.rows.push((rate, m));
                }
                Err(e) => {
                    super::signals::check()?;
                    println!(
                        "  {:<22} {:>6} failed: {}",
                        peer.name(),
                        rate_name(rate),
                        last_line(&format!("{e:#}"))
                    );
                }
            }
        }
        all.push(res);
    }
    for line in [
        "CPU s/Mpkt is per million packets accounted for: the tool's own process (user + system,",
        "all threads) from just before the send until it is idle again, plus for PacketGuard its XDP",
        "program's run time (kernel BPF statistics). The kernel's AF_PACKET delivery to the other",
        "tools is in no tool's figure. \"vs ours\": that CPU over PacketGuard's at the same rate.",
    ] {
        println!("  {line}");
    }
    println!(
        "  Process CPU comes in clock ticks: one tick is {:.3} s per million of {count} packets.",
        1e6 / count as f64 / super::proc::ticks_per_second()
    );
    summary(&all);
    Ok(())
}

fn find<'r>(ours: &'r Results, rate: u64) -> Option<&'r Measured> {
    ours.rows.iter().find(|(r, _)| *r == rate).map(|(_, m)| m)
}

fn print_row(name: &str, rate: u64, m: &Measured, ours: Option<&Measured>) {
    let share = 100.0 * m.accounted as f64 / m.sent.packets.max(1) as f64;
    let ratio = match ours {
        Some(o) if !std::ptr::eq(o, m) && o.cpu_per_million() > 0.0 => {
            format!("{:.1}x", m.cpu_per_million() / o.cpu_per_million())
        }
        _ => String::new(),
    };
    println!(
        "  {:<22} {:>6} {:>9.0} {:>10} {:>10} {:>7.2}% {:>12.3} {:>9}",
        name,
        rate_name(rate),
        m.sent.rate(),
        m.sent.packets,
        m.accounted,
        share,
        m.cpu_per_million(),
        ratio
    );
    if let Some(k) = m.kernel_s {
        println!(
            "  {:<22} {:>6} of which XDP in the kernel {:.3} s/Mpkt, agent process {:.3} s/Mpkt",
            "",
            "",
            k * 1e6 / m.accounted.max(1) as f64,
            m.cpu_s * 1e6 / m.accounted.max(1) as f64
        );
    }
}

fn summary(all: &[Results]) {
    println!("  Highest sending rate with every packet accounted for:");
    for r in all {
        let line = if let Some(why) = &r.skipped {
            format!("not run ({why})")
        } else {
            let best = r
                .rows
                .iter()
                .filter(|(_, m)| m.complete())
                .map(|(_, m)| m.sent.rate())
                .fold(None, |acc: Option<f64>, x| {
                    Some(acc.map_or(x, |a| a.max(x)))
                });
            let top = r
                .rows
                .iter()
                .map(|(_, m)| m.sent.rate())
                .fold(0.0, f64::max);
            match best {
                Some(b) if b >= top => {
                    format!("{b:.0} pps (every rate sent, up to the generator's highest)")
                }
                Some(b) => format!("{b:.0} pps (lost packets above it)"),
                None if r.rows.is_empty() => "no result".to_string(),
                None => "none (lost packets at every rate)".to_string(),
            }
        };
        println!("    {:<22} {line}", r.peer.name());
    }
}
