//! TCP, UDP, ICMP and ICMPv6 headers, by the rules of the kernel's `parse/l4.rs`: an L4
//! header must lie whole inside the IP payload (as the IP length, capped by the packet,
//! delimits it) and in the captured bytes.

use packetguard_common::key::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};

use super::{at, Malformed};

const TCP_HLEN: u32 = 20;
const UDP_HLEN: u32 = 8;
const ICMP_HLEN: u32 = 8;

pub struct L4 {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: u32,
    pub tcp_flags: u8,
    pub window: u16,
    /// A TCP header was read whole.
    pub tcp_flags_known: bool,
    /// Only the ports were read (a first fragment cut inside its L4 header).
    pub ports_only: bool,
}

impl L4 {
    /// No L4 header read: ports 0, everything after the IP header(s) is payload.
    pub fn none(ip_payload: u32) -> L4 {
        L4::ports(0, 0, ip_payload)
    }

    pub fn ports(src_port: u16, dst_port: u16, payload_len: u32) -> L4 {
        L4 {
            src_port,
            dst_port,
            payload_len,
            tcp_flags: 0,
            window: 0,
            tcp_flags_known: false,
            ports_only: false,
        }
    }
}

pub fn be16(d: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([d[off], d[off + 1]])
}

/// The L4 header of `protocol` at `off`, of which the IP payload holds `avail` bytes.
pub fn l4(data: &[u8], off: usize, protocol: u8, avail: u32) -> Result<L4, Malformed> {
    match protocol {
        IPPROTO_TCP => {
            if avail < TCP_HLEN {
                return Err(Malformed);
            }
            let tcp = at(data, off, TCP_HLEN as usize)?;
            let doff = ((data[tcp + 12] >> 4) as u32) * 4;
            if doff < TCP_HLEN || doff > avail || off + doff as usize > data.len() {
                return Err(Malformed);
            }
            Ok(L4 {
                src_port: be16(data, tcp),
                dst_port: be16(data, tcp + 2),
                payload_len: avail - doff,
                tcp_flags: data[tcp + 13],
                window: be16(data, tcp + 14),
                tcp_flags_known: true,
                ports_only: false,
            })
        }
        IPPROTO_UDP => {
            if avail < UDP_HLEN {
                return Err(Malformed);
            }
            let udp = at(data, off, UDP_HLEN as usize)?;
            Ok(L4::ports(
                be16(data, udp),
                be16(data, udp + 2),
                avail - UDP_HLEN,
            ))
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            if avail < ICMP_HLEN {
                return Err(Malformed);
            }
            let icmp = at(data, off, ICMP_HLEN as usize)?;
            let t = data[icmp];
            let echo = if protocol == IPPROTO_ICMP {
                t == 0 || t == 8
            } else {
                t == 128 || t == 129
            };
            // Echo request and reply share the identifier: both ports hold it.
            let id = if echo { be16(data, icmp + 4) } else { 0 };
            Ok(L4::ports(id, id, avail - ICMP_HLEN))
        }
        _ => Ok(L4::none(avail)),
    }
}
