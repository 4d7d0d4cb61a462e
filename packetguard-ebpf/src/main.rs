//! PacketGuard's kernel programs: XDP on ingress, a TC classifier on egress.
//!
//! # Layout
//!
//! - `main.rs` (this file): maps, load-time settings, the `#[xdp]` and `#[classifier]`
//!   entry points, and [`observe`], the one per-packet path both share.
//! - [`parse`]: bounds-checked parsing of Ethernet, VLAN, IPv4, IPv6, TCP, UDP, ICMP.
//! - [`flow`]: the flow map update and when a flow reports.
//! - [`emit`]: what goes to the ring buffer (flow records, flow starts, samples).
//! - [`sync`]: the atomic operations that let two CPUs carry one flow at once.
//! - [`store`]: the flow map behind a small trait, and the candidate maps.
//! - [`bench`]: programs the benchmark compares the production path with: the same path
//!   over each candidate map, and the path stopped after each stage.
//! - [`host`]: per-address totals (as destination and as source) for the window
//!   detectors, credited from the flow map.
//!
//! Both programs feed the same flow map, counters and ring buffer through the same parser,
//! so a conversation seen on ingress and egress is one flow, each packet counted once by
//! the hook it passed. They always let the packet go (`XDP_PASS`, `TC_ACT_UNSPEC`):
//! PacketGuard observes, it never drops. Anything the parser cannot read is counted and
//! passed.
//!
//! Minimum kernel: 5.12 (the fetch and exchange forms of BPF atomics, which the per-flow
//! claim needs; the BPF ring buffer needs 5.8); built for BPF ISA v3. The agent attaches
//! the egress program through a TCX link on 6.6 and later, through a clsact qdisc before.
#![no_std]
#![no_main]
#![feature(core_intrinsics)]
#![feature(asm_experimental_arch)]
#![allow(internal_features)]
// Map keys are passed by reference on purpose: a copy of a 40-byte key is a stack copy the
// verifier has to track for nothing.
#![allow(clippy::needless_borrows_for_generic_args)]

mod bench;
mod emit;
mod flow;
mod host;
mod parse;
mod store;
mod sync;

use core::mem::MaybeUninit;

use aya_ebpf::{
    bindings::{xdp_action, TC_ACT_UNSPEC},
    helpers::bpf_ktime_get_ns,
    macros::{classifier, map, xdp},
    maps::{LruHashMap, LruPerCpuHashMap, PerCpuArray, RingBuf},
    programs::{TcContext, XdpContext},
};
use flow::FULL;
use packetguard_common::{
    config::{
        DEFAULT_ACTIVE_TIMEOUT_NS, DEFAULT_FLOW_ENTRIES, DEFAULT_HOST_ENTRIES,
        DEFAULT_RINGBUF_BYTES, DEFAULT_SOURCE_ENTRIES,
    },
    counters::COUNTER_SLOTS,
    Counter, FlowEntry, FlowKey, HostKey, HostStats,
};
use store::Lru;

/// Set by the agent at load time (`EbpfLoader::set_global`); read with `read_volatile` so the
/// compiler cannot fold the defaults in.
#[no_mangle]
static ACTIVE_TIMEOUT_NS: u64 = DEFAULT_ACTIVE_TIMEOUT_NS;
#[no_mangle]
static SAMPLE_EVERY: u32 = 0;
#[no_mangle]
static EMIT_FLOW_STARTS: u32 = 0;

/// Per-flow state. The agent resizes it at load time.
#[map]
static FLOWS: LruHashMap<FlowKey, FlowEntry> =
    LruHashMap::with_max_entries(DEFAULT_FLOW_ENTRIES, 0);

/// Per-destination totals (what each address received), per CPU. The agent resizes it at
/// load time.
#[map]
static HOSTS: LruPerCpuHashMap<HostKey, HostStats> =
    LruPerCpuHashMap::with_max_entries(DEFAULT_HOST_ENTRIES, 0);

/// Per-source totals (what each address sent), per CPU. The agent resizes it at load time.
#[map]
static SOURCES: LruPerCpuHashMap<HostKey, HostStats> =
    LruPerCpuHashMap::with_max_entries(DEFAULT_SOURCE_ENTRIES, 0);

/// Flow records, packet samples and flow starts, drained by the agent.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RINGBUF_BYTES, 0);

/// Per-CPU counters, indexed by [`Counter`].
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Per-CPU countdown for 1-in-K packet sampling.
#[map]
static SAMPLER: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// Counters of the count-only baseline program (benchmarks only).
#[map]
static BASELINE_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// Per-flow last-seen time and packet count of the per-flow floor program (benchmarks only).
#[map]
static FLOOR_FLOWS: LruHashMap<FlowKey, [u64; 2]> = LruHashMap::with_max_entries(4096, 0);

#[inline(always)]
fn setting_u64(v: &'static u64) -> u64 {
    unsafe { core::ptr::read_volatile(v) }
}

#[inline(always)]
fn setting_u32(v: &'static u32) -> u32 {
    unsafe { core::ptr::read_volatile(v) }
}

/// Adds `v` to this CPU's slot of `counter`.
#[inline(always)]
fn count(counter: Counter, v: u64) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        unsafe { *slot += v };
    }
}

/// The per-packet path of both programs: count the frame, parse it, fold it into its flow.
/// `start..end` is the linear part of the frame the parser may read, `len` its full length.
/// The flow map is `M` and `UPTO` is [`flow::FULL`] but in the benchmark's programs
/// ([`bench`]).
#[inline(always)]
fn observe<M: store::FlowMap, const UPTO: u8>(start: usize, end: usize, len: u32) {
    count(Counter::Packets, 1);
    count(Counter::Bytes, len as u64);
    // Built in place by the parser: the key is written once and passed by reference.
    let mut pkt = MaybeUninit::<parse::Packet>::uninit();
    match parse::parse(start, end, len, &mut pkt) {
        Ok(parse::Parsed::Flow) => {
            // SAFETY: `Parsed::Flow` means the parser wrote every field.
            let pkt = unsafe { pkt.assume_init_mut() };
            pkt.meta.ts_ns = unsafe { bpf_ktime_get_ns() };
            flow::account::<M, UPTO>(pkt);
        }
        Ok(parse::Parsed::NonIp) => count(Counter::NonIp, 1),
        Err(()) => count(Counter::ParseErrors, 1),
    }
}

/// The PacketGuard XDP program: every frame arriving on the interface.
// Inlined into the entry point the macro generates: left to LLVM, a body this size becomes
// a BPF-to-BPF call.
#[xdp]
#[inline(always)]
pub fn packetguard(ctx: XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    observe::<Lru, FULL>(start, end, (end - start) as u32);
    xdp_action::XDP_PASS
}

/// Bytes of headers the parser may need (Ethernet, two VLAN tags, IPv6 with extension
/// headers or IPv4 with options, TCP with options) that must be in the linear part of an
/// outgoing packet.
const EGRESS_HEADER_BYTES: u32 = 192;

/// The PacketGuard TC program: every packet the host sends on the interface.
///
/// A packet the stack hands over with part of its headers outside the linear buffer is
/// pulled in first (`bpf_skb_pull_data`), so the parser sees the same headers XDP would. A
/// GSO packet (one large TCP segment the NIC or veth splits later) counts as one packet of
/// its full length, as `tcpdump` on the same interface shows it.
///
/// Returns `TC_ACT_UNSPEC` (`TCX_NEXT` on a TCX link): the packet continues to whatever
/// runs after this program, as if it were not attached.
#[classifier]
#[inline(always)]
pub fn packetguard_egress(ctx: TcContext) -> i32 {
    let len = ctx.len();
    let linear = (ctx.data_end() - ctx.data()) as u32;
    let wanted = if len < EGRESS_HEADER_BYTES {
        len
    } else {
        EGRESS_HEADER_BYTES
    };
    if linear < wanted {
        // Failure leaves the packet as it was; the parser then counts what it cannot read.
        let _ = ctx.pull_data(wanted);
    }
    count(Counter::EgressPackets, 1);
    count(Counter::EgressBytes, len as u64);
    observe::<Lru, FULL>(ctx.data(), ctx.data_end(), len);
    TC_ACT_UNSPEC
}

/// A count-only XDP program: the baseline the benchmark compares the full path against.
#[xdp]
pub fn packetguard_baseline(ctx: XdpContext) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    if let Some(slot) = BASELINE_COUNTERS.get_ptr_mut(0) {
        unsafe { *slot += 1 };
    }
    if let Some(slot) = BASELINE_COUNTERS.get_ptr_mut(1) {
        unsafe { *slot += len };
    }
    xdp_action::XDP_PASS
}

/// The per-flow floor: the least any program that keeps per-flow state does. It parses like
/// the full program, reads the clock and updates one flow-map entry (last seen, an atomic
/// packet count), and keeps no features. The benchmark prints it between the count-only
/// baseline and the full path, so the cost of the features themselves is visible.
#[xdp]
pub fn packetguard_floor(ctx: XdpContext) -> u32 {
    let mut pkt = MaybeUninit::<parse::Packet>::uninit();
    let (start, end) = (ctx.data(), ctx.data_end());
    if let Ok(parse::Parsed::Flow) = parse::parse(start, end, (end - start) as u32, &mut pkt) {
        // SAFETY: `Parsed::Flow` means the parser wrote every field.
        let pkt = unsafe { pkt.assume_init_ref() };
        let now = unsafe { bpf_ktime_get_ns() };
        match FLOOR_FLOWS.get_ptr_mut(&pkt.key) {
            Some(v) => unsafe {
                (*v)[0] = now;
                sync::atomic_add(&mut (*v)[1], 1);
            },
            None => {
                let _ = FLOOR_FLOWS.insert(&pkt.key, &[now, 1], 0);
            }
        }
    }
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
