//! Hand-built frames and captures for the tests. Checksums are zero: nothing checks them.

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

pub const V4_A: [u8; 4] = [192, 0, 2, 10];
pub const V4_B: [u8; 4] = [198, 51, 100, 20];
pub const V6_A: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a,
];
pub const V6_B: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14,
];

/// An Ethernet frame under construction; `vlans` are (TPID, VLAN id), outermost first.
pub struct F(pub Vec<u8>);

impl F {
    pub fn eth(vlans: &[(u16, u16)], ethertype: u16) -> F {
        let mut b = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        for (tpid, vid) in vlans {
            b.extend_from_slice(&tpid.to_be_bytes());
            b.extend_from_slice(&vid.to_be_bytes());
        }
        b.extend_from_slice(&ethertype.to_be_bytes());
        F(b)
    }

    /// IPv4 header, fragment field `frag` (flags and offset), `l4_len` bytes after it.
    pub fn ipv4(mut self, proto: u8, src: [u8; 4], dst: [u8; 4], frag: u16, l4_len: usize) -> F {
        self.0.extend_from_slice(&[0x45, 0]);
        self.0
            .extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        self.0.extend_from_slice(&[0, 1]);
        self.0.extend_from_slice(&frag.to_be_bytes());
        self.0.extend_from_slice(&[64, proto, 0, 0]);
        self.0.extend_from_slice(&src);
        self.0.extend_from_slice(&dst);
        self
    }

    pub fn ipv6(mut self, next: u8, src: [u8; 16], dst: [u8; 16], payload_len: usize) -> F {
        self.0.extend_from_slice(&[0x60, 0, 0, 0]);
        self.0
            .extend_from_slice(&(payload_len as u16).to_be_bytes());
        self.0.extend_from_slice(&[next, 55]);
        self.0.extend_from_slice(&src);
        self.0.extend_from_slice(&dst);
        self
    }

    pub fn tcp(mut self, sport: u16, dport: u16, flags: u8, payload: usize) -> F {
        self.0.extend_from_slice(&sport.to_be_bytes());
        self.0.extend_from_slice(&dport.to_be_bytes());
        self.0
            .extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0x72, 0x10, 0, 0, 0, 0]);
        self.0.extend(std::iter::repeat_n(0xab, payload));
        self
    }

    pub fn udp(mut self, sport: u16, dport: u16, payload: usize) -> F {
        self.0.extend_from_slice(&sport.to_be_bytes());
        self.0.extend_from_slice(&dport.to_be_bytes());
        self.0
            .extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        self.0.extend_from_slice(&[0, 0]);
        self.0.extend(std::iter::repeat_n(0xcd, payload));
        self
    }

    /// An ICMP (or ICMPv6) message of `kind` with identifier `id` and `payload` bytes.
    pub fn icmp(mut self, kind: u8, id: u16, payload: usize) -> F {
        self.0.extend_from_slice(&[kind, 0, 0, 0]);
        self.0.extend_from_slice(&id.to_be_bytes());
        self.0.extend_from_slice(&[0, 1]);
        self.0.extend(std::iter::repeat_n(0x11, payload));
        self
    }

    pub fn bytes(mut self, n: usize) -> F {
        self.0.extend(std::iter::repeat_n(0, n));
        self
    }
}

pub fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: u8,
    payload: usize,
) -> Vec<u8> {
    F::eth(&[], 0x0800)
        .ipv4(6, src, dst, 0, 20 + payload)
        .tcp(sport, dport, flags, payload)
        .0
}

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
