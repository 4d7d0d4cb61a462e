//! The arithmetic that folds one packet into a flow.
//!
//! The XDP program and offline replay both call these functions, so a flow measured in the
//! kernel and the same flow replayed from a capture produce the same numbers. The packet and
//! byte counters are left to the caller: the kernel adds them atomically (two CPUs can carry
//! the two directions of one flow at once), userspace with [`FlowStats::count`].

use crate::record::{
    FlowStats, STATE_ENDED, STATE_FIN_BWD, STATE_FIN_FWD, STATE_WIN_BWD, STATE_WIN_FWD, TCP_FIN,
    TCP_RST,
};

/// What the parser learned about one packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    pub ts_ns: u64,
    /// Frame length.
    pub len: u32,
    /// L4 payload length.
    pub payload_len: u32,
    /// TCP window, 0 for other protocols.
    pub window: u16,
    /// TCP flags, 0 for other protocols.
    pub tcp_flags: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// 1 for a TCP segment whose flags and window were read; 0 for other protocols, for
    /// fragment tails and for a first fragment cut inside its TCP header.
    pub is_tcp: u8,
    /// 1 when the packet is a connection attempt toward its destination
    /// ([`crate::host::connection_attempt`]).
    pub attempt: u8,
    pub _pad: [u8; 2],
}

impl FlowStats {
    /// State for a flow whose first packet is about to be observed.
    #[inline(always)]
    pub fn new_flow(ts_ns: u64, fwd_is_a: u8) -> Self {
        FlowStats {
            flow_start_ns: ts_ns,
            iat_min_ns: u64::MAX,
            len_min: u32::MAX,
            ttl_min: u8::MAX,
            fwd_is_a,
            ..FlowStats::default()
        }
    }

    /// Folds `meta` into every field except the packet and byte counters.
    #[inline(always)]
    pub fn observe(&mut self, meta: &PacketMeta, forward: bool) {
        if self.last_seen_ns != 0 {
            let iat = meta.ts_ns.saturating_sub(self.last_seen_ns);
            let iat_us = iat / 1000;
            self.iat_count += 1;
            self.iat_sum_ns += iat;
            self.iat_sum_sq_us2 = self.iat_sum_sq_us2.saturating_add(iat_us * iat_us);
            if iat < self.iat_min_ns {
                self.iat_min_ns = iat;
            }
            if iat > self.iat_max_ns {
                self.iat_max_ns = iat;
            }
        }
        // Two CPUs' packets reach the entry in either order, so the interval's first and
        // last packet are the least and the greatest time, not the first and last stored.
        if self.first_seen_ns == 0 || meta.ts_ns < self.first_seen_ns {
            self.first_seen_ns = meta.ts_ns;
        }
        if meta.ts_ns > self.last_seen_ns {
            self.last_seen_ns = meta.ts_ns;
        }

        let len = meta.len as u64;
        self.len_sum += len;
        self.len_sum_sq += len * len;
        if meta.len < self.len_min {
            self.len_min = meta.len;
        }
        if meta.len > self.len_max {
            self.len_max = meta.len;
        }
        if meta.ttl < self.ttl_min {
            self.ttl_min = meta.ttl;
        }
        if meta.ttl > self.ttl_max {
            self.ttl_max = meta.ttl;
        }
        if meta.payload_len > 0 {
            self.payload_packets += 1;
        }

        if meta.is_tcp != 0 {
            let flags = meta.tcp_flags;
            let mut i = 0;
            while i < 8 {
                if flags & (1 << i) != 0 {
                    self.tcp_flag_counts[i] += 1;
                }
                i += 1;
            }
            if forward {
                if self.state & STATE_WIN_FWD == 0 {
                    self.init_win_fwd = meta.window;
                    self.state |= STATE_WIN_FWD;
                }
                if flags & TCP_FIN != 0 {
                    self.state |= STATE_FIN_FWD;
                }
            } else {
                if self.state & STATE_WIN_BWD == 0 {
                    self.init_win_bwd = meta.window;
                    self.state |= STATE_WIN_BWD;
                }
                if flags & TCP_FIN != 0 {
                    self.state |= STATE_FIN_BWD;
                }
            }
        }
    }

    /// True when the packet just observed ends the flow: a RST, or the second side's FIN.
    /// A flow ends once; packets after that go to a tail record.
    #[inline(always)]
    pub fn ends_now(&self, meta: &PacketMeta) -> bool {
        self.state & STATE_ENDED == 0 && self.closes(meta)
    }

    /// True when the packet just observed closes the connection (a RST, or FINs seen both
    /// ways), whether or not the flow already ended: the kernel keeps the authoritative
    /// "ended" bit elsewhere (see `crate::entry`).
    #[inline(always)]
    pub fn closes(&self, meta: &PacketMeta) -> bool {
        let both_fins = STATE_FIN_FWD | STATE_FIN_BWD;
        meta.tcp_flags & TCP_RST != 0 || self.state & both_fins == both_fins
    }

    /// [`Self::ends_now`] asked before `meta` is observed: true when observing it will end
    /// the flow. The kernel folds a packet that cuts a record in only once it owns the
    /// flow, so it has to know beforehand.
    #[inline(always)]
    pub fn will_end(&self, meta: &PacketMeta, forward: bool) -> bool {
        if self.state & STATE_ENDED != 0 {
            return false;
        }
        let mut state = self.state;
        if meta.is_tcp != 0 && meta.tcp_flags & TCP_FIN != 0 {
            state |= if forward {
                STATE_FIN_FWD
            } else {
                STATE_FIN_BWD
            };
        }
        let both_fins = STATE_FIN_FWD | STATE_FIN_BWD;
        meta.tcp_flags & TCP_RST != 0 || state & both_fins == both_fins
    }

    /// True when the interval a packet at `ts_ns` joins has been reporting for at least
    /// `active_ns` (0 turns the active timeout off). An interval no packet was folded into
    /// yet (`first_seen_ns == 0`, another CPU has just cut the previous one) is never due:
    /// measured from 0, its "duration" would be the time since boot.
    #[inline(always)]
    pub fn active_due(&self, ts_ns: u64, active_ns: u64) -> bool {
        active_ns != 0
            && self.first_seen_ns != 0
            && ts_ns.saturating_sub(self.first_seen_ns) >= active_ns
    }

    /// True when folding `meta` in may cut a record (it ends the flow, or the interval is
    /// past the active timeout `active_ns`): the kernel takes the flow's claim for such a
    /// packet before folding it in, and both the kernel and the capture reader then cut.
    #[inline(always)]
    pub fn cut_due(&self, meta: &PacketMeta, forward: bool, active_ns: u64) -> bool {
        self.will_end(meta, forward) || self.active_due(meta.ts_ns, active_ns)
    }

    /// Adds one packet to the direction's counters (userspace; the kernel adds atomically).
    #[inline(always)]
    pub fn count(&mut self, forward: bool, len: u32) {
        if forward {
            self.fwd_packets += 1;
            self.fwd_bytes += len as u64;
        } else {
            self.bwd_packets += 1;
            self.bwd_bytes += len as u64;
        }
    }

    /// Starts the next record interval after a record was emitted: clears every statistic
    /// except the packet and byte counters (the kernel subtracts what it emitted from those
    /// atomically), and keeps what identifies the flow and its direction.
    #[inline(always)]
    pub fn begin_interval_stats(&mut self) {
        self.first_seen_ns = 0;
        self.len_sum = 0;
        self.len_sum_sq = 0;
        self.len_min = u32::MAX;
        self.len_max = 0;
        self.iat_count = 0;
        self.iat_sum_ns = 0;
        self.iat_sum_sq_us2 = 0;
        self.iat_min_ns = u64::MAX;
        self.iat_max_ns = 0;
        self.payload_packets = 0;
        self.tcp_flag_counts = [0; 8];
        self.ttl_min = u8::MAX;
        self.ttl_max = 0;
        self.records += 1;
    }

    /// Starts a new flow instance in place of an ended one (a fresh SYN on its 5-tuple): the
    /// state of [`Self::new_flow`] in every field but the packet and byte counters. The
    /// kernel has taken what it reported off those atomically; storing zero instead would
    /// drop a packet another CPU counted meanwhile.
    #[inline(always)]
    pub fn restart(&mut self, ts_ns: u64, fwd_is_a: u8) {
        self.begin_interval_stats();
        self.flow_start_ns = ts_ns;
        self.last_seen_ns = 0;
        self.records = 0;
        self.init_win_fwd = 0;
        self.init_win_bwd = 0;
        self.fwd_is_a = fwd_is_a;
        self.state = 0;
    }

    /// Completes what two CPUs updating one flow can leave incomplete in an interval about
    /// to be reported (the kernel's records and the agent's both go through this).
    ///
    /// A packet can be folded in just before another CPU cuts the interval and be counted
    /// just after: its count joins the next interval, its details were cleared with the
    /// one cut. An interval holding only such packets would report no first packet (a
    /// duration since boot) and no lengths. It takes its first packet time from the flow's
    /// latest packet (its creation when there is none) and its lengths from its byte
    /// count: exact for one packet, which is what a race leaves, the mean frame for more.
    /// TTLs, flags and inter-arrival times stay unknown (`ttl_min` 255 above `ttl_max` 0
    /// says so). And two packets whose times were stored in the opposite order of their
    /// clocks leave `first_seen_ns` above `last_seen_ns`; both times belong to the
    /// interval, so the earlier is its first packet and the later its last.
    #[inline(always)]
    pub fn complete_interval(&mut self) {
        let packets = self.packets();
        if packets == 0 {
            return;
        }
        if self.first_seen_ns > self.last_seen_ns && self.last_seen_ns != 0 {
            core::mem::swap(&mut self.first_seen_ns, &mut self.last_seen_ns);
        }
        if self.first_seen_ns == 0 {
            self.first_seen_ns = if self.last_seen_ns != 0 {
                self.last_seen_ns
            } else {
                self.flow_start_ns
            };
        }
        if self.last_seen_ns == 0 {
            self.last_seen_ns = self.first_seen_ns;
        }
        let bytes = self.fwd_bytes + self.bwd_bytes;
        let mean = (bytes / packets) as u32;
        if self.len_sum == 0 {
            self.len_sum = bytes;
            self.len_sum_sq = packets * mean as u64 * mean as u64;
        }
        if self.len_max == 0 {
            self.len_max = mean;
        }
        if self.len_min == u32::MAX {
            self.len_min = if mean < self.len_max {
                mean
            } else {
                self.len_max
            };
        }
    }

    /// [`Self::begin_interval_stats`] plus clearing the counters (userspace).
    pub fn begin_interval(&mut self) {
        self.begin_interval_stats();
        self.fwd_packets = 0;
        self.bwd_packets = 0;
        self.fwd_bytes = 0;
        self.bwd_bytes = 0;
    }

    /// Folds a later record interval of the same flow into this one, so several records
    /// make one row per flow. Both must come from the same flow instance (same
    /// `flow_start_ns`), which guarantees the same direction.
    pub fn merge(&mut self, later: &FlowStats) {
        if self.packets() == 0 {
            let records = self.records;
            *self = *later;
            self.records = records.max(later.records);
            return;
        }
        if later.packets() == 0 {
            self.state |= later.state;
            return;
        }
        self.first_seen_ns = self.first_seen_ns.min(later.first_seen_ns);
        self.last_seen_ns = self.last_seen_ns.max(later.last_seen_ns);
        self.fwd_packets += later.fwd_packets;
        self.bwd_packets += later.bwd_packets;
        self.fwd_bytes += later.fwd_bytes;
        self.bwd_bytes += later.bwd_bytes;
        self.len_sum += later.len_sum;
        self.len_sum_sq += later.len_sum_sq;
        self.len_min = self.len_min.min(later.len_min);
        self.len_max = self.len_max.max(later.len_max);
        self.iat_count += later.iat_count;
        self.iat_sum_ns += later.iat_sum_ns;
        self.iat_sum_sq_us2 = self.iat_sum_sq_us2.saturating_add(later.iat_sum_sq_us2);
        self.iat_min_ns = self.iat_min_ns.min(later.iat_min_ns);
        self.iat_max_ns = self.iat_max_ns.max(later.iat_max_ns);
        self.payload_packets += later.payload_packets;
        let mut i = 0;
        while i < 8 {
            self.tcp_flag_counts[i] += later.tcp_flag_counts[i];
            i += 1;
        }
        if self.state & STATE_WIN_FWD == 0 && later.state & STATE_WIN_FWD != 0 {
            self.init_win_fwd = later.init_win_fwd;
        }
        if self.state & STATE_WIN_BWD == 0 && later.state & STATE_WIN_BWD != 0 {
            self.init_win_bwd = later.init_win_bwd;
        }
        self.ttl_min = self.ttl_min.min(later.ttl_min);
        self.ttl_max = self.ttl_max.max(later.ttl_max);
        self.state |= later.state;
        self.records = self.records.max(later.records);
    }

    /// Packets in this interval, both directions.
    #[inline(always)]
    pub fn packets(&self) -> u64 {
        self.fwd_packets + self.bwd_packets
    }
}

#[cfg(test)]
mod tests;
