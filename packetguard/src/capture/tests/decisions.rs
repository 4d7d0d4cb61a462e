//! The kernel's decisions on capture time: reset, a SYN over an ended flow, the active
//! timeout, and the table's cap.

use std::time::Duration;

use packetguard_common::{key::IPPROTO_TCP, RecordReason};

use super::{
    flows::{key4, T0},
    frames::*,
    Collected,
};
use crate::capture::{LinkType, OfflineSettings, OfflineSource};

const MS: u64 = 1_000_000;

fn fold(settings: OfflineSettings, frames: &[(u64, Vec<u8>)]) -> (Collected, OfflineSource) {
    let mut source = OfflineSource::new(settings);
    let mut out = Collected::default();
    for (ts, f) in frames {
        let Ok(()) = source.push(*ts, LinkType::Ethernet, f, f.len() as u32, &mut out);
    }
    let Ok(_) = source.finish(&mut out);
    (out, source)
}

fn reasons(c: &Collected) -> Vec<(u32, u64)> {
    c.records
        .iter()
        .map(|r| (r.reason, r.stats.packets()))
        .collect()
}

#[test]
fn a_reset_ends_the_flow_and_a_new_syn_over_an_ended_flow_starts_another() {
    let (a, b) = (V4_A, V4_B);
    let frames = vec![
        (T0, tcp_v4(a, b, 40000, 80, 0x02, 0)),
        (T0 + MS, tcp_v4(b, a, 80, 40000, 0x14, 0)),
        // The same 5-tuple again: a new flow over the ended one.
        (T0 + 2 * MS, tcp_v4(a, b, 40000, 80, 0x02, 0)),
        (T0 + 3 * MS, tcp_v4(b, a, 80, 40000, 0x12, 0)),
    ];
    let (got, source) = fold(OfflineSettings::default(), &frames);
    use RecordReason::*;
    assert_eq!(
        reasons(&got),
        vec![(Reset as u32, 2), (Shutdown as u32, 2)],
        "the RST cuts the record; the second SYN finds no tail to report"
    );
    assert_eq!(got.starts.len(), 2);
    assert_eq!(got.starts[1].ts_ns, T0 + 2 * MS);
    assert_eq!(got.records[1].stats.flow_start_ns, T0 + 2 * MS);
    let c = source.counts().flows;
    assert_eq!((c.created, c.reused, c.ended), (2, 1, 1));
    assert_eq!(got.records[0].key, key4(IPPROTO_TCP, 40000, 80).0);
}

#[test]
fn a_long_flow_reports_at_each_active_timeout() {
    let frames: Vec<_> = (0..8)
        .map(|i| (T0 + i * 400 * MS, tcp_v4(V4_A, V4_B, 1, 2, 0x10, 10)))
        .collect();
    let settings = OfflineSettings {
        active_timeout: Duration::from_secs(1),
        ..OfflineSettings::default()
    };
    let (got, _) = fold(settings, &frames);
    use RecordReason::*;
    // Packets at 0, 0.4, ..., 2.8 s: the interval started at 0 reaches 1 s at 1.2 s, the
    // next (from 1.6 s) at 2.8 s.
    assert_eq!(
        reasons(&got),
        vec![(ActiveTimeout as u32, 4), (ActiveTimeout as u32, 4)]
    );
}

#[test]
fn a_full_table_exports_its_least_recently_active_flows_and_counts_them() {
    let frames: Vec<_> = (0..20u16)
        .map(|i| {
            (
                T0 + i as u64 * MS,
                tcp_v4(V4_A, V4_B, 1000 + i, 80, 0x02, 0),
            )
        })
        .collect();
    let settings = OfflineSettings {
        flow_entries: 16,
        ..OfflineSettings::default()
    };
    let (got, source) = fold(settings, &frames);
    let c = source.counts().flows;
    assert_eq!((c.created, c.evicted, c.evicted_packets), (20, 4, 4));
    // The four oldest went out first, as idle records; nothing was lost.
    let evicted: Vec<u16> = got.records[..4].iter().map(|r| r.key.port_a).collect();
    assert_eq!(evicted, vec![1000, 1001, 1002, 1003]);
    assert!(got.records[..4]
        .iter()
        .all(|r| r.reason == RecordReason::IdleTimeout as u32));
    assert_eq!(got.records.len(), 20);
    assert!(source.folder().is_empty());
}
