//! Per-destination totals for the host detector (see `packetguard_common::host`), credited
//! from the flow map (see `packetguard_common::entry`).

use aya_ebpf::bindings::BPF_NOEXIST;
use packetguard_common::{Counter, FlowKey, HostKey, HostStats};

use crate::{count, HOSTS};

/// Adds `d` to this CPU's slot of endpoint `a` (when `to_a`) or `b` of the flow `key`,
/// creating the entry if needed.
#[inline(always)]
pub fn credit(key: &FlowKey, to_a: bool, d: &HostStats) {
    let host = endpoint(key, to_a);
    if let Some(stats) = HOSTS.get_ptr_mut(&host) {
        // Per-CPU value: only this CPU writes it, no atomics needed.
        unsafe { *stats = (*stats).plus(d) };
        return;
    }
    if HOSTS.insert(&host, d, BPF_NOEXIST as u64).is_ok() {
        return;
    }
    // Another CPU created the entry in between; this CPU's slot of it starts at zero.
    match HOSTS.get_ptr_mut(&host) {
        Some(stats) => unsafe { *stats = (*stats).plus(d) },
        None => count(Counter::HostInsertFailed, 1),
    }
}

/// [`HostKey::endpoint`] built as five words: a field-by-field build zeroes the three
/// padding bytes with a call to the byte-wise `memset` subprogram.
#[inline(always)]
fn endpoint(k: &FlowKey, a: bool) -> HostKey {
    let addr = if a { &k.addr_a } else { &k.addr_b };
    // Little-endian (bpfel): `ip_version` is the low byte of the fifth word, the padding the
    // three zero bytes above it.
    let words: [u32; 5] = [addr[0], addr[1], addr[2], addr[3], k.ip_version as u32];
    unsafe { core::mem::transmute::<[u32; 5], HostKey>(words) }
}
