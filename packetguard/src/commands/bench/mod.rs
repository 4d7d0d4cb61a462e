//! `packetguard bench`: prints the data path's figures. Not a test: numbers vary by machine.
//!
//! - [`xdp`]: XDP cost per packet, through `BPF_PROG_TEST_RUN` with repeats, for the full
//!   program, a count-only baseline and the per-flow floor from the same object, with kernel
//!   BPF run-time statistics (`run_time_ns / run_cnt`) beside the test-run timing.
//! - Ring buffer drain rate: the kernel fills the buffer with real flow records (a 1 ns
//!   active timeout makes every second packet emit one), then the agent's drain loop
//!   decodes them on one core.
//! - [`agent`]: the same records drained and scored with the flow model, and the memory
//!   and scan times with a million live flows.
//! - [`analyze`]: `packetguard analyze` on a million-packet capture, end to end.

mod agent;
mod analyze;
mod xdp;
mod xdp_mix;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use packetguard_common::config::PROGRAM_XDP;

use crate::datapath::{
    drain::{Drain, Event},
    DataPath, DataPathConfig,
};

/// Arguments of `packetguard bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Test-run repeats per measurement.
    #[arg(long, default_value_t = 2_000_000)]
    pub repeat: u32,
    /// Ring buffer records to drain.
    #[arg(long, default_value_t = 2_000_000)]
    pub records: u64,
    /// Live flows for the memory figures.
    #[arg(long, default_value_t = 1_000_000)]
    pub live_flows: u32,
}

/// A TCP/IPv4 ACK frame with 100 bytes of payload and the given source port.
fn tcp_frame(sport: u16) -> Vec<u8> {
    tcp_frame_from(1, sport)
}

/// The same frame from source address 192.0.2.`src_host`.
fn tcp_frame_from(src_host: u8, sport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 140, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, src_host, 198, 51, 100, 1,
    ]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&[
        0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    f.extend(std::iter::repeat_n(0u8, 100));
    f
}

pub fn run(args: BenchArgs) -> Result<()> {
    // Keeps kernel run-time statistics on while this fd is open.
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime)
        .context("enabling BPF run-time statistics")?;
    xdp::print_costs(args.repeat)?;

    let rate = drain_rate(args.records)?;
    println!("Ring buffer drain (agent decode loop, one core)");
    println!("  {:.2} M records/s  (target at least 5 M/s)", rate / 1e6);

    let rate = agent::drain_and_score_rate(args.records)?;
    println!("Agent end to end: drained and scored with the flow model (one core)");
    println!("  {:.2} M records/s  (target at least 1 M/s)", rate / 1e6);

    let live = agent::live_flows(args.live_flows)?;
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!("With {} live flows", live.flows);
    println!(
        "  created through the XDP program in {:.2} s",
        live.fill.as_secs_f64()
    );
    println!(
        "  kernel maps (memlock, all maps of the agent)  {:8.1} MiB",
        mib(live.kernel_bytes)
    );
    println!(
        "  agent resident memory added                   {:8.1} MiB after load, {:.1} MiB after an idle scan",
        mib(live.agent_rss_before),
        mib(live.agent_rss_after)
    );
    println!(
        "  idle scan (nothing expired)                   {:8.2} s",
        live.idle_scan.as_secs_f64()
    );
    println!(
        "  export and score every flow                   {:8.2} s  ({:.2} M flows/s, {} scored)",
        live.export_and_score.as_secs_f64(),
        live.scored as f64 / live.export_and_score.as_secs_f64() / 1e6,
        live.scored
    );

    let a = analyze::analyze_rate(ANALYZE_PACKETS, ANALYZE_FLOWS)?;
    println!(
        "packetguard analyze: a {} packet capture over {} flows, shipped models, CSV and events written",
        a.packets, a.flows
    );
    println!(
        "  {:.2} s, {:.2} M packets/s  (target: a million packets in seconds)",
        a.elapsed.as_secs_f64(),
        a.packets as f64 / a.elapsed.as_secs_f64() / 1e6
    );
    Ok(())
}

/// The capture `packetguard analyze` is timed on.
const ANALYZE_PACKETS: usize = 1_000_000;
const ANALYZE_FLOWS: u16 = 1_000;

/// Records per second the agent's drain loop reaches on kernel-written flow records.
fn drain_rate(total: u64) -> Result<f64> {
    let mut packets = 0u64;
    let (drained, busy) = fill_and_drain(total, |rec| {
        if let Some(r) = rec {
            packets += r.stats.packets();
        }
    })?;
    anyhow::ensure!(packets > 0, "records carried no packets");
    Ok(drained as f64 / busy.as_secs_f64())
}

/// Has the kernel fill the ring buffer with real flow records (a 1 ns active timeout makes
/// every second packet emit one) and drains them in rounds until `total` were drained.
/// `visit` gets every record, then `None` at the end of each round; both are timed.
/// Returns the records drained and the time spent draining.
fn fill_and_drain(
    total: u64,
    mut visit: impl FnMut(Option<&packetguard_common::FlowRecord>),
) -> Result<(u64, Duration)> {
    let cfg = DataPathConfig {
        active_timeout: Duration::from_nanos(1),
        ringbuf_bytes: 64 << 20,
        ..DataPathConfig::default()
    };
    let mut dp = DataPath::load(&cfg)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = rt.enter();
    let mut drain = Drain::new(dp.take_events()?)?;
    let frame = tcp_frame(40000);
    // A 64 MiB ring holds about 280k 232-byte records: fill and drain in rounds.
    let per_round: u32 = 200_000;
    let (mut drained, mut busy) = (0u64, Duration::ZERO);
    while drained < total {
        xdp::test_run_ns(&mut dp, PROGRAM_XDP, &frame, per_round * 2)?;
        let start = Instant::now();
        let n = drain
            .drain_now(|ev| {
                if let Event::Flow(r) = ev {
                    visit(Some(r));
                }
                Ok::<(), std::convert::Infallible>(())
            })
            .unwrap_or_else(|never| match never {});
        visit(None);
        busy += start.elapsed();
        drained += n as u64;
        anyhow::ensure!(n > 0, "the kernel wrote no records");
    }
    Ok((drained, busy))
}
