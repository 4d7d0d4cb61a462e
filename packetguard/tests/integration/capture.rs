//! Capturing with tcpdump and reading what the tests captured and what the agent wrote:
//! pcap packets (time, length, bytes; a frame's IPv4 destination), the flow CSV and the
//! events file.

use std::{
    collections::HashMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use serde_json::Value;

use crate::lab::{Lab, Proc};

/// Starts tcpdump writing the `filter` frames seen on `dev` in `ns` to `name` in the lab's
/// directory, and waits until it listens. Immediate mode and packet-buffered output, so
/// stopping it with SIGINT loses nothing it received (without them, a buffer block still
/// being filled is dropped at exit).
pub fn tcpdump(lab: &Lab, ns: &str, dev: &str, filter: &str, name: &str) -> (Proc, PathBuf) {
    let path = lab.dir.join(name);
    let mut p = lab.spawn(
        ns,
        &[
            "tcpdump",
            "-Z",
            "root",
            "--immediate-mode",
            "-i",
            dev,
            "-U",
            "-s",
            "96",
            "-w",
            path.to_str().unwrap(),
            filter,
        ],
    );
    p.wait_for_stderr("listening on", 1, Duration::from_secs(15));
    (p, path)
}

/// The "N packets dropped by kernel" count a stopped tcpdump printed, if it did.
pub fn tcpdump_dropped(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        l.strip_suffix(" packets dropped by kernel")?
            .trim()
            .parse()
            .ok()
    })
}

/// One packet of a pcap file.
pub struct PcapPacket {
    /// Capture time (wall clock, as the kernel stamped it).
    pub time: SystemTime,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// The captured bytes (at most the snapshot length).
    pub data: Vec<u8>,
}

/// Every packet in a classic pcap file (microsecond or nanosecond timestamps).
pub fn pcap_packets(path: &Path) -> Vec<PcapPacket> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(data.len() >= 24, "{} is not a pcap file", path.display());
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2c3d4 => (true, false),
        0xa1b23c4d => (true, true),
        0xd4c3b2a1 => (false, false),
        0x4d3cb2a1 => (false, true),
        _ => panic!("{} has pcap magic {magic:#x}", path.display()),
    };
    let u32_at = |o: usize| {
        let b: [u8; 4] = data[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut packets = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let (secs, frac) = (u32_at(off) as u64, u32_at(off + 4) as u64);
        let incl = u32_at(off + 8) as usize;
        let since_epoch = Duration::from_secs(secs)
            + Duration::from_nanos(if nanos { frac } else { frac * 1000 });
        let end = (off + 16 + incl).min(data.len());
        packets.push(PcapPacket {
            time: SystemTime::UNIX_EPOCH + since_epoch,
            orig_len: u32_at(off + 12),
            data: data[off + 16..end].to_vec(),
        });
        off += 16 + incl;
    }
    packets
}

/// Frame lengths (`orig_len`) of every packet in a classic pcap file.
pub fn pcap_frame_lengths(path: &Path) -> Vec<u32> {
    pcap_packets(path).iter().map(|p| p.orig_len).collect()
}

/// The IPv4 destination of an Ethernet frame (no VLAN tag), which the attack tests
/// count by.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Fields {
    pub dst: Ipv4Addr,
    /// The TCP or UDP destination port; 0 for other protocols.
    pub dst_port: u16,
}

/// Reads [`Ipv4Fields`] from a captured frame; `None` for anything else or too short.
pub fn ipv4_fields(frame: &[u8]) -> Option<Ipv4Fields> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let dst_port = match (ip[9], ip.get(ihl + 2..ihl + 4)) {
        (6 | 17, Some(p)) => u16::from_be_bytes([p[0], p[1]]),
        _ => 0,
    };
    Some(Ipv4Fields {
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        dst_port,
    })
}

/// Rows of a CSV with a header, as column name -> value.
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("CSV has a header")
        .split(',')
        .map(String::from)
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

/// The complete lines of the events file (a line still being written is left for later).
pub fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A numeric column of a row.
pub fn num(row: &HashMap<String, String>, col: &str) -> u64 {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col}"))
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("column {col}: {e}")) as u64
}

/// Rows between two addresses (either orientation) with the given protocol.
pub fn rows_between<'a>(
    rows: &'a [HashMap<String, String>],
    a: &str,
    b: &str,
    protocol: u8,
) -> Vec<&'a HashMap<String, String>> {
    rows.iter()
        .filter(|r| {
            let (s, d) = (r["src_ip"].as_str(), r["dst_ip"].as_str());
            ((s == a && d == b) || (s == b && d == a)) && r["protocol"] == protocol.to_string()
        })
        .collect()
}
