use std::{io::Cursor, net::IpAddr, path::Path};

use packetguard_common::features::{FLOW_ROW_FEATURES, N_FLOW_ROW_FEATURES};

use super::*;
use crate::pipeline::offline::test_stage::Recorder;

/// A row of the flow CSV: key, start, then features set by name (the rest 0).
fn row(key: &str, start_ms: u64, set: &[(&str, f64)]) -> String {
    let mut f = [0.0; N_FLOW_ROW_FEATURES];
    for (name, v) in set {
        f[FLOW_ROW_FEATURES.iter().position(|n| n == name).unwrap()] = *v;
    }
    let features: Vec<String> = f.iter().map(|v| format!("{v}")).collect();
    format!("{key},{start_ms},idle,1,{}\n", features.join(","))
}

fn run(text: &str) -> (Recorder, SourceStats) {
    let mut src = FlowCsv::new(Path::new("f.csv"), Cursor::new(text.as_bytes().to_vec()));
    let mut rec = Recorder::new();
    let stats = src.run(&mut rec, &mut |_| {}).unwrap();
    (rec, stats)
}

const T0: u64 = 1_700_000_000_000;

#[test]
fn rows_are_scored_from_their_features_and_windows_rebuilt_by_time() {
    // Written out of start order, as collect writes rows when flows end.
    let text = [
        row(
            "192.0.2.10,198.51.100.20,51234,443,6",
            T0 + 500,
            &[
                ("duration_ns", 2.5e9),
                ("fwd_packets", 301.0),
                ("bwd_packets", 30.0),
                ("fwd_bytes", 30_100.0),
                ("bwd_bytes", 3_000.0),
                ("syn_count", 2.0),
            ],
        ),
        row(
            "192.0.2.10,198.51.100.20,40000,53,17",
            T0,
            &[("fwd_packets", 1.0), ("fwd_bytes", 80.0)],
        ),
    ]
    .concat();
    let (rec, stats) = run(&text);
    assert_eq!(stats, SourceStats { read: 2, flows: 2 });
    // Both rows reach the flow detector with their features, in start order.
    assert_eq!(rec.features.len(), 2);
    assert_eq!(rec.features[0].0.dst_port, 53);
    assert_eq!(rec.features[1].0.dst_port, 443);
    assert_eq!(rec.features[1].1[1], 301.0);
    // The UDP flow at T0 and the TCP flow at T0+0.5s open flows; only TCP is an attempt.
    let client: IpAddr = "192.0.2.10".parse().unwrap();
    let server: IpAddr = "198.51.100.20".parse().unwrap();
    assert_eq!(
        rec.starts,
        [
            (client, T0 * 1_000_000, 0),
            (client, (T0 + 500) * 1_000_000, 1)
        ]
    );
    // The TCP flow lasts from 0.5s to 3s: seconds 0..=3, 301 packets spread 76+75+75+75.
    let to_server: Vec<u64> = rec
        .seconds
        .iter()
        .map(|(_, d)| d.get(&server).map_or(0, |s| s.packets))
        .collect();
    assert_eq!(to_server, [1 + 76, 75, 75, 75]);
    let first = &rec.seconds[0].1[&server];
    assert_eq!((first.syn_without_ack, first.tcp_packets), (1, 76));
    assert_eq!(rec.seconds[0].1[&client].packets, 30 / 4 + 30 % 4);
    assert_eq!(rec.sent[0][&client].answered, 1);
    let times: Vec<u64> = rec.seconds.iter().map(|(t, _)| t / 1_000_000).collect();
    assert_eq!(times, [T0 + 1000, T0 + 2000, T0 + 3000, T0 + 4000]);
    // Each row's traffic is its flow's totals, at its end.
    assert_eq!(
        rec.traffic,
        [
            (T0 * 1_000_000, 1, 80),
            ((T0 + 500) * 1_000_000 + 2_500_000_000, 331, 33_100)
        ]
    );
}

#[test]
fn a_bad_row_names_the_file_line_and_column() {
    let text = format!(
        "{}192.0.2.1,nowhere,1,2,6,0,idle,1\n",
        row("192.0.2.1,192.0.2.2,1,2,6", T0, &[])
    );
    let mut src = FlowCsv::new(Path::new("f.csv"), Cursor::new(text.into_bytes()));
    let err = src.run(&mut Recorder::new(), &mut |_| {}).unwrap_err();
    assert_eq!(err.to_string(), "f.csv line 3: bad row: 8 columns, not 35");
    let text = row("192.0.2.1,nowhere,1,2,6", T0, &[]);
    let mut src = FlowCsv::new(Path::new("f.csv"), Cursor::new(text.into_bytes()));
    let err = src.run(&mut Recorder::new(), &mut |_| {}).unwrap_err();
    assert_eq!(err.to_string(), "f.csv line 2: bad row: dst_ip \"nowhere\"");
}
