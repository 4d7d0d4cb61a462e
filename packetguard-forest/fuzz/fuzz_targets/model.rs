//! Model parsing, scoring and explanation over arbitrary bytes: each input is loaded as it
//! is and again with its length and checksum made to match, and whatever loads is scored
//! through every walk this CPU runs and explained (`packetguard_forest::check`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    packetguard_forest::check::fuzz_one(data);
});
