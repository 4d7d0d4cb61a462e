//! The agent's scans of the kernel flow map (batched lookups) on flows the real XDP program
//! created through `BPF_PROG_TEST_RUN`, and on entries as the kernel inserts them.

use std::time::Duration;

use aya::programs::{TestRun, TestRunOptions};
use packetguard::datapath::{
    flow_table::{monotonic_ns, FlowTable},
    xdp_program, DataPath, DataPathConfig,
};
use packetguard_common::{
    config::PROGRAM_XDP, key::IPPROTO_TCP, record::TCP_ACK, FlowEntry, FlowKey, PacketMeta,
};

use crate::frames::*;

/// Flows over several batch chunks (4096 entries each), not a multiple of the chunk.
const FLOWS: u16 = 10_001;

#[test]
fn idle_scans_and_the_final_export_see_every_flow_of_a_large_table_once() {
    let mut dp = DataPath::load(&DataPathConfig {
        flow_entries: 16_384,
        ..DataPathConfig::default()
    })
    .expect("the XDP program loads (needs root)");
    let prog = xdp_program(dp.ebpf_mut(), PROGRAM_XDP).unwrap();
    for sport in 0..FLOWS {
        let frame = tcp_v4(
            [192, 0, 2, 2],
            [198, 51, 100, 2],
            20_000 + sport,
            80,
            TCP_ACK,
            10,
        );
        // Two runs of one rather than one run with `repeat: 2`: a repeated XDP test run
        // makes the kernel swap its XDP dispatcher, which waits for an RCU grace period.
        for _ in 0..2 {
            prog.test_run(TestRunOptions {
                data_in: Some(&frame),
                repeat: 1,
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN");
        }
    }
    let mut table = FlowTable::new(dp.take_flows().unwrap());

    // Nothing is idle for an hour: the scan sees every flow and removes none.
    let st = table
        .expire_idle(
            monotonic_ns(),
            Duration::from_secs(3600),
            |_| -> Result<(), packetguard::datapath::DataPathError> { panic!("nothing is idle") },
        )
        .unwrap();
    assert_eq!((st.entries, st.removed), (FLOWS as usize, 0));

    // The export hands over every flow once, with both of its packets.
    let mut ports = Vec::new();
    let mut packets = 0;
    let st = table
        .export_all(|r| {
            let rec = r.record.expect("every flow counted packets");
            packets += rec.stats.packets();
            ports.push(rec.key.port_a.max(rec.key.port_b));
            Ok::<(), packetguard::datapath::DataPathError>(())
        })
        .unwrap();
    assert_eq!((st.entries, st.removed), (FLOWS as usize, FLOWS as usize));
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), FLOWS as usize, "each flow exactly once");
    assert_eq!(packets, 2 * FLOWS as u64);

    let st = table
        .export_all(|_| -> Result<(), packetguard::datapath::DataPathError> {
            panic!("the table is empty")
        })
        .unwrap();
    assert_eq!((st.entries, st.removed), (0, 0));
}

/// The kernel inserts a flow's entry ([`FlowEntry::new_flow`]: created now, no packet yet)
/// and folds the packet in a moment later. An idle scan in that moment must not take the
/// entry for a flow idle since boot: idleness counts from its creation.
#[test]
fn a_flow_created_and_not_yet_observed_is_not_idle() {
    let idle = Duration::from_secs(1);
    let idle_ns = idle.as_nanos() as u64;
    let created = monotonic_ns();
    let key = |port: u16| {
        FlowKey::canonical(
            4,
            IPPROTO_TCP,
            [u32::from_ne_bytes([192, 0, 2, 2]), 0, 0, 0],
            port,
            [u32::from_ne_bytes([198, 51, 100, 2]), 0, 0, 0],
            80,
        )
        .0
    };
    let just_created = FlowEntry::new_flow(created, 1);
    assert_eq!(
        just_created.stats.last_seen_ns, 0,
        "what the kernel inserts"
    );
    // A flow whose last packet is exactly one idle timeout older than the first scan.
    let mut quiet = FlowEntry::new_flow(created - 2 * idle_ns, 1);
    quiet.stats.observe(
        &PacketMeta {
            ts_ns: created - idle_ns + 1,
            len: 60,
            ..PacketMeta::default()
        },
        true,
    );
    quiet.stats.count(true, 60);

    let mut dp =
        DataPath::load(&DataPathConfig::default()).expect("the XDP program loads (needs root)");
    let mut map = dp.take_flows().unwrap();
    map.insert(key(1), just_created, 0).unwrap();
    map.insert(key(2), quiet, 0).unwrap();
    let mut table = FlowTable::new(map);

    let mut removed = Vec::new();
    let st = table
        .expire_idle(created + 1, idle, |r| {
            removed.push(r);
            Ok::<(), packetguard::datapath::DataPathError>(())
        })
        .unwrap();
    assert_eq!((st.entries, st.removed), (2, 1));
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].key, key(2), "only the quiet flow is idle");
    assert_eq!(removed[0].record.unwrap().stats.packets(), 1);

    // Created one idle timeout ago and never observed since: now it is idle, with nothing
    // to report.
    let mut removed = Vec::new();
    let st = table
        .expire_idle(created + idle_ns - 1, idle, |r| {
            removed.push(r);
            Ok::<(), packetguard::datapath::DataPathError>(())
        })
        .unwrap();
    assert_eq!((st.entries, st.removed), (1, 0));
    let st = table
        .expire_idle(created + idle_ns, idle, |r| {
            removed.push(r);
            Ok::<(), packetguard::datapath::DataPathError>(())
        })
        .unwrap();
    assert_eq!((st.entries, st.removed), (1, 1));
    assert_eq!(removed[0].key, key(1));
    assert!(removed[0].record.is_none(), "no packet, no record");
}
