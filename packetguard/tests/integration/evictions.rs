//! A flow table and a ring buffer far too small for the traffic, through
//! `BPF_PROG_TEST_RUN`: 64 flow entries, the smallest ring buffer (4096 bytes), flow starts
//! and a sample of every packet on. Every packet ends up in exactly one record (drained
//! from the ring buffer or exported by the agent) or among the evicted packets; every
//! flow record the ring buffer refused is delayed, not lost; every flow start and sample
//! it refused is lost; and the metrics say all of it exactly.

use std::collections::HashMap as Map;

use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{TestRun, TestRunOptions},
};
use packetguard::{
    datapath::{
        counters::{self, KernelCounters},
        drain::{decode, Event},
        flow_table::{monotonic_ns, FlowTable},
        xdp_program, DataPath, DataPathConfig,
    },
    metrics::Metrics,
};
use packetguard_common::{
    config::PROGRAM_XDP,
    record::{TCP_ACK, TCP_RST, TCP_SYN},
    Counter, RecordReason,
};

use crate::frames::*;

/// Flows pushed through the 64-entry table.
const FLOWS: u16 = 600;
/// The ring buffer is drained after every this many flows.
const DRAIN_EVERY: u16 = 50;

/// The frames of flow `i`, from its own client port: a TCP connection reset after one
/// exchange (the reset cuts a kernel record), one UDP packet, or two.
fn flow(i: u16) -> Vec<Vec<u8>> {
    let port = 10_000 + i;
    let udp = |len: usize| {
        Frame::eth(&[], ETH_IPV4)
            .ipv4(17, V4_A, V4_B, &[], 0, 8 + len)
            .udp(port, 53, len)
            .0
    };
    match i % 3 {
        0 => vec![
            tcp_v4(V4_A, V4_B, port, 80, TCP_SYN, 0),
            tcp_v4(V4_A, V4_B, port, 80, TCP_ACK, 100),
            tcp_v4(V4_A, V4_B, port, 80, TCP_RST | TCP_ACK, 0),
        ],
        1 => vec![udp(30)],
        _ => vec![udp(30), udp(200)],
    }
}

/// What the ring buffer held: packets per client port in flow records, and how many of
/// each kind of event.
#[derive(Default)]
struct Drained {
    packets: Map<u16, u64>,
    records: u64,
    flow_starts: u64,
    samples: u64,
}

impl Drained {
    fn take(&mut self, ring: &mut RingBuf<MapData>) {
        while let Some(item) = ring.next() {
            match decode(&item).unwrap() {
                Event::Flow(r) => {
                    assert_eq!(
                        r.reason,
                        RecordReason::Reset as u32,
                        "only resets cut records"
                    );
                    self.records += 1;
                    *self.packets.entry(client_port(&r.key)).or_default() += r.stats.packets();
                }
                Event::FlowStart(_) => self.flow_starts += 1,
                Event::Sample(_) => self.samples += 1,
            }
        }
    }
}

/// The client's port of a test flow (the server's is 80 or 53).
fn client_port(key: &packetguard_common::FlowKey) -> u16 {
    key.port_a.max(key.port_b)
}

/// The value of the sample line `series` in the text exposition.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn a_full_flow_table_and_ring_buffer_account_for_every_packet() {
    let mut dp = DataPath::load(&DataPathConfig {
        flow_entries: 64,
        ringbuf_bytes: 4096,
        emit_flow_starts: true,
        sample_every: 1,
        ..DataPathConfig::default()
    })
    .expect("the XDP program loads (needs root)");
    let mut ring: RingBuf<MapData> = dp.take_events().unwrap();
    let mut table = FlowTable::new(dp.take_flows().unwrap());
    let counter_map: PerCpuArray<MapData, u64> = dp.take_counters().unwrap();
    let metrics = Metrics::new().unwrap();
    let read = || -> KernelCounters { counters::read(&counter_map).unwrap() };

    let mut sent: Map<u16, u64> = Map::new();
    let mut drained = Drained::default();
    let mut halfway = None;
    for i in 0..FLOWS {
        let prog = xdp_program(dp.ebpf_mut(), PROGRAM_XDP).unwrap();
        for f in flow(i) {
            prog.test_run(TestRunOptions {
                data_in: Some(&f),
                repeat: 1,
                ..Default::default()
            })
            .expect("BPF_PROG_TEST_RUN");
            *sent.entry(10_000 + i).or_default() += 1;
        }
        if (i + 1) % DRAIN_EVERY == 0 {
            drained.take(&mut ring);
        }
        if i == FLOWS / 2 {
            // A scan halfway, as the agent's idle expiry does every second (nothing is
            // idle for an hour), between two readings of the counters: the reading it
            // gives is a lower bound of the final one.
            table.losses(&read());
            table
                .expire_idle(
                    monotonic_ns(),
                    std::time::Duration::from_secs(3600),
                    |_| -> Result<(), packetguard::datapath::DataPathError> {
                        panic!("nothing is idle")
                    },
                )
                .unwrap();
            let k = read();
            let losses = table.losses(&k);
            metrics.set_kernel_totals(&k);
            metrics.set_flow_losses(&losses);
            halfway = Some(losses);
        }
    }
    drained.take(&mut ring);

    // The agent's final export, then the settled account.
    let mut exported: Map<u16, u64> = Map::new();
    let mut removed = 0u64;
    table
        .export_all(|r| {
            removed += 1;
            if let Some(rec) = r.record {
                assert_eq!(rec.reason, RecordReason::Shutdown as u32);
                *exported.entry(client_port(&rec.key)).or_default() += rec.stats.packets();
            }
            Ok::<(), packetguard::datapath::DataPathError>(())
        })
        .unwrap();
    let k = read();
    let losses = table.losses_settled(&k);
    metrics.set_kernel_totals(&k);
    metrics.set_flow_losses(&losses);

    // Each test flow's packets are back to back, so no flow lost its entry between two of
    // its packets: one entry per flow, and whatever is in no record was evicted.
    let total: u64 = sent.values().sum();
    assert_eq!(k.get(Counter::FlowsCreated), FLOWS as u64);
    assert_eq!(k.get(Counter::Packets), total);
    let found =
        |port: &u16| drained.packets.get(port).unwrap_or(&0) + exported.get(port).unwrap_or(&0);
    let missing: u64 = sent.iter().map(|(port, n)| n - found(port)).sum();
    let in_records: u64 = drained.packets.values().chain(exported.values()).sum();
    assert_eq!(in_records + missing, total);
    assert_eq!(
        (losses.evicted_flows, losses.evicted_packets),
        (FLOWS as u64 - removed, missing),
        "every flow the agent did not remove was evicted, with what no record holds"
    );
    assert!(
        losses.evicted_flows > 0 && losses.evicted_packets > 0,
        "600 flows do not fit 64 entries"
    );
    let halfway = halfway.unwrap();
    assert!(
        halfway.evicted_flows > 0
            && halfway.evicted_flows <= losses.evicted_flows
            && halfway.evicted_packets <= losses.evicted_packets,
        "{halfway:?} then {losses:?}"
    );

    // Refused flow records were delayed: each reset flow is in a kernel record, or its
    // reset was delayed and its packets stayed for the agent (or the LRU).
    let resets = (0..FLOWS).filter(|i| i % 3 == 0).count() as u64;
    let delayed = k.get(Counter::RecordsDelayed);
    assert_eq!(drained.records + delayed, resets);
    assert!(delayed > 0, "a 4096-byte ring buffer holds 17 records");
    assert_eq!(k.get(Counter::RecordsEmitted), drained.records);
    assert_eq!(
        k.get(Counter::RecordedPackets),
        drained.packets.values().sum::<u64>()
    );
    // Refused flow starts and samples are lost: one start per flow, one sample per packet.
    let lost = k.get(Counter::RingbufLost);
    assert_eq!(
        lost,
        (FLOWS as u64 - drained.flow_starts) + (total - drained.samples)
    );
    assert!(drained.flow_starts > 0 && drained.samples > 0 && lost > 0);

    eprintln!(
        "{total} packets in {FLOWS} flows: {in_records} in records, {missing} in {} evicted \
         flows (halfway: {halfway:?}); {delayed} records delayed, {lost} starts and samples lost",
        losses.evicted_flows
    );
    let text = metrics.render().unwrap();
    for (series, value) in [
        (
            "packetguard_flow_table_evictions_total",
            losses.evicted_flows,
        ),
        ("packetguard_flow_table_evicted_packets_total", missing),
        ("packetguard_ringbuf_delayed_total", delayed),
        ("packetguard_ringbuf_lost_total", lost),
        (
            r#"packetguard_ringbuf_emitted_total{kind="flow"}"#,
            drained.records,
        ),
        (
            r#"packetguard_ringbuf_emitted_total{kind="flow_start"}"#,
            drained.flow_starts,
        ),
        (
            r#"packetguard_ringbuf_emitted_total{kind="sample"}"#,
            drained.samples,
        ),
        ("packetguard_packets_total", total),
    ] {
        assert_eq!(metric(&text, series), value, "{series}");
    }
}
