//! Link layers: where the IP packet starts in a captured frame, and the header a synthetic
//! packet gets so it looks like the capture's own frames.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::packet::{write_ip, Synth};

/// A link type simulate can read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101): the IP packet alone, version from its first nibble.
    Raw,
    /// LINKTYPE_IPV4 (228).
    RawV4,
    /// LINKTYPE_IPV6 (229).
    RawV6,
    /// LINKTYPE_LINUX_SLL (113), Linux cooked capture v1.
    Sll,
    /// LINKTYPE_LINUX_SLL2 (276), Linux cooked capture v2.
    Sll2,
}

impl Link {
    /// The link for a pcap LINKTYPE number, or `None` for one simulate cannot write.
    pub fn from_linktype(linktype: u32) -> Option<Link> {
        Some(match linktype {
            1 => Link::Ethernet,
            101 | 12 | 14 => Link::Raw,
            228 => Link::RawV4,
            229 => Link::RawV6,
            113 => Link::Sll,
            276 => Link::Sll2,
            _ => return None,
        })
    }

    /// True when packets of this address family can be written in this link type.
    pub fn carries(self, addr: IpAddr) -> bool {
        match self {
            Link::RawV4 => addr.is_ipv4(),
            Link::RawV6 => addr.is_ipv6(),
            _ => true,
        }
    }

    /// The IP packet inside a captured frame, or `None` when the frame holds no IP.
    pub fn ip_payload(self, frame: &[u8]) -> Option<&[u8]> {
        match self {
            Link::Raw | Link::RawV4 | Link::RawV6 => Some(frame),
            Link::Ethernet => {
                let mut at = 12;
                loop {
                    let et = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
                    match et {
                        0x8100 | 0x88a8 => at += 4,
                        0x0800 | 0x86dd => return frame.get(at + 2..),
                        _ => return None,
                    }
                }
            }
            Link::Sll => ip_after(frame, 14, 16),
            Link::Sll2 => ip_after(frame, 0, 20),
        }
    }

    /// Appends the frame of `p` to `out` (cleared first).
    pub fn write_frame(self, p: &Synth, macs: &Macs, out: &mut Vec<u8>) {
        out.clear();
        let ethertype: u16 = if p.src.is_ipv4() { 0x0800 } else { 0x86dd };
        // The victim side's own address, and the address packets from outside come from.
        let (src_mac, dst_mac) = if p.inbound {
            (macs.outside, macs.victim)
        } else {
            (macs.victim, macs.outside)
        };
        // PACKET_HOST (0) for packets to the capturing host, PACKET_OUTGOING (4) for its own.
        let pkttype: u8 = if p.inbound { 0 } else { 4 };
        match self {
            Link::Raw | Link::RawV4 | Link::RawV6 => {}
            Link::Ethernet => {
                out.extend_from_slice(&dst_mac);
                out.extend_from_slice(&src_mac);
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                out.extend_from_slice(&[0, pkttype, 0, 1, 0, 6]);
                out.extend_from_slice(&src_mac);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 => {
                out.extend_from_slice(&ethertype.to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, pkttype, 6]);
                out.extend_from_slice(&src_mac);
                out.extend_from_slice(&[0, 0]);
            }
        }
        write_ip(p, out);
    }
}

fn ip_after(frame: &[u8], ethertype_at: usize, ip_at: usize) -> Option<&[u8]> {
    let et = u16::from_be_bytes([*frame.get(ethertype_at)?, *frame.get(ethertype_at + 1)?]);
    match et {
        0x0800 | 0x86dd => frame.get(ip_at..),
        _ => None,
    }
}

/// The Ethernet addresses synthetic frames use: the victim's, and the one its traffic
/// from outside arrives from (its gateway). Learned from the capture when it shows the
/// victim; otherwise locally administered addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Macs {
    pub victim: [u8; 6],
    pub outside: [u8; 6],
}

impl Default for Macs {
    fn default() -> Self {
        Self {
            victim: [0x02, 0, 0, 0, 0, 0x01],
            outside: [0x02, 0, 0, 0, 0, 0x02],
        }
    }
}

/// The fields of an IP packet the capture survey counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpSummary {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    /// TCP or UDP ports of an unfragmented IPv4 packet or an IPv6 packet without
    /// extension headers; 0 otherwise.
    pub src_port: u16,
    pub dst_port: u16,
    /// TCP flags under the same condition; 0 otherwise.
    pub tcp_flags: u8,
}

/// Reads the addresses and protocol of an IP packet; `None` when it is too short.
pub fn summarize(ip: &[u8]) -> Option<IpSummary> {
    match ip.first()? >> 4 {
        4 if ip.len() >= 20 => {
            let ihl = ((ip[0] & 0x0f) as usize) * 4;
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            let l4 = if frag == 0 { Some(ihl) } else { None };
            Some(summary(ip, src.into(), dst.into(), ip[9], l4))
        }
        6 if ip.len() >= 40 => {
            let src: [u8; 16] = ip[8..24].try_into().ok()?;
            let dst: [u8; 16] = ip[24..40].try_into().ok()?;
            Some(summary(
                ip,
                Ipv6Addr::from(src).into(),
                Ipv6Addr::from(dst).into(),
                ip[6],
                Some(40),
            ))
        }
        _ => None,
    }
}

fn summary(ip: &[u8], src: IpAddr, dst: IpAddr, protocol: u8, l4: Option<usize>) -> IpSummary {
    let (src_port, dst_port, tcp_flags) = match l4 {
        Some(at) if protocol == 6 || protocol == 17 => {
            let flags = if protocol == 6 {
                ip.get(at + 13).copied().unwrap_or(0)
            } else {
                0
            };
            (port_at(ip, at), port_at(ip, at + 2), flags)
        }
        _ => (0, 0, 0),
    };
    IpSummary {
        src,
        dst,
        protocol,
        src_port,
        dst_port,
        tcp_flags,
    }
}

fn port_at(ip: &[u8], at: usize) -> u16 {
    match (ip.get(at), ip.get(at + 1)) {
        (Some(a), Some(b)) => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ip_packet_is_found_behind_vlan_tags_and_cooked_headers() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00, 0x45]);
        assert_eq!(Link::Ethernet.ip_payload(&eth), Some(&[0x45u8][..]));
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0]);
        assert_eq!(Link::Ethernet.ip_payload(&arp), None);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x86, 0xdd, 0x60]);
        assert_eq!(Link::Sll.ip_payload(&sll), Some(&[0x60u8][..]));
        assert_eq!(Link::from_linktype(105), None);
    }

    #[test]
    fn every_link_type_wraps_the_ip_packet_where_its_readers_look() {
        use crate::simulate::packet::{Payload, Transport};
        let p = Synth {
            ts_ns: 0,
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            ttl: 64,
            ip_id: 0,
            transport: Transport::Udp {
                src_port: 1,
                dst_port: 2,
            },
            payload: Payload::Text(b"x"),
            inbound: false,
        };
        let mut ip = Vec::new();
        write_ip(&p, &mut ip);
        let macs = Macs::default();
        let mut frame = Vec::new();
        for (link, header) in [
            (Link::Ethernet, 14),
            (Link::Raw, 0),
            (Link::RawV6, 0),
            (Link::Sll, 16),
            (Link::Sll2, 20),
        ] {
            link.write_frame(&p, &macs, &mut frame);
            assert_eq!(frame.len(), header + ip.len(), "{link:?}");
            assert_eq!(link.ip_payload(&frame), Some(&ip[..]), "{link:?}");
        }
        // Outbound: from the victim's address; SLL says PACKET_OUTGOING.
        Link::Ethernet.write_frame(&p, &macs, &mut frame);
        assert_eq!(
            (&frame[0..6], &frame[6..12]),
            (&macs.outside[..], &macs.victim[..])
        );
        Link::Sll.write_frame(&p, &macs, &mut frame);
        assert_eq!(&frame[..2], &[0, 4]);
        assert!(!Link::RawV4.carries(p.src));
        assert_eq!(
            summarize(&ip).map(|s| (s.protocol, s.src_port, s.dst_port)),
            Some((17, 1, 2))
        );
    }
}
