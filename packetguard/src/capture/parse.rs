//! The userspace packet parser: the kernel program's rules (`packetguard-ebpf/src/parse*`)
//! on a byte slice, so a capture read offline gives exactly the flow keys, directions and
//! packet details the live agent gets from the same frames.
//!
//! Every rule is the kernel's, in the same order, and the integration tests compare the two
//! on crafted frames, on every truncation of them and on generated frames
//! (`tests/integration/offline_parser.rs`):
//!
//! - Ethernet, then up to [`MAX_VLAN`] VLAN tags (802.1Q / 802.1ad); more tags, or an
//!   innermost EtherType that is neither IPv4 nor IPv6, is non-IP.
//! - IPv4 with options, IPv6 with up to [`l3::MAX_IPV6_EXT`] extension headers; length
//!   fields trusted only as far as the frame goes, a length shorter than its own headers
//!   a parse error.
//! - TCP, UDP, ICMP and ICMPv6 headers must lie whole inside the IP payload; other
//!   protocols are L3 flows with ports 0.
//! - Fragment tails count toward the L3 flow with ports 0; a first fragment cut inside
//!   its L4 header counts by its ports when it has them, a TCP one as a connection attempt.
//!
//! The kernel reads headers from the linear part of the packet (`data..data_end`) and
//! counts the packet's whole length (`len`), which on TC egress can be longer. A capture is
//! the same: `data` is what was captured and `orig_len` what was on the wire, so a capture
//! cut by its snapshot length is read like a TC packet whose headers are linear and whose
//! payload is not. Other link types than Ethernet are read where they put the IP packet
//! and counted as the same packet on Ethernet ([`super::link`]).

mod fragment;
mod l3;
mod l4;

use packetguard_common::{host::connection_attempt, key::IPPROTO_TCP, FlowKey, PacketMeta};

use self::{fragment::Fragment, l4::L4};
use super::link::LinkType;

pub use self::l3::MAX_IPV6_EXT;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

/// VLAN tags parsed at most (802.1ad outer + 802.1Q inner), as in the kernel.
pub const MAX_VLAN: usize = 2;

/// A frame the parser cannot read: what the kernel counts as `Counter::ParseErrors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed frame")]
pub struct Malformed;

/// Where a packet stands among the fragments of its datagram (for the counters the kernel
/// keeps of them: `Counter::Fragments` and `Counter::ShortFirstFragments`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentKind {
    /// Not a fragment, or a first fragment whose L4 header is whole.
    None,
    /// A fragment with a non-zero offset.
    Tail,
    /// A first fragment cut inside its L4 header.
    ShortFirst,
}

/// One IP packet, ready to fold into its flow: what the kernel's `parse::Packet` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub key: FlowKey,
    /// The packet's source is endpoint `a` of the canonical key.
    pub src_is_a: bool,
    /// As the kernel fills it, `ts_ns` 0 (the caller stamps it).
    pub meta: PacketMeta,
    pub fragment: FragmentKind,
}

/// What the parser found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Flow(Packet),
    NonIp,
}

/// Parses an Ethernet frame of which `data` was captured and `len` bytes were on the wire
/// (for XDP both are the frame; `len` below `data.len()` is taken as `data.len()`).
#[inline]
pub fn parse(data: &[u8], len: u32) -> Result<Parsed, Malformed> {
    parse_link(LinkType::Ethernet, data, len)
}

/// Parses a frame of link type `link` (see [`super::link`] for where each puts the IP
/// packet and what length is counted).
#[inline]
pub fn parse_link(link: LinkType, data: &[u8], orig_len: u32) -> Result<Parsed, Malformed> {
    let len = orig_len.max(data.len().min(u32::MAX as usize) as u32);
    let count = link.ethernet_len(len);
    let (ethertype, off) = match link {
        LinkType::Ethernet => (be16(data, 12, 2)?, ETH_HLEN),
        LinkType::LinuxSll => (be16(data, 14, 2)?, 16),
        LinkType::LinuxSll2 => (be16(data, 0, 20)?, 20),
        LinkType::Ipv4 => (ETH_P_IP, 0),
        LinkType::Ipv6 => (ETH_P_IPV6, 0),
        LinkType::RawIp => match data.first().ok_or(Malformed)? >> 4 {
            4 => (ETH_P_IP, 0),
            6 => (ETH_P_IPV6, 0),
            _ => return Err(Malformed),
        },
    };
    parse_from(data, len, count, ethertype, off)
}

/// The 16-bit big-endian field at `off`, provided `need` bytes from the frame's start are
/// there (the whole link header, as the kernel checks the whole Ethernet header).
#[inline(always)]
fn be16(data: &[u8], off: usize, need: usize) -> Result<u16, Malformed> {
    if data.len() < need.max(off + 2) {
        return Err(Malformed);
    }
    Ok(u16::from_be_bytes([data[off], data[off + 1]]))
}

/// `Ok(off)` if `n` bytes from `off` are in `data`: the kernel's `at`.
#[inline(always)]
fn at(data: &[u8], off: usize, n: usize) -> Result<usize, Malformed> {
    if off + n > data.len() {
        return Err(Malformed);
    }
    Ok(off)
}

/// The kernel's parser from the EtherType on: `data` the captured bytes, `len` the
/// packet's length in its own link framing (what length fields are capped to), `count` the
/// length the packet counts, `off` where the bytes after the EtherType start.
fn parse_from(
    data: &[u8],
    len: u32,
    count: u32,
    mut ethertype: u16,
    mut off: usize,
) -> Result<Parsed, Malformed> {
    for _ in 0..MAX_VLAN {
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            let tag = at(data, off, 4)?;
            ethertype = u16::from_be_bytes([data[tag + 2], data[tag + 3]]);
            off += 4;
        }
    }
    let (l3, mut key) = match ethertype {
        ETH_P_IP => l3::ipv4(data, len, off)?,
        ETH_P_IPV6 => l3::ipv6(data, len, off)?,
        _ => return Ok(Parsed::NonIp),
    };
    let mut fragment = FragmentKind::None;
    let l4 = if l3.fragment == Fragment::Tail {
        fragment = FragmentKind::Tail;
        L4::none(l3.payload_len)
    } else {
        match l4::l4(data, l3.l4_offset, l3.protocol, l3.payload_len) {
            Ok(l4) => l4,
            Err(Malformed) if l3.fragment == Fragment::First => {
                fragment = FragmentKind::ShortFirst;
                fragment::short_first(data, l3.l4_offset, l3.protocol, l3.payload_len)
            }
            Err(e) => return Err(e),
        }
    };
    let attempt = connection_attempt(
        l4.tcp_flags_known,
        l4.tcp_flags,
        l4.ports_only && l3.protocol == IPPROTO_TCP,
    );
    let (port_a, port_b, src_is_a) =
        FlowKey::canonical_ports(l3.src_addr_order, l4.src_port, l4.dst_port);
    key.port_a = port_a;
    key.port_b = port_b;
    key.protocol = l3.protocol;
    Ok(Parsed::Flow(Packet {
        key,
        src_is_a,
        meta: PacketMeta {
            ts_ns: 0,
            len: count,
            payload_len: l4.payload_len,
            window: l4.window,
            tcp_flags: l4.tcp_flags,
            ttl: l3.ttl,
            is_tcp: l4.tcp_flags_known as u8,
            attempt: attempt as u8,
            _pad: [0; 2],
        },
        fragment,
    }))
}
