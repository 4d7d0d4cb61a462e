//! Capture capacity: the generator sends the same fixed count of mixed small packets at
//! rising rates into the victim's interface; for each rate and each tool, what was sent,
//! what the tool accounted for, and CPU seconds per million packets accounted. Each tool
//! runs alone (started fresh for every rate), so no tool's CPU use slows another.
//!
//! CPU is measured two ways ([`report`] prints both):
//! - the machine's: every CPU's busy time ([`meter`]) from just before the send until the
//!   tool is idle again, less the background measured just before, less what the
//!   generator alone costs at that rate (a run with no tool, before and after the tools at
//!   each rate, in the same bench run): what taking the packets in cost the machine,
//!   kernel work included, whichever CPU or process it ran on;
//! - the tool's own: its processes' user + system time, plus for PacketGuard its XDP
//!   program's run time (kernel BPF statistics).
//!
//! [`meter`]: super::meter
//! [`report`]: super::report

use anyhow::Result;

use super::{
    generator::{self, Sent, Traffic},
    lab::Lab,
    meter::{Meter, Window},
    proc::last_line,
    report::{self, Row},
};

/// What one tool did with one send.
pub struct Measured {
    pub sent: Sent,
    /// Packets the tool's own totals say it saw.
    pub accounted: u64,
    /// User plus system CPU seconds of the tool's processes while it took the packets in.
    pub cpu_s: f64,
    /// Kernel time of an XDP program, for a tool that has one (from `run_time_ns`).
    pub kernel_s: Option<f64>,
    /// The whole machine over the same time.
    pub window: Window,
    /// What else the tool's own counters said, for the row's second line.
    pub note: Option<String>,
}

impl Measured {
    /// CPU seconds of the generator, the kernel's softirq threads and the tool's processes:
    /// all the packets' work, whatever else the machine runs. The XDP program's time is in
    /// it already (it runs in the softirq, charged to the generator or a softirq thread).
    pub fn tasks_s(&self) -> f64 {
        self.sent.cpu_s + self.window.softirqd_s + self.cpu_s
    }

    /// Every packet sent is in the tool's totals (FastNetMon's can run a little over).
    pub fn complete(&self) -> bool {
        self.accounted >= self.sent.packets
    }

    /// The tool's own CPU seconds per million packets accounted for, the process's and
    /// the XDP program's together.
    pub fn own_per_million(&self) -> f64 {
        (self.cpu_s + self.kernel_s.unwrap_or(0.0)) * 1e6 / self.accounted.max(1) as f64
    }
}

/// A tool the capacity bench measures.
pub trait Peer {
    fn name(&self) -> &'static str;
    /// Why the tool cannot run here, if it cannot (one line).
    fn missing(&self) -> Option<String>;
    /// Starts the tool on the victim's interface, sends `count` mixed packets at `rate`
    /// (0: as fast as the generator can) inside a [`Meter`] window that ends when the
    /// tool is idle again, and reports what the tool accounted for.
    fn measure(&self, lab: &Lab, count: u64, rate: u64) -> Result<Measured>;
}

/// The generator with no tool on the victim: the machine's cost of sending and of the
/// victim's receive and early drop, which is in every tool's window too. Its "accounted"
/// is what the victim's ingress hook dropped (or, without the drop, what `v0` received):
/// every frame sent must be there.
pub struct Alone;

pub const ALONE: &str = "generator alone";

impl Peer for Alone {
    fn name(&self) -> &'static str {
        ALONE
    }

    fn missing(&self) -> Option<String> {
        None
    }

    fn measure(&self, lab: &Lab, count: u64, rate: u64) -> Result<Measured> {
        let received = || -> Result<u64> {
            Ok(match lab.early_dropped()? {
                Some(n) => n,
                None => lab.link_counter(&lab.victim, super::lab::VICTIM_IF, "rx_packets")?,
            })
        };
        let before = received()?;
        let meter = Meter::start()?;
        let sent = generator::send(lab, Traffic::Mix, count, rate)?;
        let window = meter.stop()?;
        Ok(Measured {
            sent,
            accounted: received()? - before,
            cpu_s: 0.0,
            kernel_s: None,
            window,
            note: None,
        })
    }
}

/// Runs the generator alone, then every tool, then the generator alone again, at each rate
/// in turn, and prints the table and the summary.
pub fn run(lab: &Lab, peers: &[&dyn Peer], count: u64, rates: &[u64]) -> Result<()> {
    let drop = match &lab.no_early_drop {
        None => "the victim drops every frame at its ingress hook, after every capture point",
        Some(_) => "every frame through the victim's IP stack",
    };
    println!(
        "Capture capacity ({count} mixed packets per rate: TCP SYN, TCP ACK, UDP, ICMP echo, \
         54 to 60 bytes, up to 16384 flows; {}; {drop})",
        generator::DESCRIPTION
    );
    if let Some(why) = &lab.no_early_drop {
        println!("  no early drop in the victim: {why}");
    }
    report::header();
    let runnable: Vec<&dyn Peer> = peers
        .iter()
        .copied()
        .filter(|p| match p.missing() {
            Some(why) => {
                println!("  {:<22} not run: {why}", p.name());
                false
            }
            None => true,
        })
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    for &rate in rates {
        let load = super::load_average();
        let mut group: Vec<Row> = Vec::new();
        let mut order: Vec<&dyn Peer> = vec![&Alone];
        order.extend(runnable.iter().copied());
        order.push(&Alone);
        for peer in order {
            super::signals::check()?;
            let result = peer
                .measure(lab, count, rate)
                .map_err(|e| last_line(&format!("{e:#}")).to_string());
            super::signals::check()?;
            group.push(Row {
                name: peer.name(),
                rate,
                result,
            });
        }
        report::group(&group, &load);
        rows.extend(group);
    }
    report::notes(count);
    report::summary(&rows, &runnable);
    Ok(())
}
