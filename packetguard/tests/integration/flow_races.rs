//! Two CPUs on one flow at once, through `BPF_PROG_TEST_RUN`: one thread pinned to each
//! CPU drives one direction of the same TCP flow (FINs, resets, a new SYN after each end,
//! and an active timeout of 1 ns, so nearly every packet cuts a record) while the main
//! thread drains the ring buffer and reads the destination map. Whatever the
//! interleaving, every packet is in exactly one record or still in the flow map, no
//! counter wraps, no record is cut twice, every record describes packets it saw, and a
//! host's totals never go back.
//!
//! aya 0.14 exposes neither the test run's `cpu` nor `BPF_F_TEST_RUN_ON_CPU` (the kernel
//! takes those for raw tracepoints only); an XDP test run with flags 0 runs on the CPU of
//! the calling thread, so each thread is pinned with `sched_setaffinity`, and the per-CPU
//! packet counters prove each thread's packets ran on its own CPU.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Barrier,
    },
    time::Duration,
};

use aya::{
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::{TestRun, TestRunOptions, Xdp},
};
use packetguard::datapath::{
    drain::{decode, Event},
    flow_table::FlowTable,
    hosts::HostTable,
    xdp_program, DataPath, DataPathConfig,
};
use packetguard_common::{
    config::PROGRAM_XDP,
    record::{TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN},
    Counter, FlowEntry, FlowKey, FlowRecord, HostStats,
};

use crate::{
    frames::*,
    host_credit::{host, totals},
};

/// Packets each thread sends.
const ROUNDS: usize = 40_000;

/// The two CPUs the threads are pinned to: the first two this process may run on.
fn two_cpus() -> [usize; 2] {
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity");
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    assert!(cpus.len() >= 2, "this test needs two CPUs, has {cpus:?}");
    [cpus[0], cpus[1]]
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(rc, 0, "sched_setaffinity to CPU {cpu}");
}

fn run(prog: &Xdp, frame: &[u8]) {
    prog.test_run(TestRunOptions {
        data_in: Some(frame),
        repeat: 1,
        ..Default::default()
    })
    .expect("BPF_PROG_TEST_RUN");
}

/// What one direction sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sent {
    packets: u64,
    bytes: u64,
}

/// Sends `ROUNDS` packets cycling through `frames` (the first of them once more before
/// the barrier when `opens`, so the flow's forward direction is this one's).
fn drive(prog: &Xdp, cpu: usize, frames: &[Vec<u8>], opens: bool, start: &Barrier) -> Sent {
    pin(cpu);
    let mut sent = Sent::default();
    let mut send = |f: &Vec<u8>| {
        run(prog, f);
        sent.packets += 1;
        sent.bytes += f.len() as u64;
    };
    if opens {
        send(&frames[0]);
    }
    start.wait();
    for f in frames.iter().cycle().take(ROUNDS) {
        send(f);
    }
    sent
}

/// Checks one record on its own; returns its packets per direction.
fn check_record(rec: &FlowRecord, limit: &[Sent; 2]) -> [Sent; 2] {
    let s = &rec.stats;
    assert!(s.packets() >= 1, "a record with no packet: {rec:?}");
    assert_ne!(
        s.first_seen_ns, 0,
        "a record without a first packet: {rec:?}"
    );
    assert!(s.first_seen_ns <= s.last_seen_ns, "{rec:?}");
    assert_ne!(s.len_min, u32::MAX, "a record without a length: {rec:?}");
    let got = [
        Sent {
            packets: s.fwd_packets,
            bytes: s.fwd_bytes,
        },
        Sent {
            packets: s.bwd_packets,
            bytes: s.bwd_bytes,
        },
    ];
    for (g, l) in got.iter().zip(limit) {
        assert!(
            g.packets <= l.packets && g.bytes <= l.bytes,
            "a wrapped counter: {rec:?}"
        );
    }
    got
}

fn add(total: &mut [Sent; 2], got: [Sent; 2]) {
    for (t, g) in total.iter_mut().zip(got) {
        t.packets += g.packets;
        t.bytes += g.bytes;
    }
}

/// Asserts that no field of `now` is below the same field of `before`.
fn never_back(before: &HostStats, now: &HostStats, what: &str) {
    assert!(
        now.packets >= before.packets
            && now.bytes >= before.bytes
            && now.tcp_packets >= before.tcp_packets
            && now.syn_without_ack >= before.syn_without_ack,
        "{what}'s totals went back: {before:?} then {now:?}"
    );
}

#[test]
fn a_flow_cut_on_two_cpus_at_once_counts_every_packet_once() {
    let cpus = two_cpus();
    let mut dp = DataPath::load(&DataPathConfig {
        active_timeout: Duration::from_nanos(1),
        ..DataPathConfig::default()
    })
    .expect("the XDP program loads (needs root)");
    let mut ring: RingBuf<MapData> = dp.take_events().unwrap();
    let flows: HashMap<MapData, FlowKey, FlowEntry> = dp.take_flows().unwrap();
    let counters: PerCpuArray<MapData, u64> = dp.take_counters().unwrap();
    let mut hosts = HostTable::new(dp.take_hosts().unwrap()).unwrap();

    let (client, server) = (V4_A, V4_B);
    let to_server = [
        tcp_v4(client, server, 40000, 80, TCP_SYN, 0),
        tcp_v4(client, server, 40000, 80, TCP_ACK | TCP_PSH, 300),
        tcp_v4(client, server, 40000, 80, TCP_ACK, 0),
        tcp_v4(client, server, 40000, 80, TCP_FIN | TCP_ACK, 0),
    ];
    let to_client = [
        tcp_v4(server, client, 80, 40000, TCP_SYN | TCP_ACK, 0),
        tcp_v4(server, client, 80, 40000, TCP_ACK | TCP_PSH, 1200),
        tcp_v4(server, client, 80, 40000, TCP_RST | TCP_ACK, 0),
        tcp_v4(server, client, 80, 40000, TCP_ACK, 40),
        tcp_v4(server, client, 80, 40000, TCP_FIN | TCP_ACK, 0),
    ];
    // Far above what either direction sends, far below a wrapped counter.
    let limit = [Sent {
        packets: 2 * ROUNDS as u64,
        bytes: 2000 * ROUNDS as u64,
    }; 2];

    let prog = xdp_program(dp.ebpf_mut(), PROGRAM_XDP).unwrap();
    let prog: &Xdp = prog;
    let start = Barrier::new(2);
    let done = AtomicUsize::new(0);
    let mut recorded = [Sent::default(); 2];
    let mut records = 0u64;
    // Per flow instance (its first packet's time), the index of each of its records.
    let mut indices: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    let mut readings = 0u64;
    let (mut last_server, mut last_client) = (HostStats::default(), HostStats::default());
    let [fwd, bwd] = std::thread::scope(|s| {
        let fwd = s.spawn(|| {
            let sent = drive(prog, cpus[0], &to_server, true, &start);
            done.fetch_add(1, Ordering::Release);
            sent
        });
        let bwd = s.spawn(|| {
            let sent = drive(prog, cpus[1], &to_client, false, &start);
            done.fetch_add(1, Ordering::Release);
            sent
        });
        // Drain and read while both CPUs run the program, then once more after.
        loop {
            let finished = done.load(Ordering::Acquire) == 2;
            while let Some(item) = ring.next() {
                match decode(&item).unwrap() {
                    Event::Flow(rec) => {
                        records += 1;
                        add(&mut recorded, check_record(rec, &limit));
                        let s = &rec.stats;
                        indices.entry(s.flow_start_ns).or_default().push(s.records);
                    }
                    other => panic!("only flow records are on: {other:?}"),
                }
            }
            let (srv, cli) = (
                totals(&mut hosts, host(server)),
                totals(&mut hosts, host(client)),
            );
            never_back(&last_server, &srv, "the server");
            never_back(&last_client, &cli, "the client");
            (last_server, last_client) = (srv, cli);
            readings += 1;
            if finished {
                break;
            }
        }
        [fwd.join().unwrap(), bwd.join().unwrap()]
    });

    // The per-CPU counters: each thread's packets ran on its own CPU.
    let per_cpu = counters.get(&(Counter::Packets as u32), 0).unwrap();
    assert_eq!(
        (per_cpu[cpus[0]], per_cpu[cpus[1]]),
        (fwd.packets, bwd.packets),
        "the kernel ran each test run on the CPU its thread is pinned to"
    );
    let busy = counters.get(&(Counter::FlowsReused as u32), 0).unwrap();
    eprintln!(
        "{records} records, {readings} host readings; cuts and credits that found the flow \
         held by the other CPU: {}",
        busy.iter().sum::<u64>()
    );

    // What the map still holds, read the way the agent removes it.
    let entries: Vec<(FlowKey, FlowEntry)> = flows.iter().map(|r| r.unwrap()).collect();
    assert_eq!(entries.len(), 1, "one flow: {entries:?}");
    let (key, entry) = entries[0];
    let [(to_server_host, owed_server), (to_client_host, owed_client)] =
        entry.uncredited_hosts(&key);
    assert_eq!(
        (to_server_host, to_client_host),
        (host(server), host(client))
    );
    let mut table = FlowTable::new(flows);
    let mut left = [Sent::default(); 2];
    table
        .export_all(|r| {
            if let Some(rec) = r.record {
                add(&mut left, check_record(&rec, &limit));
                let s = &rec.stats;
                indices.entry(s.flow_start_ns).or_default().push(s.records);
            }
            Ok::<(), packetguard::datapath::DataPathError>(())
        })
        .unwrap();

    // Each instance's records were cut one after the other: indices 0, 1, 2, ... each once.
    // A record cut on both CPUs at once would repeat an index.
    for (start, mut seen) in indices {
        seen.sort_unstable();
        let expected: Vec<u32> = (0..seen.len() as u32).collect();
        assert_eq!(seen, expected, "the records of the flow started at {start}");
    }

    let mut all = recorded;
    add(&mut all, left);
    assert_eq!(
        all,
        [fwd, bwd],
        "records ({recorded:?}) plus the map ({left:?}) hold every packet once"
    );
    let counted = |h: HostStats, owed: HostStats| Sent {
        packets: h.packets + owed.packets,
        bytes: h.bytes + owed.bytes,
    };
    assert_eq!(
        counted(last_server, owed_server),
        fwd,
        "the server's total plus what the flow owes it"
    );
    assert_eq!(
        counted(last_client, owed_client),
        bwd,
        "the client's total plus what the flow owes it"
    );
}
