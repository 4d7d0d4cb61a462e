//! One-line errors for what cannot be read, and what was read before kept.

use std::path::Path;

use super::{flows::traffic, fold_file, frames::*};
use crate::capture::reader::{CaptureReader, ReadError};

fn open(name: &str, bytes: Vec<u8>) -> Result<CaptureReader, ReadError> {
    CaptureReader::from_reader(Path::new(name), Box::new(std::io::Cursor::new(bytes)))
}

fn one_line(e: &ReadError) -> String {
    let s = e.to_string();
    assert!(!s.contains('\n'), "one line: {s}");
    s
}

#[test]
fn an_unsupported_link_type_is_named_by_number_and_name() {
    let Err(e) = open("wifi.pcap", pcap(105, &traffic())) else {
        panic!("802.11 opens");
    };
    assert_eq!(
        one_line(&e),
        "wifi.pcap: link type 105 (IEEE802_11 (Wi-Fi)) is not supported (Ethernet, Linux cooked SLL/SLL2 and raw IP are)"
    );
    let Err(e) = open("odd.pcap", pcap(4242, &traffic())) else {
        panic!("an unknown link type opens");
    };
    assert!(
        one_line(&e).contains("link type 4242 is not supported"),
        "{e}"
    );
    // pcapng names it at the first packet of the interface.
    let (got, counts, stopped) = fold_file("wifi.pcapng", pcapng(105, 6, &traffic()));
    assert!(matches!(
        stopped,
        Some(ReadError::UnsupportedLink { number: 105, .. })
    ));
    assert_eq!((counts.packets, got.records.len()), (0, 0));
}

#[test]
fn not_a_capture_says_so() {
    let Err(e) = open("notes.txt", b"hello, world".to_vec()) else {
        panic!("text opens");
    };
    assert_eq!(
        one_line(&e),
        "notes.txt is not a pcap or pcapng capture (it starts with [68, 65, 6c, 6c])"
    );
    let Err(e) = open("empty.pcap", Vec::new()) else {
        panic!("an empty file opens");
    };
    assert!(matches!(e, ReadError::NotACapture { .. }), "{e}");
}

/// Cuts `file` inside packet `n` (counting from 1) whose record starts at `offset`, and
/// checks that the packets before it are read, then where it stopped.
fn cut_inside(name: &str, file: &[u8], n: u64, offset: usize) {
    let frames = traffic();
    let cut = file[..offset + 20].to_vec();
    let mut r = open(name, cut.clone()).unwrap();
    let mut read = 0;
    let err = loop {
        match r.next_frame() {
            Some(Ok(f)) => {
                assert_eq!(f.data, &frames[read].1[..], "{name}: packet {}", read + 1);
                assert_eq!(f.ts_ns, frames[read].0);
                read += 1;
            }
            Some(Err(e)) => break e,
            None => panic!("{name}: no error at the cut"),
        }
    };
    assert!(r.next_frame().is_none(), "nothing after the error");
    assert_eq!(read as u64, n - 1);
    let ReadError::Truncated {
        packet, offset: at, ..
    } = &err
    else {
        panic!("{name}: {err}");
    };
    assert_eq!((*packet, *at), (n, offset as u64), "{name}");
    assert_eq!(
        one_line(&err),
        format!(
            "{name}: stopped at packet {n} (byte offset {offset}): the file ends inside it; the {} packets before it were read",
            n - 1
        )
    );
    // The source keeps what was read: the packets before the cut make their flows.
    let (got, counts, stopped) = fold_file(name, cut);
    assert!(matches!(stopped, Some(ReadError::Truncated { .. })));
    assert_eq!(counts.packets, n - 1);
    let packets: u64 = got.records.iter().map(|r| r.stats.packets()).sum();
    assert_eq!(packets, n - 1, "every packet read is in a record");
}

#[test]
fn a_truncated_file_keeps_every_packet_before_the_cut() {
    let frames = traffic();
    // pcap: a 24-byte header, then 16 bytes before each packet.
    let offset: usize = 24 + frames[..4].iter().map(|(_, f)| 16 + f.len()).sum::<usize>();
    cut_inside("cut.pcap", &pcap(1, &frames), 5, offset);
    // pcapng: the section header (28 bytes) and the interface block (20 bytes with its
    // resolution option, 4 for the end of options), then 32 bytes and the padded packet.
    let file = pcapng(1, 9, &frames);
    let epb = |f: &Vec<u8>| 32 + f.len().div_ceil(4) * 4;
    let offset: usize = 28 + 32 + frames[..4].iter().map(|(_, f)| epb(f)).sum::<usize>();
    assert_eq!(
        file.len(),
        28 + 32 + frames.iter().map(|(_, f)| epb(f)).sum::<usize>()
    );
    cut_inside("cut.pcapng", &file, 5, offset);
}

#[test]
fn a_packet_cut_by_the_snapshot_length_is_read_with_its_length_on_the_wire() {
    // As `tcpdump -s 96` writes: the header's snapshot length is 96, and a longer packet
    // keeps its first 96 bytes and its length on the wire.
    const SNAP: usize = 96;
    let frames = traffic();
    let long = frames.iter().map(|(_, f)| f.len()).max().unwrap();
    assert!(
        long > SNAP,
        "the traffic has a packet longer than {SNAP} bytes"
    );
    let mut file = Vec::new();
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    file.extend_from_slice(&2u16.to_le_bytes());
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&(SNAP as u32).to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    for (i, (_, f)) in frames.iter().enumerate() {
        let kept = f.len().min(SNAP);
        file.extend_from_slice(&(1_700_000_000 + i as u32).to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&(kept as u32).to_le_bytes());
        file.extend_from_slice(&(f.len() as u32).to_le_bytes());
        file.extend_from_slice(&f[..kept]);
    }
    let mut reader = open("snap.pcap", file).unwrap();
    let mut got = Vec::new();
    while let Some(frame) = reader.next_frame() {
        let frame = frame.unwrap_or_else(|e| panic!("{}", one_line(&e)));
        got.push((frame.data.len(), frame.orig_len as usize));
    }
    let want: Vec<(usize, usize)> = frames
        .iter()
        .map(|(_, f)| (f.len().min(SNAP), f.len()))
        .collect();
    assert_eq!(got, want);
}
