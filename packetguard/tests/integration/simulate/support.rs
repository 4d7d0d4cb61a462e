//! Helpers of the simulate tests: a lab-like capture written by the test, pcap reading,
//! and synthetic frames parsed back with their checksums verified.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};
use packetguard::evaluate::{read_labels, AttackLabel};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;

use crate::collect_agent::{assert_ok, packetguard};

/// Packets as read back: time, original length, bytes.
pub type Frames = Vec<(Duration, u32, Vec<u8>)>;

pub const CLIENT_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0x01];
pub const SERVER_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0x0a];
pub const CLIENT: [u8; 4] = [192, 0, 2, 1];
pub const SERVER: [u8; 4] = [192, 0, 2, 10];
/// The first packet's time, seconds since the epoch.
pub const T0: u64 = 1_700_000_000;
/// 300 packets half a second apart: a 149.5 s capture.
pub const PACKETS: u64 = 300;

/// A scratch directory removed when the test ends, however it ends.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pg-simulate-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Lab-like traffic: a client and a server exchanging TCP data, two packets of three to
/// the server (so it is the busiest destination), microsecond timestamps.
pub fn lab_packets() -> Vec<(Duration, Vec<u8>)> {
    (0..PACKETS)
        .map(|i| {
            let to_server = i % 3 != 2;
            let b = if to_server {
                PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
                    .ipv4(CLIENT, SERVER, 64)
                    .tcp(40000, 8080, i as u32, 4096)
            } else {
                PacketBuilder::ethernet2(SERVER_MAC, CLIENT_MAC)
                    .ipv4(SERVER, CLIENT, 64)
                    .tcp(8080, 40000, i as u32, 4096)
            };
            let payload = vec![i as u8; 100];
            let mut frame = Vec::new();
            b.ack(7).write(&mut frame, &payload).unwrap();
            (
                Duration::from_micros(T0 * 1_000_000 + i * 500_000 + 17),
                frame,
            )
        })
        .collect()
}

pub fn write_pcap(path: &str, datalink: DataLink, packets: &[(Duration, Vec<u8>)]) {
    let header = PcapHeader {
        datalink,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(fs::File::create(path).unwrap(), header).unwrap();
    for (ts, data) in packets {
        w.write_packet(&PcapPacket::new(*ts, data.len() as u32, data))
            .unwrap();
    }
}

pub fn read_pcap(path: &str) -> Frames {
    let mut r = PcapReader::new(fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        out.push((p.timestamp, p.orig_len, p.data.into_owned()));
    }
    out
}

/// A synthetic packet, parsed back: addresses, ports, TCP flags (as tcpdump prints them).
#[derive(Debug)]
pub struct Parsed {
    pub ts: Duration,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub flags: String,
    pub payload: usize,
    pub eth: Option<([u8; 6], [u8; 6])>,
}

/// Parses a frame and checks its IPv4 header and TCP/UDP checksums.
pub fn parse(ts: Duration, data: &[u8], ethernet: bool) -> Parsed {
    let h = if ethernet {
        PacketHeaders::from_ethernet_slice(data)
    } else {
        PacketHeaders::from_ip_slice(data)
    }
    .unwrap_or_else(|e| panic!("synthetic frame does not parse: {e}"));
    let payload = h.payload.slice();
    let transport = h.transport.as_ref().expect("a transport header");
    let (src, dst, expected) = match &h.net {
        Some(NetHeaders::Ipv4(ip, _)) => {
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "IPv4 header checksum"
            );
            let sum = match transport {
                TransportHeader::Tcp(t) => t.calc_checksum_ipv4(ip, payload).unwrap(),
                TransportHeader::Udp(u) => u.calc_checksum_ipv4(ip, payload).unwrap(),
                other => panic!("unexpected transport {other:?}"),
            };
            (IpAddr::from(ip.source), IpAddr::from(ip.destination), sum)
        }
        Some(NetHeaders::Ipv6(ip, _)) => {
            let sum = match transport {
                TransportHeader::Tcp(t) => t.calc_checksum_ipv6(ip, payload).unwrap(),
                TransportHeader::Udp(u) => u.calc_checksum_ipv6(ip, payload).unwrap(),
                other => panic!("unexpected transport {other:?}"),
            };
            (IpAddr::from(ip.source), IpAddr::from(ip.destination), sum)
        }
        other => panic!("not IP: {other:?}"),
    };
    let (src_port, dst_port, flags, checksum) = match transport {
        TransportHeader::Tcp(t) => {
            let mut f = String::new();
            for (set, c) in [
                (t.syn, 'S'),
                (t.fin, 'F'),
                (t.rst, 'R'),
                (t.psh, 'P'),
                (t.ack, '.'),
            ] {
                if set {
                    f.push(c);
                }
            }
            (t.source_port, t.destination_port, f, t.checksum)
        }
        TransportHeader::Udp(u) => (u.source_port, u.destination_port, "udp".into(), u.checksum),
        other => panic!("unexpected transport {other:?}"),
    };
    assert_eq!(checksum, expected, "TCP/UDP checksum");
    let eth = h
        .link
        .as_ref()
        .and_then(|l| l.clone().ethernet2())
        .map(|e| (e.source, e.destination));
    Parsed {
        ts,
        src,
        dst,
        src_port,
        dst_port,
        flags,
        payload: payload.len(),
        eth,
    }
}

pub fn is_attack(p: &Parsed) -> bool {
    // Documentation attackers, forged IPv4 sources, and 2001:db8:bad::/48 or the forged
    // 2001:db8:5900::/40 for IPv6.
    let synthetic = |ip: IpAddr| match ip {
        IpAddr::V4(v) => {
            v.octets()[..3] == [203, 0, 113]
                || v.octets()[..2] == [198, 18]
                || v.octets()[..2] == [198, 19]
        }
        IpAddr::V6(v) => {
            v.segments()[..3] == [0x2001, 0xdb8, 0xbad]
                || (v.segments()[..2] == [0x2001, 0xdb8] && v.segments()[2] >> 8 == 0x59)
        }
    };
    synthetic(p.src) || synthetic(p.dst)
}

/// Runs simulate; returns the output packets (split into original and synthetic) and labels.
pub fn simulate(
    dir: &Scratch,
    input: &str,
    ethernet: bool,
    args: &[&str],
) -> (Frames, Vec<Parsed>, Vec<AttackLabel>) {
    let (out, labels) = (dir.path("out.pcap"), dir.path("labels.csv"));
    let mut all = vec![
        "simulate", "--input", input, "--out", &out, "--labels", &labels,
    ];
    all.extend_from_slice(args);
    assert_ok(&packetguard(&all));
    let packets = read_pcap(&out);
    for w in packets.windows(2) {
        assert!(w[0].0 <= w[1].0, "output in time order");
    }
    let (mut original, mut synthetic) = (Vec::new(), Vec::new());
    for (ts, len, data) in packets {
        let p = parse(ts, &data, ethernet);
        if is_attack(&p) {
            assert_eq!(len as usize, data.len(), "synthetic frames are whole");
            synthetic.push(p);
        } else {
            original.push((ts, len, data));
        }
    }
    (
        original,
        synthetic,
        read_labels(Path::new(&labels)).unwrap(),
    )
}

/// A pcapng file of 50 IPv6 UDP packets, one a second, with two interfaces of one link
/// type: the first on the default microsecond clock, the second on nanoseconds.
pub fn write_ipv6_pcapng(path: &str) -> Vec<(Duration, Vec<u8>)> {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::{
        InterfaceDescriptionBlock, InterfaceDescriptionOption,
    };
    use pcap_file::pcapng::PcapNgWriter;
    let mut w = PcapNgWriter::new(fs::File::create(path).unwrap()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 65535))
        .unwrap();
    let mut nano = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 65535);
    nano.options.push(InterfaceDescriptionOption::IfTsResol(9));
    w.write_pcapng_block(nano).unwrap();
    let (a, b) = (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1],
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10],
    );
    let addr = |s: [u16; 8]| std::net::Ipv6Addr::from(s).octets();
    (0..50u64)
        .map(|i| {
            let mut frame = Vec::new();
            PacketBuilder::ethernet2(CLIENT_MAC, SERVER_MAC)
                .ipv6(addr(a), addr(b), 64)
                .udp(5000, 53)
                .write(&mut frame, &[i as u8; 40])
                .unwrap();
            let ns = T0 * 1_000_000_000 + i * 1_000_000_000 + 123_000;
            // pcap-file takes the tick count as a Duration's nanoseconds.
            let (interface_id, ticks) = if i % 2 == 0 { (0, ns / 1000) } else { (1, ns) };
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id,
                timestamp: Duration::from_nanos(ticks),
                original_len: frame.len() as u32,
                data: std::borrow::Cow::Borrowed(&frame),
                options: Vec::new(),
            })
            .unwrap();
            (Duration::from_nanos(ns), frame)
        })
        .collect()
}
