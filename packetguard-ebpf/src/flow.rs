//! Folding a parsed packet into its flow and emitting records.
//!
//! Concurrency: the two directions of a flow can be processed on two CPUs at once. The
//! per-direction packet and byte counters are therefore updated with atomic adds, and a
//! record subtracts exactly what it reported, so no packet is counted twice or lost when a
//! record is cut concurrently with an update. The other statistics (min/max, sums of squares)
//! and the host credit marks are plain stores; a rare race can skew them slightly (a host
//! credit counted twice), never the flow's counts.

use core::intrinsics::{atomic_xadd, AtomicOrdering};

use aya_ebpf::bindings::BPF_NOEXIST;
use packetguard_common::{
    entry::{BACKWARD, FORWARD},
    host::is_answer,
    key::IPPROTO_TCP,
    record::{STATE_ENDED, STATE_REPLIED, TCP_RST},
    Counter, FlowEntry, FlowKey, FlowRecord, FlowStart, HostStats, PacketSample, RecordKind,
    RecordReason,
};

use crate::{
    count,
    host::{self, Role},
    parse::Packet,
    setting_u32, setting_u64, ACTIVE_TIMEOUT_NS, EMIT_FLOW_STARTS, EVENTS, FLOWS, SAMPLER,
    SAMPLE_EVERY,
};

#[inline(always)]
pub fn atomic_add(field: &mut u64, v: u64) {
    // The result is unused, so this compiles to a plain BPF atomic add (the BPF target has
    // no compare-and-swap, so `AtomicU64::fetch_add` is not available).
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(field as *mut u64, v) };
}

/// Folds `pkt` into its flow, creating the flow if needed, and emits what is due.
#[inline(always)]
pub fn account(pkt: &Packet) {
    let meta = &pkt.meta;
    let src_is_a = pkt.src_is_a as u8;
    let entry = match FLOWS.get_ptr_mut(&pkt.key) {
        Some(p) => unsafe { &mut *p },
        None => {
            let fresh = FlowEntry::new_flow(meta.ts_ns, src_is_a);
            // NOEXIST: if another CPU created the flow a moment ago, keep its entry.
            if FLOWS.insert(&pkt.key, &fresh, BPF_NOEXIST as u64).is_ok() {
                count(Counter::FlowsCreated, 1);
                flow_start(pkt);
            }
            match FLOWS.get_ptr_mut(&pkt.key) {
                Some(p) => unsafe { &mut *p },
                None => {
                    count(Counter::FlowInsertFailed, 1);
                    return;
                }
            }
        }
    };

    // A connection that ended and now sees a fresh SYN on the same 5-tuple is a new flow:
    // report the old one's tail (if any) and start over.
    let attempt = meta.attempt != 0;
    if entry.stats.state & STATE_ENDED != 0 && attempt {
        credit_both(&pkt.key, entry, meta.ts_ns);
        if entry.stats.packets() == 0 || emit(&pkt.key, entry, RecordReason::FlowEnd) {
            *entry = FlowEntry::new_flow(meta.ts_ns, src_is_a);
            count(Counter::FlowsCreated, 1);
            count(Counter::FlowsReused, 1);
            flow_start(pkt);
        }
    }

    let stats = &mut entry.stats;
    let forward = src_is_a == stats.fwd_is_a;
    if !forward && stats.state & STATE_REPLIED == 0 {
        // The first reply: tells the flow's opener (a source) whether its attempt worked.
        stats.state |= STATE_REPLIED;
        if is_answer(pkt.key.protocol, meta.tcp_flags) {
            let answered = HostStats {
                answered: 1,
                ..HostStats::default()
            };
            host::credit(Role::Source, &pkt.key, stats.fwd_is_a != 0, &answered);
        }
    }
    stats.observe(meta, forward);
    if forward {
        atomic_add(&mut stats.fwd_packets, 1);
        atomic_add(&mut stats.fwd_bytes, meta.len as u64);
    } else {
        atomic_add(&mut stats.bwd_packets, 1);
        atomic_add(&mut stats.bwd_bytes, meta.len as u64);
    }

    // A connection attempt reaches its host at once; other packets in credits.
    let dir = if forward { FORWARD } else { BACKWARD };
    if attempt || entry.credit_due(dir, meta.ts_ns) {
        credit(&pkt.key, entry, dir, attempt as u64, meta.ts_ns);
    }

    if entry.stats.ends_now(meta) {
        let reason = if meta.tcp_flags & TCP_RST != 0 {
            RecordReason::Reset
        } else {
            RecordReason::FlowEnd
        };
        credit_both(&pkt.key, entry, meta.ts_ns);
        // If the ring buffer is full the flow stays whole in the map; the next packet or
        // the agent's idle expiry exports it.
        if emit(&pkt.key, entry, reason) {
            entry.stats.state |= STATE_ENDED;
            count(Counter::FlowsEnded, 1);
        }
    } else {
        let active = setting_u64(&ACTIVE_TIMEOUT_NS);
        if active != 0 && meta.ts_ns.saturating_sub(entry.stats.first_seen_ns) >= active {
            emit(&pkt.key, entry, RecordReason::ActiveTimeout);
        }
    }

    sample(pkt, forward);
}

/// Adds what direction `dir` of the flow counted since its last credit to its destination
/// (as received) and to its source (as sent), with `attempts` connection attempts (the
/// packet being processed).
#[inline(always)]
fn credit(key: &FlowKey, entry: &mut FlowEntry, dir: usize, attempts: u64, ts_ns: u64) {
    let mut d = entry.uncredited(dir, key.protocol == IPPROTO_TCP);
    d.syn_without_ack = attempts;
    if d.packets != 0 {
        // The same packets, received by one end and sent by the other.
        let to_a = entry.destination_is_a(dir);
        host::credit(Role::Destination, key, to_a, &d);
        host::credit(Role::Source, key, !to_a, &d);
    }
    entry.credited(dir, &d, ts_ns);
}

/// Credits both directions of a flow that ends or starts over, so nothing it counted
/// waits for the agent.
#[inline(always)]
fn credit_both(key: &FlowKey, entry: &mut FlowEntry, ts_ns: u64) {
    credit(key, entry, FORWARD, 0, ts_ns);
    credit(key, entry, BACKWARD, 0, ts_ns);
}

/// Sends the flow's current interval as a [`FlowRecord`] and starts the next interval.
/// Returns false (and counts it) when the ring buffer is full; the flow is left untouched.
#[inline(always)]
fn emit(key: &FlowKey, flow: &mut FlowEntry, reason: RecordReason) -> bool {
    let Some(mut entry) = EVENTS.reserve::<FlowRecord>(0) else {
        count(Counter::RingbufFull, 1);
        return false;
    };
    let rec = entry.as_mut_ptr();
    let (fp, bp, fb, bb);
    unsafe {
        (*rec).kind = RecordKind::Flow as u32;
        (*rec).reason = reason as u32;
        (*rec).key = *key;
        (*rec).stats = flow.stats;
        fp = (*rec).stats.fwd_packets;
        bp = (*rec).stats.bwd_packets;
        fb = (*rec).stats.fwd_bytes;
        bb = (*rec).stats.bwd_bytes;
    }
    entry.submit(0);
    // Subtract what was reported: increments that raced in after the copy stay counted.
    let stats = &mut flow.stats;
    atomic_add(&mut stats.fwd_packets, fp.wrapping_neg());
    atomic_add(&mut stats.bwd_packets, bp.wrapping_neg());
    atomic_add(&mut stats.fwd_bytes, fb.wrapping_neg());
    atomic_add(&mut stats.bwd_bytes, bb.wrapping_neg());
    stats.begin_interval_stats();
    flow.reported(fp, bp, fb, bb);
    count(Counter::RecordsEmitted, 1);
    true
}

/// Announces a new flow when the agent asked for it (the host detector needs it).
#[inline(always)]
fn flow_start(pkt: &Packet) {
    if setting_u32(&EMIT_FLOW_STARTS) == 0 {
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<FlowStart>(0) else {
        count(Counter::RingbufFull, 1);
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
fn sample(pkt: &Packet, forward: bool) {
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
        count(Counter::RingbufFull, 1);
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
