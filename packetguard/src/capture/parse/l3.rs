//! IPv4 and IPv6 headers, by the rules of the kernel's `parse/l3.rs`: addresses into the
//! key (smaller first), the protocol, whether the packet is a fragment, and how many
//! payload bytes it carries.
//!
//! A length field is trusted only as far as the packet goes: the payload ends where the IP
//! length says, or where the packet ends if that comes first, and a length of 0 means the
//! packet's length (BIG TCP, jumbograms). A length shorter than the headers it must cover
//! is a parse error. "The packet's length" is `len`, the length on the wire; headers must
//! lie in the captured bytes.

use std::cmp::Ordering;

use packetguard_common::FlowKey;

use super::{at, fragment::Fragment, Malformed};

const IPV6_HLEN: usize = 40;
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;
/// IPv6 extension headers skipped at most, as in the kernel: a longer chain is a parse
/// error.
pub const MAX_IPV6_EXT: usize = 6;

const IP_MF: u16 = 0x2000;
const IP_OFFSET: u16 = 0x1FFF;

pub struct L3 {
    pub protocol: u8,
    pub ttl: u8,
    pub fragment: Fragment,
    pub src_addr_order: Ordering,
    pub l4_offset: usize,
    /// Bytes after the IP header(s): what the length field declares, at most what the
    /// packet holds.
    pub payload_len: u32,
}

fn capped(declared: usize, held: usize) -> usize {
    if declared == 0 || declared > held {
        held
    } else {
        declared
    }
}

fn be16(d: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([d[off], d[off + 1]])
}

/// A 32-bit word as it lies in memory: the kernel loads address words natively, so the
/// key holds the wire bytes in order.
fn word(d: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

fn key(src: [u32; 4], dst: [u32; 4], order: Ordering, ip_version: u8) -> FlowKey {
    let (addr_a, addr_b) = FlowKey::canonical_addrs(order, src, dst);
    FlowKey {
        addr_a,
        addr_b,
        ip_version,
        ..FlowKey::default()
    }
}

/// The IPv4 header at `off`; the key's ports and protocol are left for the caller.
pub fn ipv4(data: &[u8], len: u32, off: usize) -> Result<(L3, FlowKey), Malformed> {
    let ip = at(data, off, 20)?;
    let vihl = data[ip];
    if vihl >> 4 != 4 {
        return Err(Malformed);
    }
    let ihl = ((vihl & 0x0F) as usize) * 4;
    if ihl < 20 || off + ihl > data.len() {
        return Err(Malformed);
    }
    let declared = be16(data, ip + 2) as usize;
    if declared != 0 && declared < ihl {
        return Err(Malformed);
    }
    let total = capped(declared, (len as usize).saturating_sub(off));
    let frag = be16(data, ip + 6);
    let fragment = if frag & IP_OFFSET != 0 {
        Fragment::Tail
    } else if frag & IP_MF != 0 {
        Fragment::First
    } else {
        Fragment::Whole
    };
    let src = word(data, ip + 12);
    let dst = word(data, ip + 16);
    let order = src.cmp(&dst);
    let l3 = L3 {
        protocol: data[ip + 9],
        ttl: data[ip + 8],
        fragment,
        src_addr_order: order,
        l4_offset: off + ihl,
        payload_len: total.saturating_sub(ihl) as u32,
    };
    Ok((l3, key([src, 0, 0, 0], [dst, 0, 0, 0], order, 4)))
}

fn is_extension(next: u8) -> bool {
    matches!(
        next,
        NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_FRAGMENT | NEXTHDR_DEST
    )
}

/// The IPv6 header and its extension headers at `off` (hop-by-hop, routing, destination
/// options and fragment headers, at most [`MAX_IPV6_EXT`]; a fragment header with a
/// non-zero offset ends the chain).
pub fn ipv6(data: &[u8], len: u32, off: usize) -> Result<(L3, FlowKey), Malformed> {
    let ip = at(data, off, IPV6_HLEN)?;
    if data[ip] >> 4 != 6 {
        return Err(Malformed);
    }
    let payload = capped(
        be16(data, ip + 4) as usize,
        (len as usize).saturating_sub(off + IPV6_HLEN),
    );
    let mut next = data[ip + 6];
    let ttl = data[ip + 7];
    let addr = |o: usize| {
        [
            word(data, ip + o),
            word(data, ip + o + 4),
            word(data, ip + o + 8),
            word(data, ip + o + 12),
        ]
    };
    let (src, dst) = (addr(8), addr(24));
    let order = FlowKey::compare_addrs(&src, &dst);
    let mut l4_offset = off + IPV6_HLEN;
    let mut ext_len: usize = 0;
    let mut fragment = Fragment::Whole;
    for _ in 0..MAX_IPV6_EXT {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let hdr = at(data, l4_offset, 2)?;
                let n = (data[hdr + 1] as usize + 1) * 8;
                next = data[hdr];
                l4_offset += n;
                ext_len += n;
            }
            NEXTHDR_FRAGMENT => {
                let hdr = at(data, l4_offset, 4)?;
                next = data[hdr];
                let field = be16(data, hdr + 2);
                l4_offset += 8;
                ext_len += 8;
                if field >> 3 != 0 {
                    fragment = Fragment::Tail;
                    break;
                }
                if field & 1 != 0 {
                    fragment = Fragment::First;
                }
            }
            _ => break,
        }
    }
    if fragment != Fragment::Tail && is_extension(next) {
        return Err(Malformed);
    }
    if ext_len > payload {
        return Err(Malformed);
    }
    let l3 = L3 {
        protocol: next,
        ttl,
        fragment,
        src_addr_order: order,
        l4_offset,
        payload_len: (payload - ext_len) as u32,
    };
    Ok((l3, key(src, dst, order, 6)))
}
