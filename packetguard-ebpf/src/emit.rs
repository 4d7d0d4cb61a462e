//! What the programs write to the ring buffer: flow records, flow starts, packet samples.
//!
//! A full ring buffer loses nothing of a flow's counts: a record that finds no room is
//! counted as delayed and its counts stay in the flow map for the flow's next record. Flow
//! starts and samples have no second chance; those are counted as lost.

use packetguard_common::{
    Counter, FlowEntry, FlowKey, FlowRecord, FlowStart, FlowStats, PacketSample, RecordKind,
    RecordReason,
};

use crate::{
    count, parse::Packet, setting_u32, sync, EMIT_FLOW_STARTS, EVENTS, SAMPLER, SAMPLE_EVERY,
};

/// Sends the flow's current interval as a [`FlowRecord`] and starts the next interval.
/// The caller holds the flow's claim, so no other CPU cuts or credits it meanwhile.
/// Returns false (and counts a delayed record) when the ring buffer is full; the flow is
/// left untouched.
#[inline(always)]
pub fn record(key: &FlowKey, flow: &mut FlowEntry, reason: RecordReason) -> bool {
    let Some(mut entry) = EVENTS.reserve::<FlowRecord>(0) else {
        count(Counter::RecordsDelayed, 1);
        return false;
    };
    let rec = entry.as_mut_ptr();
    let (fp, bp, fb, bb);
    unsafe {
        (*rec).kind = RecordKind::Flow as u32;
        (*rec).reason = reason as u32;
        (*rec).key = *key;
        (*rec).stats = flow.stats;
        (*rec).stats.complete_interval();
        fp = (*rec).stats.fwd_packets;
        bp = (*rec).stats.bwd_packets;
        fb = (*rec).stats.fwd_bytes;
        bb = (*rec).stats.bwd_bytes;
    }
    entry.submit(0);
    // Subtract what was reported: increments that raced in after the copy stay counted.
    let stats = &mut flow.stats;
    sync::atomic_add(&mut stats.fwd_packets, fp.wrapping_neg());
    sync::atomic_add(&mut stats.bwd_packets, bp.wrapping_neg());
    sync::atomic_add(&mut stats.fwd_bytes, fb.wrapping_neg());
    sync::atomic_add(&mut stats.bwd_bytes, bb.wrapping_neg());
    stats.begin_interval_stats();
    flow.reported(fp, bp, fb, bb);
    count(Counter::RecordsEmitted, 1);
    count(Counter::RecordedPackets, fp + bp);
    true
}

/// Sends a packet whose flow has no entry as a record of its own: one forward packet, the
/// packet's statistics, reason [`RecordReason::ActiveTimeout`] (an interval of a flow that
/// goes on). A full ring buffer loses it, counted as lost.
#[inline(always)]
pub fn single(pkt: &Packet) {
    let Some(mut entry) = EVENTS.reserve::<FlowRecord>(0) else {
        count(Counter::RingbufLost, 1);
        return;
    };
    let rec = entry.as_mut_ptr();
    let meta = &pkt.meta;
    unsafe {
        (*rec).kind = RecordKind::Flow as u32;
        (*rec).reason = RecordReason::ActiveTimeout as u32;
        (*rec).key = pkt.key;
        (*rec).stats = FlowStats::new_flow(meta.ts_ns, pkt.src_is_a as u8);
        (*rec).stats.observe(meta, true);
        (*rec).stats.fwd_packets = 1;
        (*rec).stats.fwd_bytes = meta.len as u64;
        (*rec).stats.complete_interval();
    }
    entry.submit(0);
    count(Counter::RecordsEmitted, 1);
    count(Counter::RecordedPackets, 1);
}

/// Announces a new flow when the agent asked for it (the host detector needs it).
#[inline(always)]
pub fn flow_start(pkt: &Packet) {
    if setting_u32(&EMIT_FLOW_STARTS) == 0 {
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<FlowStart>(0) else {
        count(Counter::RingbufLost, 1);
        return;
    };
    let ev = entry.as_mut_ptr();
    unsafe {
        (*ev).kind = RecordKind::FlowStart as u32;
        (*ev).len = pkt.meta.len;
        (*ev).ts_ns = pkt.meta.ts_ns;
        (*ev).key = pkt.key;
        (*ev).tcp_flags = pkt.meta.tcp_flags;
        (*ev).fwd_is_a = pkt.src_is_a as u8;
        (*ev).attempt = pkt.meta.attempt;
        (*ev)._pad = [0; 5];
    }
    entry.submit(0);
    count(Counter::FlowStartsEmitted, 1);
}

/// Emits every K-th packet of this CPU as a [`PacketSample`].
#[inline(always)]
pub fn sample(pkt: &Packet, forward: bool) {
    let every = setting_u32(&SAMPLE_EVERY);
    if every == 0 {
        return;
    }
    let Some(countdown) = SAMPLER.get_ptr_mut(0) else {
        return;
    };
    let countdown = unsafe { &mut *countdown };
    *countdown += 1;
    if *countdown < every {
        return;
    }
    *countdown = 0;
    let Some(mut entry) = EVENTS.reserve::<PacketSample>(0) else {
        count(Counter::RingbufLost, 1);
        return;
    };
    let s = entry.as_mut_ptr();
    unsafe {
        (*s).kind = RecordKind::Sample as u32;
        (*s).len = pkt.meta.len;
        (*s).ts_ns = pkt.meta.ts_ns;
        (*s).key = pkt.key;
        (*s).payload_len = pkt.meta.payload_len;
        (*s).direction = (!forward) as u8;
        (*s).tcp_flags = pkt.meta.tcp_flags;
        (*s).ttl = pkt.meta.ttl;
        (*s).src_is_a = pkt.src_is_a as u8;
    }
    entry.submit(0);
    count(Counter::SamplesEmitted, 1);
}
