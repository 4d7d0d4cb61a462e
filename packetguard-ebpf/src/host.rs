//! Per-destination totals for the host detector (see `packetguard_common::host`).

use aya_ebpf::bindings::BPF_NOEXIST;
use packetguard_common::{Counter, HostKey, HostStats};

use crate::{count, parse::Packet, HOSTS};

/// Adds `pkt` to its destination's per-CPU totals, creating the entry if needed.
#[inline(always)]
pub fn account(pkt: &Packet) {
    let key = HostKey::destination(&pkt.key, pkt.src_is_a);
    let meta = &pkt.meta;
    if let Some(stats) = HOSTS.get_ptr_mut(&key) {
        // Per-CPU value: only this CPU writes it, no atomics needed.
        unsafe { (*stats).add(meta.len, meta.is_tcp, meta.tcp_flags) };
        return;
    }
    let first = HostStats::first(meta.len, meta.is_tcp, meta.tcp_flags);
    if HOSTS.insert(&key, &first, BPF_NOEXIST as u64).is_ok() {
        return;
    }
    // Another CPU created the entry in between; this CPU's slot of it starts at zero.
    match HOSTS.get_ptr_mut(&key) {
        Some(stats) => unsafe { (*stats).add(meta.len, meta.is_tcp, meta.tcp_flags) },
        None => count(Counter::HostInsertFailed, 1),
    }
}
