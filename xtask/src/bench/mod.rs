//! `cargo xtask bench`'s side-by-side figures: PacketGuard against the tools an operator
//! would deploy instead, on the same interface, from one run.
//!
//! - [`capacity`]: packets accounted and CPU per million packets at rising rates (whole
//!   machine by [`meter`], less the generator alone's; and each tool's own), for
//!   PacketGuard ([`packetguard`]), FastNetMon ([`fastnetmon`]), softflowd with nfcapd
//!   ([`softflowd`]) and a Scapy + scikit-learn pipeline ([`seed`]).
//! - [`delay`]: time from a spoofed SYN flood's start to FastNetMon's attack line and to
//!   PacketGuard's first event.
//!
//! Everything runs in the bench's own two namespaces ([`lab`]); traffic comes from
//! [`generator`] and stays on their veth pair.
mod capacity;
mod delay;
mod fastnetmon;
mod generator;
mod install;
mod lab;
mod meter;
mod packetguard;
mod proc;
mod report;
mod seed;
mod signals;
mod softflowd;

use std::path::Path;

use anyhow::Result;

use self::capacity::Peer;

/// Packets per rate and the rates (packets per second; 0: as fast as the generator can).
pub struct Plan {
    pub count: u64,
    pub rates: Vec<u64>,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                count: 100_000,
                rates: vec![50_000, 0],
            }
        } else {
            Plan {
                count: 500_000,
                rates: vec![50_000, 100_000, 200_000, 400_000, 0],
            }
        }
    }
}

/// The 1-minute load average, from /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Runs the peers bench with `agent` (the release binary) and prints its figures.
pub fn run(root: &Path, target: &Path, agent: &Path, plan: &Plan) -> Result<()> {
    signals::install();
    install::ensure();
    if let Some(why) = install::missing_program(&["trafgen"]) {
        println!("Peers side by side: not run ({why}; the generator is netsniff-ng's trafgen)");
        return Ok(());
    }
    let _stats = packetguard::BpfStats::enable()?;
    let lab = lab::Lab::new()?;
    let pg = packetguard::PacketGuard {
        bin: agent.to_path_buf(),
        mode: "native",
    };
    let pg_skb = packetguard::PacketGuard {
        bin: agent.to_path_buf(),
        mode: "skb",
    };
    let fnm = fastnetmon::FastNetMon;
    let sf = softflowd::Softflowd;
    let seed = seed::Seed::new(root, target);
    let peers: [&dyn Peer; 5] = [&pg, &pg_skb, &fnm, &sf, &seed];
    let busy = meter::busy_share(std::time::Duration::from_secs(1))?;
    println!(
        "Peers side by side, one tool at a time on the same veth ({} CPUs; load average {} \
         and {:.0}% of all CPU time busy at the start, other work included)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        100.0 * busy
    );
    capacity::run(&lab, &peers, plan.count, &plan.rates)?;
    delay::run(&lab, agent, &root.join("models"), fnm.missing())
}
