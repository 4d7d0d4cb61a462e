//! IPv4 and IPv6 headers: addresses into the key, the protocol, whether the packet is a
//! fragment, and how many payload bytes it carries.
//!
//! Length fields say how long the packet is; the frame says how much of it is here. A
//! frame may be longer than the IP length (Ethernet pads frames to 60 bytes), so the IP
//! length decides where the payload ends. It may also be shorter: a frame cut by a
//! capture, or a forged length. Such a packet is not a parse error but a packet of what
//! the frame holds: its payload length is capped at the bytes after its headers, and its
//! L4 header must lie within them. Counting it keeps a flood of bad lengths visible in its
//! flow and its destination's window instead of turning it into an error count only; the
//! cap keeps it from claiming payload it does not carry.
//!
//! A length of 0 means "the frame's length": Linux writes 0 in the IPv4 total length and
//! the IPv6 payload length of GSO packets larger than 64 KiB (BIG TCP), and an IPv6
//! jumbogram carries its length in a hop-by-hop option. A length shorter than the headers
//! it must cover (an IPv4 total length below the header length, an IPv6 payload length
//! below the extension-header chain) has no valid reading and is a parse error.
//!
//! The frame's length is `len`, the whole packet (on TC it can exceed the linear part the
//! parser reads, `end - start`).

use core::{cmp::Ordering, ptr::addr_of_mut};

use packetguard_common::{
    wire::{
        capped, ipv4_fragment, is_ipv6_extension, Fragment, NEXTHDR_DEST, NEXTHDR_FRAGMENT,
        NEXTHDR_HOP, NEXTHDR_ROUTING,
    },
    FlowKey,
};

use super::{at, be16, ld32, ld8};

const IPV6_HLEN: usize = 40;
/// IPv6 extension headers skipped at most: a chain of this many headers parses, a longer
/// one is a parse error. The order RFC 8200 recommends holds at most five of the kinds
/// skipped here (hop-by-hop, destination options, routing, fragment, destination options);
/// six leaves one to spare.
pub const MAX_IPV6_EXT: usize = 6;

pub struct L3 {
    pub protocol: u8,
    pub ttl: u8,
    pub fragment: Fragment,
    /// How the source address compares with the destination; the key's addresses are
    /// already in canonical order (see [`FlowKey::canonical_ports`]).
    pub src_addr_order: Ordering,
    pub l4_offset: usize,
    /// Bytes after the IP header(s): what the length field declares, at most what the
    /// frame holds.
    pub payload_len: u32,
}

/// Parses the IPv4 header at `off` and writes the addresses into `key`, smaller first.
#[inline(always)]
pub fn ipv4(start: usize, end: usize, len: u32, off: usize, key: *mut FlowKey) -> Result<L3, ()> {
    let ip = at(start, end, off, 20)?;
    let vihl = ld8::<0>(ip);
    if vihl >> 4 != 4 {
        return Err(());
    }
    let ihl = ((vihl & 0x0F) as usize) * 4;
    if ihl < 20 {
        return Err(());
    }
    // Options are skipped, but the whole header must be in the frame.
    if off + ihl > end - start {
        return Err(());
    }
    let declared = be16::<2>(ip) as usize;
    if declared != 0 && declared < ihl {
        return Err(());
    }
    // At least `ihl`: the header is in the frame.
    let total = capped(declared, (len as usize).saturating_sub(off));
    let fragment = ipv4_fragment(be16::<6>(ip));
    let src = ld32::<12>(ip);
    let dst = ld32::<16>(ip);
    let order = src.cmp(&dst);
    let (a, b) = FlowKey::canonical_addrs(order, src, dst);
    unsafe {
        addr_of_mut!((*key).addr_a).write([a, 0, 0, 0]);
        addr_of_mut!((*key).addr_b).write([b, 0, 0, 0]);
        addr_of_mut!((*key).ip_version).write(4);
    }
    Ok(L3 {
        protocol: ld8::<9>(ip),
        ttl: ld8::<8>(ip),
        fragment,
        src_addr_order: order,
        l4_offset: off + ihl,
        payload_len: total.saturating_sub(ihl) as u32,
    })
}

/// Parses the IPv6 header and extension headers at `off` and writes the addresses into
/// `key`, smaller first.
///
/// Hop-by-hop, routing, destination-options and fragment headers are skipped, at most
/// [`MAX_IPV6_EXT`] of them. A fragment header with a non-zero offset ends the chain: what
/// follows it belongs to the fragmented payload. Any other next header is the protocol.
#[inline(always)]
pub fn ipv6(start: usize, end: usize, len: u32, off: usize, key: *mut FlowKey) -> Result<L3, ()> {
    let ip = at(start, end, off, IPV6_HLEN)?;
    if ld8::<0>(ip) >> 4 != 6 {
        return Err(());
    }
    let payload = capped(
        be16::<4>(ip) as usize,
        (len as usize).saturating_sub(off + IPV6_HLEN),
    );
    let mut next = ld8::<6>(ip);
    let ttl = ld8::<7>(ip);
    let src = [
        ld32::<8>(ip),
        ld32::<12>(ip),
        ld32::<16>(ip),
        ld32::<20>(ip),
    ];
    let dst = [
        ld32::<24>(ip),
        ld32::<28>(ip),
        ld32::<32>(ip),
        ld32::<36>(ip),
    ];
    let order = FlowKey::compare_addrs(&src, &dst);
    let (a, b) = FlowKey::canonical_addrs(order, src, dst);
    unsafe {
        addr_of_mut!((*key).addr_a).write(a);
        addr_of_mut!((*key).addr_b).write(b);
        addr_of_mut!((*key).ip_version).write(6);
    }
    let mut l4_offset = off + IPV6_HLEN;
    let mut ext_len: usize = 0;
    let mut fragment = Fragment::Whole;
    for _ in 0..MAX_IPV6_EXT {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let hdr = at(start, end, l4_offset, 2)?;
                let len = (ld8::<1>(hdr) as usize + 1) * 8;
                next = ld8::<0>(hdr);
                l4_offset += len;
                ext_len += len;
            }
            NEXTHDR_FRAGMENT => {
                let hdr = at(start, end, l4_offset, 4)?;
                next = ld8::<0>(hdr);
                // Offset in 8-byte units (upper 13 bits), then two reserved bits and M.
                let field = be16::<2>(hdr);
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
    // The chain is longer than the limit (a tail's next header is payload, not a header).
    if fragment != Fragment::Tail && is_ipv6_extension(next) {
        return Err(());
    }
    // Every extension header must lie within the payload the packet has.
    if ext_len > payload {
        return Err(());
    }
    Ok(L3 {
        protocol: next,
        ttl,
        fragment,
        src_addr_order: order,
        l4_offset,
        payload_len: (payload - ext_len) as u32,
    })
}
