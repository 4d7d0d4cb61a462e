//! TCP, UDP, ICMP and ICMPv6 headers: ports, TCP flags and window, payload length.
//!
//! An L4 header must lie whole inside the IP payload (as the IP length, capped by the
//! frame, delimits it: see [`super::l3`]), not merely inside the frame: Ethernet padding
//! after a short IP packet is never read as a header. A whole packet whose L4 header is
//! cut short is a parse error; a first fragment's is handled by [`super::fragment`].

use packetguard_common::{
    key::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP},
    wire::is_echo,
};

use super::{at, be16, ld8};

/// The fixed TCP header; options follow up to the data offset.
const TCP_HLEN: u32 = 20;
const UDP_HLEN: u32 = 8;
/// Type, code, checksum and the 4 bytes that hold an echo's identifier and sequence.
const ICMP_HLEN: u32 = 8;

pub struct L4 {
    pub src_port: u16,
    pub dst_port: u16,
    /// Bytes after the L4 header, within the IP payload.
    pub payload_len: u32,
    pub tcp_flags: u8,
    pub window: u16,
    /// A TCP header was read whole: `tcp_flags` and `window` are the segment's.
    pub tcp_flags_known: bool,
    /// Only the ports were read: a first fragment cut inside its L4 header
    /// ([`super::fragment::short_first`]).
    pub ports_only: bool,
}

impl L4 {
    /// No L4 header read: ports 0, everything after the IP header(s) is payload.
    #[inline(always)]
    pub fn none(ip_payload: u32) -> L4 {
        L4::ports(0, 0, ip_payload)
    }

    /// A header with ports and no TCP flags.
    #[inline(always)]
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

/// Reads the L4 header of `protocol` at `off`, of which the IP payload holds `avail` bytes.
#[inline(always)]
pub fn l4(start: usize, end: usize, off: usize, protocol: u8, avail: u32) -> Result<L4, ()> {
    match protocol {
        IPPROTO_TCP => {
            if avail < TCP_HLEN {
                return Err(());
            }
            let tcp = at(start, end, off, TCP_HLEN as usize)?;
            let doff = ((ld8::<12>(tcp) >> 4) as u32) * 4;
            if doff < TCP_HLEN || doff > avail {
                return Err(());
            }
            // The header with its options must be in the frame.
            if off + doff as usize > end - start {
                return Err(());
            }
            Ok(L4 {
                src_port: be16::<0>(tcp),
                dst_port: be16::<2>(tcp),
                payload_len: avail - doff,
                tcp_flags: ld8::<13>(tcp),
                window: be16::<14>(tcp),
                tcp_flags_known: true,
                ports_only: false,
            })
        }
        IPPROTO_UDP => {
            if avail < UDP_HLEN {
                return Err(());
            }
            let udp = at(start, end, off, UDP_HLEN as usize)?;
            Ok(L4::ports(be16::<0>(udp), be16::<2>(udp), avail - UDP_HLEN))
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            if avail < ICMP_HLEN {
                return Err(());
            }
            let icmp = at(start, end, off, ICMP_HLEN as usize)?;
            let echo = is_echo(protocol, ld8::<0>(icmp));
            // Echo request and reply share the identifier: use it as both ports so a ping
            // run is one flow and separate runs are separate flows.
            let id = if echo { be16::<4>(icmp) } else { 0 };
            Ok(L4::ports(id, id, avail - ICMP_HLEN))
        }
        // Other protocols (GRE, ESP, SCTP, ...): an L3 flow with ports 0.
        _ => Ok(L4::none(avail)),
    }
}
