//! Throughput of the offline path, for the benchmark (`cargo xtask bench` or a caller of
//! its own): how many packets a second parsing and folding take, without file I/O (the
//! frames are in memory) and with a consumer that drops what it gets.

use std::time::{Duration, Instant};

use super::{
    flows::HostTotals,
    link::LinkType,
    source::{Consumer, Counts, OfflineSettings, OfflineSource},
};
use crate::datapath::{drain::Event, flow_table::Removed};

/// A consumer that only counts.
#[derive(Default)]
struct Discard {
    events: u64,
}

impl Consumer for Discard {
    type Error = std::convert::Infallible;
    fn event(&mut self, _: Event<'_>) -> Result<(), Self::Error> {
        self.events += 1;
        Ok(())
    }
    fn removed(&mut self, _: &Removed) -> Result<(), Self::Error> {
        self.events += 1;
        Ok(())
    }
    fn window_close(&mut self, _: u64, _: &HostTotals) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// `count` Ethernet frames of TCP traffic over `flows` flows (IPv4, documentation
/// addresses, 100 bytes of payload), one every 10 µs, as (capture time, frame).
pub fn synthetic_frames(count: usize, flows: u16) -> Vec<(u64, Vec<u8>)> {
    let flows = flows.max(1);
    (0..count)
        .map(|i| {
            let flow = (i % flows as usize) as u16;
            let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
            f.extend_from_slice(&[0x45, 0, 0, 140, 0, 1, 0x40, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&[198, 18, (flow >> 8) as u8, flow as u8]);
            f.extend_from_slice(&[203, 0, 113, 80]);
            f.extend_from_slice(&(40_000u16.wrapping_add(flow)).to_be_bytes());
            f.extend_from_slice(&443u16.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x72, 0x10, 0, 0, 0, 0]);
            f.resize(14 + 140, 0xab);
            (1_700_000_000_000_000_000 + i as u64 * 10_000, f)
        })
        .collect()
}

/// What one measurement gave.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    pub packets: u64,
    pub elapsed: Duration,
    pub counts: Counts,
}

impl Throughput {
    pub fn packets_per_s(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Parses and folds `frames` (Ethernet) with `settings`, end of input included.
pub fn measure(frames: &[(u64, Vec<u8>)], settings: OfflineSettings) -> Throughput {
    let mut source = OfflineSource::new(settings);
    let mut out = Discard::default();
    let start = Instant::now();
    for (ts, f) in frames {
        let Ok(()) = source.push(*ts, LinkType::Ethernet, f, f.len() as u32, &mut out);
    }
    let Ok(counts) = source.finish(&mut out);
    Throughput {
        packets: frames.len() as u64,
        elapsed: start.elapsed(),
        counts,
    }
}

/// Reads, parses and folds the capture at `path` with `settings`, file reading included.
pub fn measure_file(
    path: &std::path::Path,
    settings: OfflineSettings,
) -> Result<Throughput, super::reader::ReadError> {
    let mut reader = super::reader::CaptureReader::open(path)?;
    let mut source = OfflineSource::new(settings);
    let mut out = Discard::default();
    let start = Instant::now();
    let Ok(stopped) = source.run(&mut reader, &mut out);
    if let Some(e) = stopped {
        return Err(e);
    }
    let Ok(counts) = source.finish(&mut out);
    Ok(Throughput {
        packets: counts.packets,
        elapsed: start.elapsed(),
        counts,
    })
}
