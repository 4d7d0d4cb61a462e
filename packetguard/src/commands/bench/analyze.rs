//! `packetguard analyze`'s rate: a million-packet capture written to a scratch file, then
//! analysed by this binary's own `analyze` with the shipped models, as an operator would
//! run it (reading, parsing, flows, windows, scoring, CSV and events included).

use std::{
    fs::File,
    io::BufWriter,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use pcap_file::pcap::{PcapHeader, PcapWriter, RawPcapPacket};

use crate::capture::bench::synthetic_frames;

/// What one analysis of the scratch capture took.
pub struct AnalyzeRate {
    pub packets: u64,
    pub flows: u16,
    pub elapsed: Duration,
}

/// Writes `packets` frames over `flows` flows to a pcap in a scratch directory and times
/// `packetguard analyze` on it (with `--out` and `--events`, so every row is written).
pub fn analyze_rate(packets: usize, flows: u16) -> Result<AnalyzeRate> {
    let dir =
        std::env::temp_dir().join(format!("packetguard-bench-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = timed(&dir, packets, flows);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn timed(dir: &Path, packets: usize, flows: u16) -> Result<AnalyzeRate> {
    let capture = dir.join("bench.pcap");
    write_capture(&capture, packets, flows)?;
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let start = Instant::now();
    let out = Command::new(exe)
        .arg("analyze")
        .arg(&capture)
        .arg("--out")
        .arg(dir.join("flows.csv"))
        .arg("--events")
        .arg(dir.join("events.jsonl"))
        .output()
        .context("cannot run packetguard analyze")?;
    let elapsed = start.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "packetguard analyze failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(AnalyzeRate {
        packets: packets as u64,
        flows,
        elapsed,
    })
}

fn write_capture(path: &Path, packets: usize, flows: u16) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = PcapWriter::with_header(BufWriter::new(file), PcapHeader::default())
        .context("cannot write the bench capture")?;
    for (ts_ns, frame) in synthetic_frames(packets, flows) {
        let packet = RawPcapPacket {
            ts_sec: (ts_ns / 1_000_000_000) as u32,
            ts_frac: ((ts_ns % 1_000_000_000) / 1000) as u32,
            incl_len: frame.len() as u32,
            orig_len: frame.len() as u32,
            data: frame.into(),
        };
        w.write_raw_packet(&packet)
            .context("cannot write the bench capture")?;
    }
    Ok(())
}
