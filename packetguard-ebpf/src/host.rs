//! Per-destination totals for the host detector (see `packetguard_common::host`), credited
//! from the flow map (see `packetguard_common::entry`).

use aya_ebpf::bindings::BPF_NOEXIST;
use packetguard_common::{entry::FORWARD, Counter, FlowKey, HostKey, HostStats};

use crate::{count, HOSTS};

/// Adds `d`, what direction `dir` of the flow `key` counted, to this CPU's slot of the
/// direction's destination host, creating the entry if needed.
#[inline(always)]
pub fn credit(key: &FlowKey, fwd_is_a: bool, dir: usize, d: &HostStats) {
    // The forward direction's sender is endpoint `a` when `fwd_is_a`; it goes to the other.
    let to_a = (dir == FORWARD) != fwd_is_a;
    let host = endpoint(key, to_a);
    if let Some(stats) = HOSTS.get_ptr_mut(&host) {
        // Per-CPU value: only this CPU writes it, no atomics needed.
        unsafe { (*stats).absorb(d) };
        return;
    }
    if HOSTS.insert(&host, d, BPF_NOEXIST as u64).is_ok() {
        return;
    }
    // Another CPU created the entry in between; this CPU's slot of it starts at zero.
    match HOSTS.get_ptr_mut(&host) {
        Some(stats) => unsafe { (*stats).absorb(d) },
        None => count(Counter::HostInsertFailed, 1),
    }
}

/// Endpoint `a` (when `a`) or `b` of `key` as a [`HostKey`], built as five words: a
/// field-by-field build zeroes the three padding bytes with a call to the byte-wise
/// `memset` subprogram.
#[inline(always)]
fn endpoint(k: &FlowKey, a: bool) -> HostKey {
    let addr = if a { &k.addr_a } else { &k.addr_b };
    // Little-endian (bpfel): `ip_version` is the low byte of the fifth word, the padding the
    // three zero bytes above it.
    let words: [u32; 5] = [addr[0], addr[1], addr[2], addr[3], k.ip_version as u32];
    unsafe { core::mem::transmute::<[u32; 5], HostKey>(words) }
}
