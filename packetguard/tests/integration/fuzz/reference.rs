//! The reference reading of a frame: `etherparse` (its lax slicer, which like the kernel
//! parser accepts IP lengths beyond the frame and reads what is there), with every point
//! where PacketGuard's parser deliberately reads a frame differently reconciled here, each
//! with its reason. What comes out is what the kernel must have produced: a flow key, a
//! non-IP frame or a parse error.
//!
//! Etherparse accepting a frame gives a flow key. Etherparse rejecting a header that
//! PacketGuard reads too, by the same rule (cut short, IHL below 5, a TCP data offset
//! below 5), gives a parse error. Where etherparse rejects what PacketGuard does not read
//! (the body of an ARP packet, an authentication header, IGMP) or reads differently (a
//! hop-by-hop header that is not first), the reconciliations below say what PacketGuard
//! does instead, or the frame is not judged (`None`).

use etherparse::{
    err::{packet::SliceError, Layer},
    Icmpv4Slice, Icmpv6Slice, Ipv6FragmentHeaderSlice, Ipv6RawExtHeaderSlice, LaxLinkExtSlice,
    LaxNetSlice, LaxSlicedPacket, LinkSlice, TcpSlice, TransportSlice, UdpSlice,
};
use packetguard_common::FlowKey;

/// What the kernel parser must make of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A packet of the flow with this key.
    Flow(FlowKey),
    NonIp,
    ParseError,
}

const TPID_8021Q: u16 = 0x8100;
const TPID_8021AD: u16 = 0x88A8;
const MACSEC: u16 = 0x88E5;
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
/// VLAN tags and IPv6 extension headers the kernel parser skips at most (the parse
/// module's `MAX_VLAN` and `l3::MAX_IPV6_EXT`).
const MAX_VLAN: usize = 2;
const MAX_IPV6_EXT: usize = 6;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const IGMP: u8 = 2;
const AH: u8 = 51;
const FRAGMENT: u8 = 44;

/// The reference reading of `frame`; `None` when it cannot be judged.
pub fn expected(frame: &[u8]) -> Option<Expected> {
    let p = LaxSlicedPacket::from_ethernet(frame).ok()?;
    // The EtherTypes in order: the Ethernet header's, then each tag's inner one.
    // Reconciled: etherparse takes up to three tags, 0x9100 as a tag too, and MACsec;
    // PacketGuard takes at most two tags, 802.1Q or 802.1ad, so a deeper stack, a 0x9100
    // tag or MACsec leaves it at an EtherType that is not IP.
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        return None;
    };
    let mut types = vec![eth.ether_type().0];
    for ext in &p.link_exts {
        types.push(match ext {
            LaxLinkExtSlice::Vlan(v) => v.ether_type().0,
            LaxLinkExtSlice::Macsec(_) => MACSEC,
        });
    }
    let mut tags = 0;
    while tags < MAX_VLAN && tags < types.len() && matches!(types[tags], TPID_8021Q | TPID_8021AD) {
        tags += 1;
    }
    // No EtherType after a tag PacketGuard reads: etherparse found the tag cut short
    // (a `VlanHeader` length error), and so does PacketGuard.
    let Some(&ethertype) = types.get(tags) else {
        return Some(Expected::ParseError);
    };
    if ethertype != ETH_IPV4 && ethertype != ETH_IPV6 {
        // Not IP, decided by the EtherType alone: whatever etherparse made of what follows
        // (a third tag, an ARP body cut short), PacketGuard never reads it.
        return Some(Expected::NonIp);
    }
    let stop = p.stop_err.as_ref();
    let Some(net) = &p.net else {
        // Etherparse rejected the IP header itself (cut short, IHL below 5, a version
        // other than 4 or 6): PacketGuard rejects it by the same rules.
        return matches!(stop, Some((_, Layer::IpHeader))).then_some(Expected::ParseError);
    };
    match net {
        LaxNetSlice::Arp(_) => Some(Expected::NonIp),
        LaxNetSlice::Ipv4(ip) => {
            // Reconciled: etherparse chooses IPv4 or IPv6 by the version nibble;
            // PacketGuard requires it to match the EtherType, else a parse error.
            if ethertype != ETH_IPV4 {
                return Some(Expected::ParseError);
            }
            let h = ip.header();
            let ihl = h.ihl() as usize * 4;
            let total = h.total_len() as usize;
            // Reconciled: a total length shorter than the header falls back to the
            // frame in etherparse; PacketGuard takes only 0 that way (the GSO
            // convention) and any other shorter length as a parse error.
            if total != 0 && total < ihl {
                return Some(Expected::ParseError);
            }
            let src = [u32::from_ne_bytes(h.source()), 0, 0, 0];
            let dst = [u32::from_ne_bytes(h.destination()), 0, 0, 0];
            let key = |protocol: u8, sport: u16, dport: u16| {
                Expected::Flow(FlowKey::canonical(4, protocol, src, sport, dst, dport).0)
            };
            let protocol = h.protocol().0;
            // Reconciled: etherparse reads an IPv4 authentication header (and rejects a
            // bad one); PacketGuard reads AH as the protocol, an L3 flow with ports 0.
            if protocol == AH {
                return Some(key(AH, 0, 0));
            }
            let tail = h.fragments_offset().value() != 0;
            let first = !tail && h.more_fragments();
            l4(protocol, tail, first, ip.payload().payload, &p, key)
        }
        LaxNetSlice::Ipv6(ip) => {
            if ethertype != ETH_IPV6 {
                return Some(Expected::ParseError);
            }
            let h = ip.header();
            let words = |a: [u8; 16]| {
                let w = |i: usize| u32::from_ne_bytes(a[i..i + 4].try_into().unwrap());
                [w(0), w(4), w(8), w(12)]
            };
            let (src, dst) = (words(h.source()), words(h.destination()));
            let key = |protocol: u8, sport: u16, dport: u16| {
                Expected::Flow(FlowKey::canonical(6, protocol, src, sport, dst, dport).0)
            };
            // Walk the chain as PacketGuard does. Reconciled: PacketGuard skips at most
            // six extension headers (a seventh is a parse error; etherparse has no
            // limit); it stops at a fragment header with a non-zero offset (what
            // follows is the fragment's data, which etherparse goes on parsing as
            // headers, and may reject); and it reads an authentication header as the
            // protocol (an L3 flow with ports 0), where etherparse skips it.
            //
            // The chain is walked with etherparse's checked slicers over the bytes it
            // took as extension headers: its own iterator over them reads past their end
            // when the lax slicer stopped on an error (undefined behaviour, caught by the
            // standard library's debug checks).
            let exts = ip.extensions();
            let mut next = exts.first_header().map(|n| n.0);
            let mut rest = exts.slice();
            let mut count = 0;
            let mut first = false;
            while !rest.is_empty() {
                let kind = next?;
                if kind == AH {
                    return Some(key(AH, 0, 0));
                }
                count += 1;
                if count > MAX_IPV6_EXT {
                    return Some(Expected::ParseError);
                }
                if kind == FRAGMENT {
                    let f = Ipv6FragmentHeaderSlice::from_slice(rest).ok()?;
                    if f.fragment_offset().value() != 0 {
                        return Some(key(f.next_header().0, 0, 0));
                    }
                    first |= f.more_fragments();
                    next = Some(f.next_header().0);
                    rest = &rest[f.slice().len()..];
                } else {
                    let h = Ipv6RawExtHeaderSlice::from_slice(rest).ok()?;
                    next = Some(h.next_header().0);
                    rest = &rest[h.slice().len()..];
                }
            }
            let payload = ip.payload();
            match stop {
                // An authentication header etherparse could not read: PacketGuard does
                // not read it.
                Some((_, Layer::IpAuthHeader)) => return Some(key(AH, 0, 0)),
                // Reconciled: PacketGuard skips a hop-by-hop header wherever it stands
                // (RFC 8200 wants it first; etherparse stops there). Not judged.
                Some((SliceError::Ipv6Exts(_), _)) => return None,
                // The next extension header is cut short or runs past the payload:
                // PacketGuard checks the chain against the same payload.
                Some((
                    SliceError::Len(_),
                    Layer::Ipv6ExtHeader
                    | Layer::Ipv6HopByHopHeader
                    | Layer::Ipv6DestOptionsHeader
                    | Layer::Ipv6RouteHeader
                    | Layer::Ipv6FragHeader,
                )) => return Some(Expected::ParseError),
                _ => {}
            }
            l4(payload.ip_number.0, false, first, payload.payload, &p, key)
        }
    }
}

/// The L4 part of the reading: `payload` is the IP payload (after the extension
/// headers), as the IP length delimits it, capped by the frame.
fn l4(
    protocol: u8,
    tail: bool,
    first: bool,
    payload: &[u8],
    p: &LaxSlicedPacket,
    key: impl Fn(u8, u16, u16) -> Expected,
) -> Option<Expected> {
    // Reconciled: etherparse reads no transport header in a fragment. PacketGuard counts
    // a tail on the L3 flow with ports 0, and reads a first fragment's header like a
    // whole packet's when it is whole, else its ports when the 4 port bytes are there
    // (TCP and UDP), else ports 0. The first-fragment rules are read here with etherparse's
    // own header slicers.
    if tail {
        return Some(key(protocol, 0, 0));
    }
    if first {
        let whole = match protocol {
            TCP => TcpSlice::from_slice(payload)
                .ok()
                .map(|t| (t.source_port(), t.destination_port())),
            UDP => UdpSlice::from_slice_lax(payload)
                .ok()
                .map(|u| (u.source_port(), u.destination_port())),
            ICMP | ICMPV6 => Some(echo_ports(protocol, payload).unwrap_or((0, 0))),
            _ => Some((0, 0)),
        };
        let (s, d) = whole
            .or_else(|| {
                (payload.len() >= 4).then(|| {
                    (
                        u16::from_be_bytes([payload[0], payload[1]]),
                        u16::from_be_bytes([payload[2], payload[3]]),
                    )
                })
            })
            .unwrap_or((0, 0));
        return Some(key(protocol, s, d));
    }
    match (&p.transport, p.stop_err.as_ref()) {
        (Some(TransportSlice::Tcp(t)), _) => {
            Some(key(protocol, t.source_port(), t.destination_port()))
        }
        (Some(TransportSlice::Udp(u)), _) => {
            Some(key(protocol, u.source_port(), u.destination_port()))
        }
        (Some(TransportSlice::Icmpv4(_)), _) | (Some(TransportSlice::Icmpv6(_)), _) => {
            let (s, d) = echo_ports(protocol, payload).expect("etherparse read 8 bytes");
            Some(key(protocol, s, d))
        }
        // Reconciled: PacketGuard reads no IGMP header (an L3 flow with ports 0, whether
        // or not etherparse could read one).
        (Some(TransportSlice::Igmp(_)), _) | (None, Some((_, Layer::Igmp))) => {
            Some(key(IGMP, 0, 0))
        }
        // A TCP, UDP, ICMP or ICMPv6 header cut short (or a TCP data offset below 5) in
        // a whole packet: a parse error for PacketGuard too. The ICMP header is 8 bytes
        // for both.
        (None, Some((_, Layer::TcpHeader | Layer::UdpHeader | Layer::Icmpv4 | Layer::Icmpv6))) => {
            Some(Expected::ParseError)
        }
        // Everything etherparse has no slicer for: an L3 flow with ports 0.
        (None, None) => Some(key(protocol, 0, 0)),
        (None, Some(_)) => None,
    }
}

/// Reconciled: PacketGuard uses an ICMP or ICMPv6 echo's identifier as both ports (one
/// flow per ping run) and 0 for other messages. Which types are echoes follows the
/// protocol number (1: types 0 and 8; 58: 128 and 129), whatever the IP version, and
/// the code is not looked at. `None` when the 8-byte header is not whole.
fn echo_ports(protocol: u8, payload: &[u8]) -> Option<(u16, u16)> {
    let (t, rest) = if protocol == ICMP {
        let s = Icmpv4Slice::from_slice(payload).ok()?;
        (s.type_u8(), s.bytes5to8())
    } else {
        let s = Icmpv6Slice::from_slice(payload).ok()?;
        (s.type_u8(), s.bytes5to8())
    };
    let echo = if protocol == ICMP {
        t == 0 || t == 8
    } else {
        t == 128 || t == 129
    };
    let id = if echo {
        u16::from_be_bytes([rest[0], rest[1]])
    } else {
        0
    };
    Some((id, id))
}
