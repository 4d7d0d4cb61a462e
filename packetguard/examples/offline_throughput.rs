//! Packets per second of the offline path (parse and fold, no detectors): on generated
//! frames in memory, and on each capture file named on the command line (file reading
//! included). `cargo run --release -p packetguard --example offline_throughput [FILE...]`

use packetguard::capture::{bench, OfflineSettings};

fn main() {
    let settings = OfflineSettings::default();
    for flows in [1u16, 1000, 50_000] {
        let frames = bench::synthetic_frames(2_000_000, flows);
        let t = bench::measure(&frames, settings);
        println!(
            "generated, {flows} flows: {} packets in {:.2?}, {:.0} packets/s ({} flows)",
            t.packets,
            t.elapsed,
            t.packets_per_s(),
            t.counts.flows.created
        );
    }
    for path in std::env::args().skip(1) {
        match bench::measure_file(std::path::Path::new(&path), settings) {
            Ok(t) => println!(
                "{path}: {} packets in {:.2?}, {:.0} packets/s ({} flows, {} parse errors, {} non-IP)",
                t.packets,
                t.elapsed,
                t.packets_per_s(),
                t.counts.flows.created,
                t.counts.parse_errors,
                t.counts.non_ip
            ),
            Err(e) => println!("{e}"),
        }
    }
}
