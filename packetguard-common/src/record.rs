//! Per-flow state kept in the kernel, and the records that cross the ring buffer.
//!
//! Every ring buffer entry starts with a `u32` [`RecordKind`] so the agent can tell the
//! three record types apart without any other framing.

use crate::key::FlowKey;

/// Discriminant at offset 0 of every ring buffer entry.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Flow = 1,
    Sample = 2,
    FlowStart = 3,
}

impl RecordKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Flow),
            2 => Some(Self::Sample),
            3 => Some(Self::FlowStart),
            _ => None,
        }
    }
}

/// Why a [`FlowRecord`] was emitted.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordReason {
    /// Both sides sent FIN; emitted by the kernel after counting the second FIN.
    FlowEnd = 1,
    /// A TCP RST; emitted by the kernel after counting it.
    Reset = 2,
    /// The flow has been reporting for longer than the active timeout.
    ActiveTimeout = 3,
    /// The agent expired a flow that saw no packet for the idle timeout.
    IdleTimeout = 4,
    /// The agent exported a flow still live when it stopped.
    Shutdown = 5,
}

impl RecordReason {
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::FlowEnd),
            2 => Some(Self::Reset),
            3 => Some(Self::ActiveTimeout),
            4 => Some(Self::IdleTimeout),
            5 => Some(Self::Shutdown),
            _ => None,
        }
    }

    /// The reason of the record a closing packet cuts: a reset when it carries RST, else
    /// the end (FIN both ways).
    #[inline(always)]
    pub fn of_close(tcp_flags: u8) -> Self {
        if tcp_flags & TCP_RST != 0 {
            Self::Reset
        } else {
            Self::FlowEnd
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlowEnd => "end",
            Self::Reset => "reset",
            Self::ActiveTimeout => "active_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Index of each TCP flag in [`FlowStats::tcp_flag_counts`], in wire bit order.
pub const TCP_FLAG_NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;
pub const TCP_URG: u8 = 0x20;
pub const TCP_ECE: u8 = 0x40;
pub const TCP_CWR: u8 = 0x80;

/// Bits of [`FlowStats::state`].
pub const STATE_FIN_FWD: u8 = 1;
pub const STATE_FIN_BWD: u8 = 2;
/// The flow ended (FIN both ways or RST) and its record went out; later packets (the last
/// ACK of a close, retransmissions) accumulate into a tail record exported on idle.
pub const STATE_ENDED: u8 = 4;
pub const STATE_WIN_FWD: u8 = 8;
pub const STATE_WIN_BWD: u8 = 16;
/// The flow saw its first backward packet (the reply its opener's attempt got, if any);
/// set once, so the opener's source entry is told about one reply per flow.
pub const STATE_REPLIED: u8 = 32;

/// Per-flow state: the value of the kernel's flow map and the body of a [`FlowRecord`].
///
/// Counters cover one *record interval*: from the flow's first packet, or from the previous
/// record of the same flow, to `last_seen_ns`. Summing every record of a flow therefore
/// counts each packet exactly once. Times are `CLOCK_MONOTONIC` nanoseconds
/// (`bpf_ktime_get_ns`). Lengths and bytes are whole frames as XDP sees them: Ethernet
/// header and VLAN tags included, FCS excluded.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowStats {
    /// First packet of the flow (stays fixed across records; identifies the flow instance).
    pub flow_start_ns: u64,
    /// First packet of this record interval.
    pub first_seen_ns: u64,
    /// Latest packet of the flow.
    pub last_seen_ns: u64,
    pub fwd_packets: u64,
    pub bwd_packets: u64,
    pub fwd_bytes: u64,
    pub bwd_bytes: u64,
    pub len_sum: u64,
    pub len_sum_sq: u64,
    /// Number of inter-arrival samples in `iat_*`.
    pub iat_count: u64,
    pub iat_sum_ns: u64,
    /// Sum of squared inter-arrival times in microseconds squared (nanoseconds would
    /// overflow `u64` for gaps above about four seconds).
    pub iat_sum_sq_us2: u64,
    pub iat_min_ns: u64,
    pub iat_max_ns: u64,
    /// Packets carrying an L4 payload (beyond the TCP/UDP/ICMP header).
    pub payload_packets: u64,
    /// Count of packets with each TCP flag set, indexed as [`TCP_FLAG_NAMES`].
    pub tcp_flag_counts: [u32; 8],
    pub len_min: u32,
    pub len_max: u32,
    /// Records emitted for this flow before this one.
    pub records: u32,
    /// TCP window of the first packet in each direction (unscaled, as on the wire).
    pub init_win_fwd: u16,
    pub init_win_bwd: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl_min: u8,
    pub ttl_max: u8,
    /// 1 when endpoint `a` of the key sent the flow's first packet (is the "source").
    pub fwd_is_a: u8,
    /// `STATE_*` bits.
    pub state: u8,
    pub _pad: [u8; 4],
}

const _: () = assert!(core::mem::size_of::<FlowStats>() == 176);

/// A flow's counters for one record interval, as sent through the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// [`RecordKind::Flow`].
    pub kind: u32,
    /// A [`RecordReason`].
    pub reason: u32,
    pub key: FlowKey,
    pub stats: FlowStats,
}

const _: () = assert!(core::mem::size_of::<FlowRecord>() == 224);

/// One sampled packet (1 in K, K set by the agent).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketSample {
    /// [`RecordKind::Sample`].
    pub kind: u32,
    /// Frame length.
    pub len: u32,
    pub ts_ns: u64,
    pub key: FlowKey,
    /// L4 payload length.
    pub payload_len: u32,
    /// 0 forward (from the flow's source), 1 backward.
    pub direction: u8,
    pub tcp_flags: u8,
    pub ttl: u8,
    /// 1 when the packet was sent by endpoint `a` of the key.
    pub src_is_a: u8,
}

const _: () = assert!(core::mem::size_of::<PacketSample>() == 64);

/// Emitted when the kernel creates a flow (only when the agent asks for it): lets the host
/// detector count new flows, distinct sources and ports per destination each second without
/// waiting for flows to end.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowStart {
    /// [`RecordKind::FlowStart`].
    pub kind: u32,
    /// Frame length of the first packet.
    pub len: u32,
    pub ts_ns: u64,
    pub key: FlowKey,
    /// TCP flags of the first packet.
    pub tcp_flags: u8,
    /// 1 when endpoint `a` sent the first packet.
    pub fwd_is_a: u8,
    /// 1 when the first packet was a connection attempt
    /// ([`crate::host::connection_attempt`]): what makes a TCP flow one its sender opened.
    pub attempt: u8,
    pub _pad: [u8; 5],
}

const _: () = assert!(core::mem::size_of::<FlowStart>() == 64);

#[cfg(feature = "user")]
mod pod {
    use super::*;
    macro_rules! pod {
        ($($t:ty),*) => {$(
            unsafe impl aya::Pod for $t {}
            unsafe impl bytemuck::Zeroable for $t {}
            unsafe impl bytemuck::Pod for $t {}
        )*};
    }
    pod!(FlowStats, FlowRecord, PacketSample, FlowStart);
}
