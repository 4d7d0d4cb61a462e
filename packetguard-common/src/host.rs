//! Per-address traffic totals kept by the kernel for the destination and source detectors.
//!
//! The kernel programs add the IP packets of every flow to two per-CPU LRU hash maps, so no
//! two CPUs ever write the same counters: the entry of their destination address (the
//! destination map, `HOSTS`) and the entry of their source address (the source map,
//! `SOURCES`). They do so from the flow map, in credits of up to a tenth of a second per
//! flow direction ([`crate::entry`] says when). The agent reads both maps once a second,
//! sums the CPUs and takes the difference from its previous reading: that gives each
//! address's packets, bytes and SYN-without-ACK packets received (or sent) in the window,
//! however many peers (spoofed or not) the packets came from or went to.

use crate::FlowKey;

/// A destination address: the key of the host map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HostKey {
    /// Address words as on the wire; IPv4 in word 0, the other words zero.
    pub addr: [u32; 4],
    /// 4 or 6.
    pub ip_version: u8,
    pub _pad: [u8; 3],
}

const _: () = assert!(core::mem::size_of::<HostKey>() == 20);

impl HostKey {
    /// The destination of a packet whose source is endpoint `a` of `key` when `src_is_a`.
    #[inline(always)]
    pub fn destination(key: &FlowKey, src_is_a: bool) -> Self {
        Self::endpoint(key, !src_is_a)
    }

    /// The source of a packet whose source is endpoint `a` of `key` when `src_is_a`.
    #[inline(always)]
    pub fn source(key: &FlowKey, src_is_a: bool) -> Self {
        Self::endpoint(key, src_is_a)
    }

    /// Endpoint `a` of `key` when `a`, else endpoint `b`.
    #[inline(always)]
    pub fn endpoint(key: &FlowKey, a: bool) -> Self {
        HostKey {
            addr: if a { key.addr_a } else { key.addr_b },
            ip_version: key.ip_version,
            _pad: [0; 3],
        }
    }
}

/// True when a packet with these TCP flags is a connection attempt (SYN set, ACK clear).
#[inline(always)]
pub fn syn_without_ack(is_tcp: bool, tcp_flags: u8) -> bool {
    is_tcp
        && tcp_flags & (crate::record::TCP_SYN | crate::record::TCP_ACK) == crate::record::TCP_SYN
}

/// True when a packet is a connection attempt toward its destination: a TCP segment with
/// SYN set and ACK clear, or a first IP fragment that cuts its TCP header short
/// (`short_tcp_first_fragment`: the ports are in it, the flags are not, or the header's
/// options run past it).
///
/// No TCP stack splits its header across fragments (RFC 1858; RFC 7112 forbids it for
/// IPv6), so such a fragment is made to slip past filters that read flags, and a flood of
/// them is a SYN flood once the destination reassembles it. Its flags are unknowable
/// here; counting it as an attempt is what keeps the flood in the destination's window
/// (`syn_without_ack` and new flows) instead of hiding it. The kernel parser decides this
/// once per packet and carries it in [`crate::PacketMeta::attempt`] and
/// [`crate::FlowStart::attempt`].
#[inline(always)]
pub fn connection_attempt(is_tcp: bool, tcp_flags: u8, short_tcp_first_fragment: bool) -> bool {
    short_tcp_first_fragment || syn_without_ack(is_tcp, tcp_flags)
}

/// True when the first reply of a flow with these TCP flags (ignored for other protocols)
/// answers the opener's attempt: a SYN-ACK for TCP (a reset or a bare ACK is no answer;
/// a bare ACK is the reply of a flow first seen mid-stream, which was no attempt), any
/// packet for UDP and ICMP.
#[inline(always)]
pub fn is_answer(protocol: u8, tcp_flags: u8) -> bool {
    use crate::record::{TCP_ACK, TCP_RST, TCP_SYN};
    protocol != crate::key::IPPROTO_TCP
        || tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN | TCP_ACK
}

/// One CPU's running totals for one address, as destination (packets received) or as
/// source (packets sent). Never reset by the kernel: the agent works with differences
/// between readings.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HostStats {
    pub packets: u64,
    /// Frame bytes.
    pub bytes: u64,
    pub tcp_packets: u64,
    /// Connection attempts ([`connection_attempt`]): TCP packets with SYN set and ACK
    /// clear, and first fragments that cut their TCP header short.
    pub syn_without_ack: u64,
    /// Source map only: flows this address opened whose first reply was not a TCP reset
    /// (a SYN-ACK, a UDP answer, an echo reply). Connection attempts minus these are the
    /// attempts that failed: reset, refused with ICMP, or unanswered.
    pub answered: u64,
}

const _: () = assert!(core::mem::size_of::<HostStats>() == 40);

impl HostStats {
    /// Adds one packet of `len` frame bytes with the given TCP flags (`is_tcp` 0 or 1).
    #[inline(always)]
    pub fn add(&mut self, len: u32, is_tcp: u8, tcp_flags: u8) {
        self.packets += 1;
        self.bytes += len as u64;
        self.tcp_packets += is_tcp as u64;
        self.syn_without_ack += syn_without_ack(is_tcp != 0, tcp_flags) as u64;
    }

    /// The totals of one packet.
    #[inline(always)]
    pub fn first(len: u32, is_tcp: u8, tcp_flags: u8) -> Self {
        let mut s = HostStats::default();
        s.add(len, is_tcp, tcp_flags);
        s
    }

    /// Sum of two totals: two CPUs' readings, or a total and a credit (see [`crate::entry`]).
    #[inline(always)]
    pub fn plus(&self, o: &HostStats) -> HostStats {
        HostStats {
            packets: self.packets.wrapping_add(o.packets),
            bytes: self.bytes.wrapping_add(o.bytes),
            tcp_packets: self.tcp_packets.wrapping_add(o.tcp_packets),
            syn_without_ack: self.syn_without_ack.wrapping_add(o.syn_without_ack),
            answered: self.answered.wrapping_add(o.answered),
        }
    }

    /// What was added since `earlier`. An entry the LRU evicted and created again restarts
    /// from zero, so a total below the earlier one is taken whole.
    pub fn since(&self, earlier: &HostStats) -> HostStats {
        if self.packets < earlier.packets {
            return *self;
        }
        HostStats {
            packets: self.packets - earlier.packets,
            bytes: self.bytes.saturating_sub(earlier.bytes),
            tcp_packets: self.tcp_packets.saturating_sub(earlier.tcp_packets),
            syn_without_ack: self.syn_without_ack.saturating_sub(earlier.syn_without_ack),
            answered: self.answered.saturating_sub(earlier.answered),
        }
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for HostKey {}
    unsafe impl aya::Pod for HostStats {}
    unsafe impl bytemuck::Zeroable for HostKey {}
    unsafe impl bytemuck::Pod for HostKey {}
    unsafe impl bytemuck::Zeroable for HostStats {}
    unsafe impl bytemuck::Pod for HostStats {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{TCP_ACK, TCP_SYN};

    #[test]
    fn syn_without_ack_counts_only_tcp_connection_attempts() {
        let mut s = HostStats::first(60, 1, TCP_SYN);
        s.add(60, 1, TCP_SYN | TCP_ACK);
        s.add(100, 0, TCP_SYN); // not TCP: flags are meaningless
        assert_eq!(
            s,
            HostStats {
                packets: 3,
                bytes: 220,
                tcp_packets: 2,
                syn_without_ack: 1,
                answered: 0,
            }
        );
    }

    #[test]
    fn a_first_fragment_cut_inside_its_tcp_header_is_an_attempt() {
        assert!(connection_attempt(false, 0, true), "flags unknown");
        assert!(connection_attempt(true, TCP_SYN, false));
        assert!(!connection_attempt(true, TCP_SYN | TCP_ACK, false));
        assert!(!connection_attempt(false, TCP_SYN, false), "not TCP");
    }

    #[test]
    fn since_takes_a_restarted_entry_whole() {
        let earlier = HostStats::first(1000, 0, 0);
        let mut now = earlier;
        now.add(500, 1, TCP_SYN);
        assert_eq!(now.since(&earlier), HostStats::first(500, 1, TCP_SYN));
        let restarted = HostStats::first(70, 0, 0);
        let mut big = earlier;
        big.add(1, 0, 0);
        assert_eq!(restarted.since(&big), restarted);
    }

    #[test]
    fn destination_and_source_follow_the_packet_direction() {
        let (key, src_is_a) = FlowKey::canonical(4, 6, [9, 0, 0, 0], 1000, [3, 0, 0, 0], 80);
        assert!(!src_is_a);
        assert_eq!(HostKey::destination(&key, src_is_a).addr, [3, 0, 0, 0]);
        assert_eq!(HostKey::source(&key, src_is_a).addr, [9, 0, 0, 0]);
    }
}
