//! Folding a parsed packet into its flow, and deciding when the flow reports.
//!
//! Concurrency: the two directions of a flow can be processed on two CPUs at once.
//! Counting a packet (its per-direction packets and bytes) is atomic adds, which any
//! number of CPUs can do together. Cutting a record, crediting the host maps and starting
//! a new flow over an ended one move counts out of the entry; a CPU does them only while
//! it holds the flow's claim (see `packetguard_common::entry` and [`crate::sync`]), and
//! one that finds the claim held leaves them to the flow's next packet. So one end record
//! per flow, every record subtracts exactly what it copied, and host credits never count
//! a packet twice or go negative.
//!
//! A packet that may cut a record (a RST, a closing FIN, an interval past the active
//! timeout) is folded in only once its CPU holds the claim, so every record the kernel
//! cuts describes at least that packet: a first packet time and lengths of its own. The
//! other statistics (min/max, sums of squares) are plain stores; a packet folded in on one
//! CPU while another cuts the interval can miss from them (never from the counts), which
//! `FlowStats::complete_interval` accounts for before a record goes out.

use packetguard_common::{
    entry::{BACKWARD, CLAIM_ENDED, CLAIM_REPLIED, FORWARD},
    host::is_answer,
    key::IPPROTO_TCP,
    record::{STATE_ENDED, STATE_REPLIED},
    Counter, FlowEntry, FlowKey, HostStats, PacketMeta, RecordReason,
};

use crate::{
    count, emit,
    host::{self, Role},
    parse::Packet,
    setting_u64,
    store::FlowMap,
    sync, ACTIVE_TIMEOUT_NS,
};

/// `E2BIG`: what a full preallocated hash map answers an insert with.
const E2BIG: i32 = 7;

/// How far [`account`] goes: the benchmark runs programs that stop after each stage to
/// see where a packet's time goes. The production programs run [`FULL`].
///
/// Stops at once: parse and clock only.
pub const STAGE_PARSED: u8 = 0;
/// Stops once the flow's entry is found or created (no flow start event).
pub const STAGE_ENTRY: u8 = 1;
/// Stops once a new flow's start event is out.
pub const STAGE_START: u8 = 2;
/// Stops once the packet is folded into the entry (restart and first reply included),
/// before any claim, host credit or record.
pub const STAGE_FOLDED: u8 = 3;
/// Everything.
pub const FULL: u8 = u8::MAX;

/// Folds `pkt` into its flow in map `M`, creating the flow if needed, and emits what is
/// due. `UPTO` is [`FULL`] but in the benchmark's stage programs.
#[inline(always)]
pub fn account<M: FlowMap, const UPTO: u8>(pkt: &Packet) {
    if UPTO == STAGE_PARSED {
        return;
    }
    let meta = &pkt.meta;
    let src_is_a = pkt.src_is_a as u8;
    let entry = match M::get(pkt) {
        Some(p) => unsafe { &mut *p },
        None => {
            let fresh = FlowEntry::new_flow(meta.ts_ns, src_is_a);
            // NOEXIST: if another CPU created the flow a moment ago, keep its entry.
            match M::insert(pkt, &fresh) {
                Ok(()) => {
                    count(Counter::FlowsCreated, 1);
                    if UPTO >= STAGE_START {
                        emit::flow_start(pkt);
                    }
                }
                Err(e) if M::FALLBACK && e == -E2BIG => {
                    overflow(pkt);
                    return;
                }
                Err(_) => {}
            }
            match M::get(pkt) {
                Some(p) => unsafe { &mut *p },
                None => {
                    count(Counter::FlowInsertFailed, 1);
                    return;
                }
            }
        }
    };
    if UPTO < STAGE_FOLDED {
        return;
    }

    // A connection that ended and now sees a fresh SYN on the same 5-tuple is a new flow.
    // A connection attempt (see `packetguard_common::host::connection_attempt`).
    let attempt = meta.attempt != 0;
    if attempt && entry.stats.state & STATE_ENDED != 0 {
        restart(pkt, entry);
    }

    let forward = src_is_a == entry.stats.fwd_is_a;
    if !forward && entry.stats.state & STATE_REPLIED == 0 {
        first_reply(pkt, entry);
    }

    let dir = if forward { FORWARD } else { BACKWARD };
    let active = setting_u64(&ACTIVE_TIMEOUT_NS);
    let mut owned = None;
    if UPTO > STAGE_FOLDED && entry.stats.cut_due(meta, forward, active) {
        owned = sync::claim(&mut entry.claim);
        if owned.is_none() {
            count(Counter::FlowBusy, 1);
        }
    }
    fold(entry, meta, forward);
    if UPTO == STAGE_FOLDED {
        return;
    }
    match owned {
        Some(bits) => {
            cut(pkt, entry, dir, attempt, bits, active);
            sync::release(&mut entry.claim);
        }
        // A connection attempt reaches its host at once; other packets in credits.
        None if attempt || entry.credit_due(dir, meta.ts_ns) => {
            credit_claimed(&pkt.key, entry, dir, attempt, meta.ts_ns)
        }
        None => {}
    }

    emit::sample(pkt, forward);
}

/// The packet's flow found the map full (a map that never evicts): the packet leaves alone
/// as the record of a one-packet interval, which the agent merges into the flow like an
/// active-timeout record, and reaches its two hosts at once. Counted as a refused insert.
#[inline(always)]
fn overflow(pkt: &Packet) {
    count(Counter::FlowInsertFailed, 1);
    let meta = &pkt.meta;
    let d = HostStats {
        packets: 1,
        bytes: meta.len as u64,
        tcp_packets: (pkt.key.protocol == IPPROTO_TCP) as u64,
        syn_without_ack: meta.attempt as u64,
        answered: 0,
    };
    host::credit(Role::Destination, &pkt.key, !pkt.src_is_a, &d);
    host::credit(Role::Source, &pkt.key, pkt.src_is_a, &d);
    emit::single(pkt);
}

/// Adds the packet to the flow: its statistics, then its counters.
#[inline(always)]
fn fold(entry: &mut FlowEntry, meta: &PacketMeta, forward: bool) {
    let stats = &mut entry.stats;
    stats.observe(meta, forward);
    if forward {
        sync::atomic_add(&mut stats.fwd_packets, 1);
        sync::atomic_add(&mut stats.fwd_bytes, meta.len as u64);
    } else {
        sync::atomic_add(&mut stats.bwd_packets, 1);
        sync::atomic_add(&mut stats.bwd_bytes, meta.len as u64);
    }
}

/// With the claim held and the packet folded in: the end record if the packet closed the
/// connection, else the direction's credit if due and an active timeout record if due.
#[inline(always)]
fn cut(pkt: &Packet, entry: &mut FlowEntry, dir: usize, attempt: bool, bits: u64, active: u64) {
    let (key, meta) = (&pkt.key, &pkt.meta);
    let ts = meta.ts_ns;
    if bits & CLAIM_ENDED == 0 && entry.stats.closes(meta) {
        // Nothing the flow counted waits for the agent.
        credit(key, entry, dir, attempt as u64, ts);
        credit(key, entry, 1 - dir, 0, ts);
        let reason = RecordReason::of_close(meta.tcp_flags);
        // If the ring buffer is full the flow stays whole in the map; its next packet or
        // the agent's idle expiry exports it.
        if emit::record(key, entry, reason) {
            sync::fetch_or(&mut entry.claim, CLAIM_ENDED);
            entry.stats.state |= STATE_ENDED;
            count(Counter::FlowsEnded, 1);
        }
        return;
    }
    if bits & CLAIM_ENDED != 0 {
        // The hint was lost to another CPU's update of `state`; the claim word knows.
        entry.stats.state |= STATE_ENDED;
    }
    if attempt || entry.credit_due(dir, ts) {
        credit(key, entry, dir, attempt as u64, ts);
    }
    if entry.stats.active_due(ts, active) {
        emit::record(key, entry, RecordReason::ActiveTimeout);
    }
}

/// Credits direction `dir` under the claim. When another CPU holds it, the packets wait for
/// the next credit (the direction stays due) but a connection attempt, which is this
/// packet's alone, reaches both hosts at once.
#[inline(always)]
fn credit_claimed(key: &FlowKey, entry: &mut FlowEntry, dir: usize, attempt: bool, ts_ns: u64) {
    if sync::claim(&mut entry.claim).is_some() {
        credit(key, entry, dir, attempt as u64, ts_ns);
        sync::release(&mut entry.claim);
        return;
    }
    count(Counter::FlowBusy, 1);
    if attempt {
        let d = HostStats {
            syn_without_ack: 1,
            ..HostStats::default()
        };
        let to_a = entry.destination_is_a(dir);
        host::credit(Role::Destination, key, to_a, &d);
        host::credit(Role::Source, key, !to_a, &d);
    }
}

/// Adds what direction `dir` of the flow counted since its last credit to its destination
/// (as received) and to its source (as sent), with `attempts` connection attempts (the
/// packet being processed). The caller holds the flow's claim.
#[inline(always)]
fn credit(key: &FlowKey, entry: &mut FlowEntry, dir: usize, attempts: u64, ts_ns: u64) {
    let mut d = entry.uncredited(dir, key.protocol == IPPROTO_TCP);
    d.syn_without_ack = attempts;
    // Packets and bytes are two reads: another CPU's packet can be in the bytes and not
    // yet in the packets. The marks take what was read, so the hosts must get it too.
    if d.packets | d.bytes != 0 {
        // The same packets, received by one end and sent by the other.
        let to_a = entry.destination_is_a(dir);
        host::credit(Role::Destination, key, to_a, &d);
        host::credit(Role::Source, key, !to_a, &d);
    }
    entry.credited(dir, &d, ts_ns);
}

/// Starts a new flow over an ended one whose 5-tuple sees a fresh SYN: credits and reports
/// the old flow's tail (if any), then resets the entry in place. When another CPU holds the
/// flow, or the ring buffer has no room for the tail, the SYN joins the tail instead.
#[inline(always)]
fn restart(pkt: &Packet, entry: &mut FlowEntry) {
    let Some(bits) = sync::claim(&mut entry.claim) else {
        count(Counter::FlowBusy, 1);
        return;
    };
    if bits & CLAIM_ENDED != 0 {
        let ts = pkt.meta.ts_ns;
        credit(&pkt.key, entry, FORWARD, 0, ts);
        credit(&pkt.key, entry, BACKWARD, 0, ts);
        if entry.stats.packets() == 0 || emit::record(&pkt.key, entry, RecordReason::FlowEnd) {
            entry.stats.restart(ts, pkt.src_is_a as u8);
            // The new flow's first packet credits at once. The marks stay: they moved
            // with the counters when the tail was reported.
            entry.credit.credited_ns = [0, 0];
            sync::fetch_and_not(&mut entry.claim, CLAIM_ENDED | CLAIM_REPLIED);
            count(Counter::FlowsCreated, 1);
            count(Counter::FlowsReused, 1);
            emit::flow_start(pkt);
        }
    }
    sync::release(&mut entry.claim);
}

/// The flow's first backward packet (the reply its opener's attempt got, if any): tells
/// the opener's source entry whether the attempt was answered, exactly once per flow.
#[inline(always)]
fn first_reply(pkt: &Packet, entry: &mut FlowEntry) {
    let before = sync::fetch_or(&mut entry.claim, CLAIM_REPLIED);
    entry.stats.state |= STATE_REPLIED;
    if before & CLAIM_REPLIED == 0 && is_answer(pkt.key.protocol, pkt.meta.tcp_flags) {
        let answered = HostStats {
            answered: 1,
            ..HostStats::default()
        };
        host::credit(Role::Source, &pkt.key, entry.stats.fwd_is_a != 0, &answered);
    }
}
