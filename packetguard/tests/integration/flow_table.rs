//! The agent's scans of the kernel flow map (batched lookups) on flows the real XDP program
//! created through `BPF_PROG_TEST_RUN`.

use std::time::Duration;

use aya::programs::{TestRun, TestRunOptions};
use packetguard::datapath::{
    flow_table::{monotonic_ns, FlowTable},
    xdp_program, DataPath, DataPathConfig,
};
use packetguard_common::{config::PROGRAM_XDP, record::TCP_ACK};

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
        .expire_idle(monotonic_ns(), Duration::from_secs(3600), |_| {
            panic!("nothing is idle")
        })
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
        })
        .unwrap();
    assert_eq!((st.entries, st.removed), (FLOWS as usize, FLOWS as usize));
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), FLOWS as usize, "each flow exactly once");
    assert_eq!(packets, 2 * FLOWS as u64);

    let st = table.export_all(|_| panic!("the table is empty")).unwrap();
    assert_eq!((st.entries, st.removed), (0, 0));
}
