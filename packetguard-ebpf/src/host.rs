//! Per-destination totals for the host detector (see `packetguard_common::host`).

use aya_ebpf::bindings::BPF_NOEXIST;
use packetguard_common::{Counter, HostKey, HostStats};

use crate::{count, parse::Packet, HOSTS};

/// Adds `pkt` to its destination's per-CPU totals, creating the entry if needed.
#[inline(always)]
pub fn account(pkt: &Packet) {
    let key = destination(pkt);
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

/// [`HostKey::destination`] built as five words: a field-by-field build zeroes the three
/// padding bytes with a call to the byte-wise `memset` subprogram on every packet.
#[inline(always)]
fn destination(pkt: &Packet) -> HostKey {
    let k = &pkt.key;
    let addr = if pkt.src_is_a { &k.addr_b } else { &k.addr_a };
    // Little-endian (bpfel): `ip_version` is the low byte of the fifth word, the padding the
    // three zero bytes above it.
    let words: [u32; 5] = [addr[0], addr[1], addr[2], addr[3], k.ip_version as u32];
    unsafe { core::mem::transmute::<[u32; 5], HostKey>(words) }
}
