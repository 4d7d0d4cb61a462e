//! Programs for `packetguard bench` only, never attached: the production per-packet path
//! ([`crate::observe`]) over each candidate flow map of [`crate::store`], and over the
//! production map stopped after each stage of [`crate::flow::account`]. Each is the XDP
//! entry point of the production program with one type or constant changed, so their
//! differences are the map's and the stages' own.

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

use crate::{
    flow::{FULL, STAGE_ENTRY, STAGE_FOLDED, STAGE_PARSED, STAGE_START},
    observe,
    store::{BenchHash, BenchHashSplit, BenchLru, BenchLruPerCpu, BenchLruSplit, FlowMap, Lru},
};

// Inlined, as the production entry point is: a BPF-to-BPF call would lose the packet
// pointers' types.
#[inline(always)]
fn run<M: FlowMap, const UPTO: u8>(ctx: &XdpContext) -> u32 {
    let (start, end) = (ctx.data(), ctx.data_end());
    observe::<M, UPTO>(start, end, (end - start) as u32);
    xdp_action::XDP_PASS
}

/// The full path over an LRU map of the candidates' size.
#[xdp]
#[inline(always)]
pub fn packetguard_bench_lru(ctx: XdpContext) -> u32 {
    run::<BenchLru, FULL>(&ctx)
}

/// The full path over an LRU map with per-CPU lists.
#[xdp]
#[inline(always)]
pub fn packetguard_bench_lru_percpu(ctx: XdpContext) -> u32 {
    run::<BenchLruPerCpu, FULL>(&ctx)
}

/// The full path over a preallocated plain hash map.
#[xdp]
#[inline(always)]
pub fn packetguard_bench_hash(ctx: XdpContext) -> u32 {
    run::<BenchHash, FULL>(&ctx)
}

/// The full path over LRU maps, IPv4 flows under a 16-byte key.
#[xdp]
#[inline(always)]
pub fn packetguard_bench_lru_split(ctx: XdpContext) -> u32 {
    run::<BenchLruSplit, FULL>(&ctx)
}

/// The full path over plain hash maps, IPv4 flows under a 16-byte key.
#[xdp]
#[inline(always)]
pub fn packetguard_bench_hash_split(ctx: XdpContext) -> u32 {
    run::<BenchHashSplit, FULL>(&ctx)
}

/// Counters, parse and clock.
#[xdp]
#[inline(always)]
pub fn packetguard_stage_parsed(ctx: XdpContext) -> u32 {
    run::<Lru, STAGE_PARSED>(&ctx)
}

/// Up to the flow's entry found or created in the production map.
#[xdp]
#[inline(always)]
pub fn packetguard_stage_entry(ctx: XdpContext) -> u32 {
    run::<Lru, STAGE_ENTRY>(&ctx)
}

/// Up to a new flow's start event.
#[xdp]
#[inline(always)]
pub fn packetguard_stage_start(ctx: XdpContext) -> u32 {
    run::<Lru, STAGE_START>(&ctx)
}

/// Up to the packet folded into its entry, before claims, host credits and records.
#[xdp]
#[inline(always)]
pub fn packetguard_stage_folded(ctx: XdpContext) -> u32 {
    run::<Lru, STAGE_FOLDED>(&ctx)
}
