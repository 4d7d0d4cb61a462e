//! Captures for the tests, of frames from the shared builders (`crate::test_frames`).

use std::{borrow::Cow, time::Duration};

use pcap_file::{
    pcap::{PcapHeader, PcapPacket, PcapWriter},
    pcapng::{
        blocks::{
            enhanced_packet::EnhancedPacketBlock,
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
        },
        PcapNgWriter,
    },
    DataLink, TsResolution,
};

pub use crate::test_frames::{tcp_v4, Frame as F, V4_A, V4_B, V6_A, V6_B};

/// The same packet behind a Linux cooked (SLL) header: the Ethernet header replaced.
pub fn to_sll(eth: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    b.extend_from_slice(&eth[12..]);
    b
}

/// The same packet behind an SLL2 header.
pub fn to_sll2(eth: &[u8]) -> Vec<u8> {
    let mut b = eth[12..14].to_vec();
    b.extend_from_slice(&[0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
    b.extend_from_slice(&eth[14..]);
    b
}

/// A pcap file (nanosecond timestamps) of `frames` with `linktype`.
pub fn pcap(linktype: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: DataLink::from(linktype),
        ts_resolution: TsResolution::NanoSecond,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (ts, f) in frames {
        w.write_packet(&PcapPacket::new(
            Duration::from_nanos(*ts),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    w.into_writer()
}

/// A pcapng file of `frames` on one interface of `linktype`, timestamps in units of
/// `10^-resol` seconds.
pub fn pcapng(linktype: u32, resol: u8, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::from(linktype),
        snaplen: 0,
        options: vec![InterfaceDescriptionOption::IfTsResol(resol)],
    })
    .unwrap();
    let per_unit = 10u64.pow(9 - resol as u32);
    for (ts, f) in frames {
        // The block stores the count of units; pcap-file writes the Duration's nanoseconds
        // as that count.
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(ts / per_unit),
            original_len: f.len() as u32,
            data: Cow::Borrowed(f),
            options: vec![],
        })
        .unwrap();
    }
    w.into_inner()
}
