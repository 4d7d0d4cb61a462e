//! Reading what the tests captured and what the agent wrote: pcap frame lengths, the
//! flow CSV and the events file.

use std::{collections::HashMap, path::Path};

use serde_json::Value;

/// Frame lengths (`orig_len`) of every packet in a classic pcap file.
pub fn pcap_frame_lengths(path: &Path) -> Vec<u32> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(data.len() >= 24, "{} is not a pcap file", path.display());
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => true,
        0xd4c3b2a1 | 0x4d3cb2a1 => false,
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
    let mut lens = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = u32_at(off + 8) as usize;
        lens.push(u32_at(off + 12));
        off += 16 + incl;
    }
    lens
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
