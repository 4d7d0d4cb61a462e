//! Per-address totals for the destination and source detectors (see
//! `packetguard_common::host`), credited from the flow map (see `packetguard_common::entry`).

use aya_ebpf::{bindings::BPF_NOEXIST, maps::LruPerCpuHashMap};
use packetguard_common::{Counter, FlowKey, HostKey, HostStats};

use crate::{count, HOSTS, SOURCES};

/// Which per-address map a credit goes to.
#[derive(Clone, Copy)]
pub enum Role {
    /// The address received the packets (`HOSTS`).
    Destination,
    /// The address sent them (`SOURCES`).
    Source,
}

/// Adds `d` to this CPU's slot of endpoint `a` (when `to_a`) or `b` of the flow `key` in
/// the map of `role`, creating the entry if needed.
#[inline(always)]
pub fn credit(role: Role, key: &FlowKey, to_a: bool, d: &HostStats) {
    let (map, failed): (&LruPerCpuHashMap<HostKey, HostStats>, Counter) = match role {
        Role::Destination => (&HOSTS, Counter::HostInsertFailed),
        Role::Source => (&SOURCES, Counter::SourceInsertFailed),
    };
    let host = endpoint(key, to_a);
    if let Some(stats) = map.get_ptr_mut(&host) {
        // Per-CPU value: only this CPU writes it, no atomics needed.
        unsafe { *stats = (*stats).plus(d) };
        return;
    }
    if map.insert(&host, d, BPF_NOEXIST as u64).is_ok() {
        return;
    }
    // Another CPU created the entry in between; this CPU's slot of it starts at zero.
    match map.get_ptr_mut(&host) {
        Some(stats) => unsafe { *stats = (*stats).plus(d) },
        None => count(failed, 1),
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
