//! End-to-end agent figures: records drained *and scored* per second on one core, and the
//! memory the agent and kernel hold with a million live flows.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use packetguard_common::config::PROGRAM_XDP;

use super::{fill_and_drain, tcp_frame_from, xdp::test_run_ns};
use crate::{
    datapath::{flow_table::FlowTable, DataPath, DataPathConfig},
    detect::{
        flow::{flow_row, FlowDetector, NAMES},
        models,
    },
};

/// The shipped (or installed, or learned) flow model, as `run` would find it.
fn flow_detector() -> Result<FlowDetector> {
    let m = models::load(None)?
        .flow
        .context("no flow model found: run `cargo xtask models`")?;
    FlowDetector::new(m.model, &m.path, NAMES)
}

/// Pushes a record through the flow detector, scoring full batches.
fn score_record(det: &mut FlowDetector, rec: &packetguard_common::FlowRecord, scored: &mut u64) {
    if det.is_full() {
        flush(det, scored);
    }
    let (tag, row) = flow_row(rec, 0);
    det.push(tag, &row);
}

fn flush(det: &mut FlowDetector, scored: &mut u64) {
    *scored += det.score_pending() as u64;
    det.clear();
}

/// Kernel-written flow records drained from the ring buffer and scored with the flow
/// model, per second of the agent's busy time on one core.
pub fn drain_and_score_rate(total: u64) -> Result<f64> {
    let mut det = flow_detector()?;
    let mut scored = 0u64;
    let (drained, busy) = fill_and_drain(total, |rec| match rec {
        Some(r) => score_record(&mut det, r, &mut scored),
        None => flush(&mut det, &mut scored),
    })?;
    anyhow::ensure!(scored == drained, "scored {scored} of {drained} records");
    Ok(scored as f64 / busy.as_secs_f64())
}

/// Resident memory of this process, from /proc/self/status.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Memory charged to BPF maps of this process (the `memlock` of every map fd).
fn bpf_map_bytes() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/fdinfo") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|info| info.contains("map_type:"))
        .filter_map(|info| {
            info.lines()
                .find(|l| l.starts_with("memlock:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum()
}

/// Figures with `flows` live flows in the kernel table.
pub struct LiveFlows {
    pub flows: usize,
    pub fill: Duration,
    pub kernel_bytes: u64,
    pub agent_rss_before: u64,
    pub agent_rss_after: u64,
    pub idle_scan: Duration,
    pub export_and_score: Duration,
    pub scored: u64,
}

/// Creates `flows` flows through the XDP program, then times an idle scan that expires
/// nothing and the export of every flow through the flow detector.
pub fn live_flows(flows: u32) -> Result<LiveFlows> {
    let mut det = flow_detector()?;
    let rss_start = rss_bytes();
    // The kernel's LRU map may evict a little before it is full (it refills per-CPU free
    // lists in batches), so leave an eighth of headroom for `flows` to stay live.
    let cfg = DataPathConfig {
        flow_entries: flows + flows / 8,
        ..DataPathConfig::default()
    };
    let mut dp = DataPath::load(&cfg)?;
    let start = Instant::now();
    let mut frame = tcp_frame_from(0, 0);
    for i in 0..flows {
        set_flow(&mut frame, i);
        test_run_ns(&mut dp, PROGRAM_XDP, &frame, 1)?;
    }
    let fill = start.elapsed();
    let kernel_bytes = bpf_map_bytes();
    let mut table = FlowTable::new(dp.take_flows()?);
    let rss_before = rss_bytes();
    let start = Instant::now();
    let st = table.expire_idle(
        crate::datapath::flow_table::monotonic_ns(),
        Duration::from_secs(3600),
        |_| anyhow::Ok(()),
    )?;
    let idle_scan = start.elapsed();
    anyhow::ensure!(
        st.entries == flows as usize,
        "{} flows live of {flows}: the kernel evicted some",
        st.entries
    );
    let rss_after = rss_bytes();
    let mut scored = 0u64;
    let start = Instant::now();
    table.export_all(|r| {
        if let Some(rec) = &r.record {
            score_record(&mut det, rec, &mut scored);
        }
        anyhow::Ok(())
    })?;
    flush(&mut det, &mut scored);
    let export_and_score = start.elapsed();
    Ok(LiveFlows {
        flows: flows as usize,
        fill,
        kernel_bytes,
        agent_rss_before: rss_before.saturating_sub(rss_start),
        agent_rss_after: rss_after.saturating_sub(rss_start),
        idle_scan,
        export_and_score,
        scored,
    })
}

/// Makes `frame` the packet of flow number `i`: a source in the benchmarking block
/// 198.18.0.0/15 from `i`'s high bits (the frames only ever reach the program through
/// `BPF_PROG_TEST_RUN`, but they carry benchmarking addresses all the same), source port
/// from its low bits.
fn set_flow(frame: &mut [u8], i: u32) {
    let host = 0xC612_0000 | ((i >> 16) & 0x1_ffff);
    frame[26..30].copy_from_slice(&host.to_be_bytes());
    frame[34..36].copy_from_slice(&((i & 0xffff) as u16).to_be_bytes());
}
