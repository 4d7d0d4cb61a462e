//! The flow map's value: a flow's statistics plus how much of them the host map holds.
//!
//! The host detector needs per-destination packets and bytes every second. Adding every
//! packet to its destination's host entry would cost a second hash lookup per packet, so
//! the kernel credits hosts from the flow instead: each direction of a flow adds what it
//! counted since its last credit to its destination's entry when at least
//! [`HOST_CREDIT_INTERVAL_NS`] passed since that credit, on every connection attempt (a
//! SYN without ACK, or a first fragment cut inside its TCP header: see
//! [`crate::host::connection_attempt`]; it counts at once), and when the flow ends. The first packet of every
//! flow credits at once, so floods and scans, whose flows are one packet long, reach the
//! host map without delay; a busy flow credits about ten times a second. What a direction
//! counted after its last credit and before it went quiet is credited by the agent when it
//! removes the idle flow ([`FlowEntry::uncredited`]).
//!
//! [`HostCredit`] holds, per direction, the value the interval counters had when everything
//! up to then was credited. Records subtract what they report from both the counters and
//! these marks, so "counted but not credited" (their difference, in wrapping arithmetic)
//! survives records, even one cut while another CPU counts a packet.
//!
//! # Two CPUs on one flow
//!
//! The two directions of a flow (or one direction, on egress) can be processed on two CPUs
//! at once. Counting a packet is atomic adds only, so any number of CPUs can do it
//! together. Everything that moves counts out of the entry (cutting a record, crediting the
//! host maps, starting a new flow on an ended one's 5-tuple) first takes the flow's
//! [`FlowEntry::claim`] with one atomic fetch-or of [`CLAIM_BUSY`]. A CPU that finds it
//! taken does not wait (a BPF program must not spin): it counts its packet and leaves the
//! record or credit to the next packet, which finds it still due. So a record is cut by
//! one CPU at a time, subtracts exactly what it copied, and no two CPUs credit the same
//! packets. The claim word also holds the bits that must change exactly once per flow:
//! [`CLAIM_ENDED`] (its end record went out) and [`CLAIM_REPLIED`] (its first reply was
//! seen); `FlowStats::state` repeats them for records and as a cheap hint, but its plain
//! read-modify-write updates can lose a bit set by another CPU, so decisions are taken on
//! the claim word.

use crate::{key::IPPROTO_TCP, FlowKey, FlowStats, HostKey, HostStats};

/// How long a flow direction may hold counts before crediting its destination host.
pub const HOST_CREDIT_INTERVAL_NS: u64 = 100_000_000;

/// Index of the forward direction (from the flow's first sender) in [`HostCredit`].
pub const FORWARD: usize = 0;
/// Index of the backward direction.
pub const BACKWARD: usize = 1;

/// Per direction (indexed by [`FORWARD`] and [`BACKWARD`]): when it last credited its
/// destination host, and the interval counters' values at that credit.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HostCredit {
    pub credited_ns: [u64; 2],
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<HostCredit>() == 48);

/// Bit of [`FlowEntry::claim`]: a CPU is cutting a record of the flow, crediting its hosts
/// or restarting it. Set with an atomic fetch-or (whoever saw it clear owns the claim),
/// cleared by its owner with an atomic fetch-and.
pub const CLAIM_BUSY: u64 = 1;
/// Bit of [`FlowEntry::claim`]: the flow's end record (FIN both ways, or RST) went out.
/// Changed only by the claim's owner.
pub const CLAIM_ENDED: u64 = 2;
/// Bit of [`FlowEntry::claim`]: the flow's first backward packet was seen. Set with an
/// atomic fetch-or by whichever CPU carries that packet, so the opener's source entry is
/// told about exactly one reply per flow.
pub const CLAIM_REPLIED: u64 = 4;

/// The value of the flow map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowEntry {
    pub stats: FlowStats,
    pub credit: HostCredit,
    /// `CLAIM_*` bits: who may move counts out of the entry now, and what happened to the
    /// flow exactly once. Changed by the kernel with atomic operations only.
    pub claim: u64,
}

const _: () = assert!(core::mem::size_of::<FlowEntry>() == 232);

impl FlowEntry {
    /// The entry of a flow whose first packet is about to be counted.
    #[inline(always)]
    pub fn new_flow(ts_ns: u64, fwd_is_a: u8) -> Self {
        FlowEntry {
            stats: FlowStats::new_flow(ts_ns, fwd_is_a),
            credit: HostCredit::default(),
            claim: 0,
        }
    }

    /// When the flow last showed life: its latest packet, or its creation when it has none
    /// yet. The kernel inserts an entry and folds the packet in afterwards, so for a moment
    /// a live entry has `last_seen_ns == 0`; an idle test on `last_seen_ns` alone would
    /// take it for a flow idle since boot.
    pub fn last_active_ns(&self) -> u64 {
        self.stats.last_seen_ns.max(self.stats.flow_start_ns)
    }

    /// True when direction `dir` should credit its host now, at `ts_ns`: it never did, or
    /// did at least [`HOST_CREDIT_INTERVAL_NS`] ago.
    #[inline(always)]
    pub fn credit_due(&self, dir: usize, ts_ns: u64) -> bool {
        let last = self.credit.credited_ns[dir];
        last == 0 || ts_ns.wrapping_sub(last) >= HOST_CREDIT_INTERVAL_NS
    }

    /// What direction `dir` counted since its last credit. `tcp_packets` is all of it for
    /// a TCP flow; `syn_without_ack` is left for the caller, which knows the packet.
    #[inline(always)]
    pub fn uncredited(&self, dir: usize, is_tcp: bool) -> HostStats {
        let (packets, bytes) = if dir == FORWARD {
            (self.stats.fwd_packets, self.stats.fwd_bytes)
        } else {
            (self.stats.bwd_packets, self.stats.bwd_bytes)
        };
        let packets = packets.wrapping_sub(self.credit.packets[dir]);
        HostStats {
            packets,
            bytes: bytes.wrapping_sub(self.credit.bytes[dir]),
            tcp_packets: if is_tcp { packets } else { 0 },
            syn_without_ack: 0,
            answered: 0,
        }
    }

    /// Records that `d` (from [`Self::uncredited`]) reached the host map at `ts_ns`.
    #[inline(always)]
    pub fn credited(&mut self, dir: usize, d: &HostStats, ts_ns: u64) {
        let c = &mut self.credit;
        c.packets[dir] = c.packets[dir].wrapping_add(d.packets);
        c.bytes[dir] = c.bytes[dir].wrapping_add(d.bytes);
        c.credited_ns[dir] = ts_ns;
    }

    /// Keeps the marks in step after a record took `fwd_*` and `bwd_*` off the counters.
    #[inline(always)]
    pub fn reported(&mut self, fwd_packets: u64, bwd_packets: u64, fwd_bytes: u64, bwd_bytes: u64) {
        let c = &mut self.credit;
        c.packets[FORWARD] = c.packets[FORWARD].wrapping_sub(fwd_packets);
        c.packets[BACKWARD] = c.packets[BACKWARD].wrapping_sub(bwd_packets);
        c.bytes[FORWARD] = c.bytes[FORWARD].wrapping_sub(fwd_bytes);
        c.bytes[BACKWARD] = c.bytes[BACKWARD].wrapping_sub(bwd_bytes);
    }

    /// True when direction `dir` goes to endpoint `a` of the key: the forward direction's
    /// sender is endpoint `a` when `fwd_is_a`, and each direction goes to the other end.
    #[inline(always)]
    pub fn destination_is_a(&self, dir: usize) -> bool {
        (dir == FORWARD) != (self.stats.fwd_is_a != 0)
    }

    /// The destination host of direction `dir` of the flow `key`.
    #[inline(always)]
    pub fn destination(&self, key: &FlowKey, dir: usize) -> HostKey {
        HostKey::endpoint(key, self.destination_is_a(dir))
    }

    /// What each direction of the flow `key` counted and has not credited, with the host it
    /// goes to: for the agent, when it removes the flow from the kernel map.
    pub fn uncredited_hosts(&self, key: &FlowKey) -> [(HostKey, HostStats); 2] {
        let is_tcp = key.protocol == IPPROTO_TCP;
        [FORWARD, BACKWARD].map(|dir| (self.destination(key, dir), self.uncredited(dir, is_tcp)))
    }

    /// The same as [`Self::uncredited_hosts`], with the address that sent each direction:
    /// what the source map is owed.
    pub fn uncredited_sources(&self, key: &FlowKey) -> [(HostKey, HostStats); 2] {
        let is_tcp = key.protocol == IPPROTO_TCP;
        [FORWARD, BACKWARD].map(|dir| {
            let sender = HostKey::endpoint(key, !self.destination_is_a(dir));
            (sender, self.uncredited(dir, is_tcp))
        })
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for FlowEntry {}
    unsafe impl bytemuck::Zeroable for FlowEntry {}
    unsafe impl bytemuck::Pod for FlowEntry {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u32; 4] = [0x0a00_0001, 0, 0, 0];
    const B: [u32; 4] = [0x0a00_0002, 0, 0, 0];

    /// Counts a packet the way the kernel does (counters only; the marks are the point).
    fn count(e: &mut FlowEntry, dir: usize, len: u32) {
        e.stats.count(dir == FORWARD, len);
    }

    #[test]
    fn credits_and_records_leave_exactly_the_uncounted_part() {
        let (key, src_is_a) = FlowKey::canonical(4, IPPROTO_TCP, B, 40000, A, 80);
        let mut e = FlowEntry::new_flow(1, src_is_a as u8);
        assert!(e.credit_due(FORWARD, 1_000), "a new flow credits at once");
        count(&mut e, FORWARD, 60);
        let d = e.uncredited(FORWARD, true);
        assert_eq!((d.packets, d.bytes, d.tcp_packets), (1, 60, 1));
        e.credited(FORWARD, &d, 1_000);
        assert!(!e.credit_due(FORWARD, 1_000 + HOST_CREDIT_INTERVAL_NS - 1));
        assert!(e.credit_due(FORWARD, 1_000 + HOST_CREDIT_INTERVAL_NS));

        // Two more forward packets and one backward, then a record takes everything off
        // the counters while one more forward packet races in after its copy.
        count(&mut e, FORWARD, 100);
        count(&mut e, FORWARD, 100);
        count(&mut e, BACKWARD, 40);
        let (fp, bp, fb, bb) = (
            e.stats.fwd_packets,
            e.stats.bwd_packets,
            e.stats.fwd_bytes,
            e.stats.bwd_bytes,
        );
        count(&mut e, FORWARD, 7);
        e.stats.fwd_packets -= fp;
        e.stats.bwd_packets -= bp;
        e.stats.fwd_bytes -= fb;
        e.stats.bwd_bytes -= bb;
        e.reported(fp, bp, fb, bb);

        let [(to_a, fwd), (to_b, bwd)] = e.uncredited_hosts(&key);
        assert_eq!(to_a.addr, A, "forward packets go to the server");
        assert_eq!(to_b.addr, B);
        assert_eq!((fwd.packets, fwd.bytes), (3, 207));
        assert_eq!((bwd.packets, bwd.bytes), (1, 40));
    }

    #[test]
    fn a_udp_flow_credits_no_tcp_packets() {
        let (key, src_is_a) = FlowKey::canonical(4, 17, A, 5353, B, 53);
        let mut e = FlowEntry::new_flow(1, src_is_a as u8);
        count(&mut e, BACKWARD, 90);
        let [(_, fwd), (to_a, bwd)] = e.uncredited_hosts(&key);
        assert_eq!(fwd, HostStats::default());
        assert_eq!(to_a.addr, A);
        assert_eq!((bwd.packets, bwd.bytes, bwd.tcp_packets), (1, 90, 0));
    }
}
