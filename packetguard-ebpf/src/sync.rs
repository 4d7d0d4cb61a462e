//! Atomic operations on flow entries, shared by the CPUs that carry one flow at once.
//!
//! Counting is atomic adds. Moving counts out of an entry (a record, a host credit, a
//! restart) takes the flow's claim first (see `packetguard_common::entry`): one fetch-or
//! that either wins the claim or tells the CPU that another one holds it, in which case
//! the CPU leaves that work to the flow's next packet. Nothing ever waits.
//!
//! The fetch, exchange and compare-and-exchange forms of BPF atomics need Linux 5.12. They
//! are fully ordered, so what the owner wrote under the claim is visible to the next owner
//! before it sees the claim free. A bare atomic add (no fetch) is relaxed, which is all a
//! counter needs. The BPF target has no `AtomicU64::fetch_or`, so these are the core
//! intrinsics; LLVM lowers them to the BPF atomic instructions.

use core::intrinsics::{atomic_and, atomic_or, atomic_xadd, AtomicOrdering};

use packetguard_common::entry::CLAIM_BUSY;

/// Adds `v` to `field` atomically. The result is unused, so this is a plain BPF atomic add
/// (Linux 5.1 and later).
#[inline(always)]
pub fn atomic_add(field: &mut u64, v: u64) {
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(field as *mut u64, v) };
}

/// Sets `bits` in `word`; returns the bits that were set before.
#[inline(always)]
pub fn fetch_or(word: &mut u64, bits: u64) -> u64 {
    unsafe { atomic_or::<u64, u64, { AtomicOrdering::SeqCst }>(word as *mut u64, bits) }
}

/// Clears `bits` in `word`; returns the bits that were set before.
#[inline(always)]
pub fn fetch_and_not(word: &mut u64, bits: u64) -> u64 {
    unsafe { atomic_and::<u64, u64, { AtomicOrdering::SeqCst }>(word as *mut u64, !bits) }
}

/// Takes the claim on a flow. `Some(bits)` (the claim word's other bits, e.g.
/// `CLAIM_ENDED`) when this CPU now owns it and must [`release`] it; `None` when another
/// CPU holds it.
#[inline(always)]
pub fn claim(word: &mut u64) -> Option<u64> {
    let before = fetch_or(word, CLAIM_BUSY);
    (before & CLAIM_BUSY == 0).then_some(before)
}

/// Gives the claim back. A fetch-and (not a bare one, which would be relaxed) so that every
/// write made under the claim is visible before the claim is seen free. Clearing the bit
/// rather than storing a value keeps `CLAIM_REPLIED`, which other CPUs may set meanwhile,
/// and leaves an entry the LRU gave to another flow in between (its claim word starts at
/// zero) unclaimed rather than claimed forever.
#[inline(always)]
pub fn release(word: &mut u64) {
    let before = fetch_and_not(word, CLAIM_BUSY);
    // Used, so LLVM keeps the fetch (ordered) form of the instruction.
    core::hint::black_box(before);
}
