//! Model parsing, scoring and explanation over arbitrary bytes: each input is loaded as it
//! is and again with its length and checksum made to match, and whatever loads is scored
//! through every walk this CPU runs and explained (`packetguard_forest::check`).
//!
//! Allocations are counted as well, so an input that makes decoding peak above
//! `check::decode_peak_bound` is a crash too.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use packetguard_forest::check::{decode_peak_bound, fuzz_one, sealed, CHECK_PATH};
use packetguard_forest::Model;

/// [`System`] counting the bytes live and their peak (the target runs on one thread).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Decodes `bytes`, asserting the peak of what decoding allocates.
fn check_peak(bytes: &[u8]) {
    let start = LIVE.load(Relaxed);
    PEAK.store(start, Relaxed);
    let result = Model::from_bytes(bytes, Path::new(CHECK_PATH));
    let peak = PEAK.load(Relaxed) - start;
    let bound = decode_peak_bound(bytes.len(), result.is_err());
    assert!(
        peak <= bound,
        "{peak} bytes at peak for {} input bytes",
        bytes.len()
    );
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check_peak(data);
    if let Some(sealed) = sealed(data) {
        check_peak(&sealed);
    }
    fuzz_one(data);
});
