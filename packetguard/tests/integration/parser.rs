//! The XDP parser on crafted frames through `BPF_PROG_TEST_RUN`: the real program in the
//! kernel, no interface needed.

use aya::{
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::{TestRun, TestRunOptions},
};
use packetguard::{
    datapath::{counters, xdp_program, DataPath, DataPathConfig},
    flows::Endpoints,
};
use packetguard_common::{config::PROGRAM_XDP, Counter, FlowEntry, FlowKey, FlowStats, RecordKind};

use crate::frames::*;

pub const XDP_PASS: u32 = 2;
/// `TC_ACT_UNSPEC` (-1) as the test run reports it.
pub const TC_ACT_UNSPEC: u32 = u32::MAX;

pub struct Harness {
    pub dp: DataPath,
    flows: HashMap<MapData, FlowKey, FlowEntry>,
    counters: PerCpuArray<MapData, u64>,
}

impl Harness {
    pub fn new(cfg: DataPathConfig) -> Harness {
        let mut dp = DataPath::load(&cfg).expect("the XDP program loads (needs root)");
        let flows = dp.take_flows().unwrap();
        let counters = dp.take_counters().unwrap();
        Harness {
            dp,
            flows,
            counters,
        }
    }

    /// Runs the egress (TC) program once on `frame`; asserts it let the frame go on.
    pub fn run_egress(&mut self, frame: &[u8]) {
        let prog = self.dp.load_egress().expect("the TC program loads");
        let opts = TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        };
        let res = prog.test_run(opts).expect("BPF_PROG_TEST_RUN");
        assert_eq!(
            res.return_value,
            TC_ACT_UNSPEC,
            "TC_ACT_UNSPEC for a {}-byte frame",
            frame.len()
        );
    }

    /// Runs the program once (or `repeat` times) on `frame`; asserts it passed the frame.
    pub fn run(&mut self, frame: &[u8], repeat: u32) {
        let prog = xdp_program(self.dp.ebpf_mut(), PROGRAM_XDP).unwrap();
        let opts = TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        };
        let res = prog.test_run(opts).expect("BPF_PROG_TEST_RUN");
        assert_eq!(
            res.return_value,
            XDP_PASS,
            "XDP_PASS for a {}-byte frame",
            frame.len()
        );
    }

    pub fn counter(&self, c: Counter) -> u64 {
        counters::read(&self.counters).unwrap().get(c)
    }

    pub fn flows(&self) -> Vec<(FlowKey, FlowStats)> {
        self.entries()
            .into_iter()
            .map(|(k, e)| (k, e.stats))
            .collect()
    }

    /// The flow map's entries, with their host credit marks.
    pub fn entries(&self) -> Vec<(FlowKey, FlowEntry)> {
        self.flows.iter().map(|r| r.unwrap()).collect()
    }

    fn only_flow(&self) -> (Endpoints, FlowStats) {
        let flows = self.flows();
        assert_eq!(flows.len(), 1, "exactly one flow: {flows:?}");
        let (k, s) = flows[0];
        (Endpoints::of(&k, s.fwd_is_a), s)
    }
}

pub fn harness() -> Harness {
    Harness::new(DataPathConfig::default())
}

#[test]
fn single_vlan_and_qinq_tagged_tcp_are_parsed_to_ports() {
    for vlans in [
        &[(0x8100u16, 10u16)][..],
        &[(0x88a8, 100), (0x8100, 10)][..],
    ] {
        let mut h = harness();
        let f = Frame::eth(vlans, ETH_IPV4)
            .ipv4(6, V4_A, V4_B, &[], 0, 20 + 10)
            .tcp(40000, 443, 0x02, 10);
        h.run(&f.0, 1);
        let (e, s) = h.only_flow();
        assert_eq!(
            (e.src.to_string().as_str(), e.src_port, e.dst_port),
            ("192.0.2.10", 40000, 443)
        );
        assert_eq!(s.fwd_packets, 1);
        assert_eq!(
            s.fwd_bytes,
            f.0.len() as u64,
            "frame bytes include the VLAN tags"
        );
        assert_eq!(s.payload_packets, 1);
        assert_eq!(s.tcp_flag_counts[1], 1, "SYN");
        assert_eq!(h.counter(Counter::ParseErrors), 0);
    }
}

#[test]
fn ipv4_options_are_skipped_by_ihl() {
    let mut h = harness();
    let opts = [0x01, 0x01, 0x01, 0x00, 0x44, 0x0c, 0x05, 0x00, 0, 0, 0, 0];
    let f = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_A, V4_B, &opts, 0, 8 + 5)
        .udp(5353, 53, 5);
    h.run(&f.0, 1);
    let (e, s) = h.only_flow();
    assert_eq!((e.src_port, e.dst_port, e.protocol), (5353, 53, 17));
    assert_eq!(s.ttl_min, 64);
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let mut h = harness();
    // hop-by-hop (8) -> routing (16) -> destination options (8) -> TCP.
    let f = Frame::eth(&[], ETH_IPV6)
        .ipv6(0, V6_A, V6_B, 8 + 16 + 8 + 20)
        .ext(43, 0)
        .ext(60, 1)
        .ext(6, 0)
        .tcp(50000, 22, 0x18, 0);
    h.run(&f.0, 1);
    let (e, s) = h.only_flow();
    assert_eq!(
        (
            e.src.to_string().as_str(),
            e.src_port,
            e.dst_port,
            e.protocol
        ),
        ("2001:db8::a", 50000, 22, 6)
    );
    assert_eq!(s.ttl_max, 55, "hop limit");
    assert_eq!(s.payload_packets, 0, "extension headers are not payload");
}

#[test]
fn fragments_first_with_ports_and_the_rest_on_the_l3_flow() {
    let mut h = harness();
    let first = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_A, V4_B, &[], 0x2000, 8 + 100)
        .udp(7000, 7001, 100);
    let tail = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_A, V4_B, &[], 14, 60)
        .bytes(&[0; 60]);
    let first6 = Frame::eth(&[], ETH_IPV6)
        .ipv6(44, V6_A, V6_B, 8 + 8 + 32)
        .frag6(17, 0, true)
        .udp(7000, 7001, 32);
    let tail6 = Frame::eth(&[], ETH_IPV6)
        .ipv6(44, V6_A, V6_B, 8 + 40)
        .frag6(17, 5, false)
        .bytes(&[0; 40]);
    for f in [&first, &tail, &first6, &tail6] {
        h.run(&f.0, 1);
    }
    let mut ports: Vec<(u8, u16, u16, u64)> = h
        .flows()
        .iter()
        .map(|(k, s)| (k.ip_version, k.port_a, k.port_b, s.fwd_packets))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![
            (4, 0, 0, 1),
            (4, 7000, 7001, 1),
            (6, 0, 0, 1),
            (6, 7000, 7001, 1)
        ]
    );
    assert_eq!(h.counter(Counter::Fragments), 2);
    assert_eq!(h.counter(Counter::ParseErrors), 0);
}

#[test]
fn tcp_ipv6_frame_cut_at_every_offset_passes_and_counts_parse_errors_exactly() {
    let full = Frame::eth(&[], ETH_IPV6)
        .ipv6(6, V6_A, V6_B, 20 + 16)
        .tcp(40000, 80, 0x10, 16)
        .0;
    let headers = 14 + 40 + 20;
    let mut h = harness();
    // The kernel refuses test runs on frames shorter than an Ethernet header; from there on
    // every cut is run.
    let mut expected_errors = 0;
    let mut expected_packets = 0;
    for cut in 14..=full.len() {
        h.run(&full[..cut], 1);
        if cut < headers {
            expected_errors += 1;
        } else {
            expected_packets += 1;
        }
        assert_eq!(
            h.counter(Counter::ParseErrors),
            expected_errors,
            "cut at {cut}"
        );
    }
    assert_eq!(h.counter(Counter::Packets), (full.len() - 14 + 1) as u64);
    let (_, s) = h.only_flow();
    assert_eq!(s.fwd_packets, expected_packets);
}

#[test]
fn non_ip_frames_are_counted_and_passed() {
    let mut h = harness();
    let arp = Frame::eth(&[], 0x0806).bytes(&[0; 28]);
    h.run(&arp.0, 3);
    assert_eq!(h.counter(Counter::NonIp), 3);
    assert_eq!(h.counter(Counter::Packets), 3);
    assert!(h.flows().is_empty());
}

#[test]
fn one_in_k_sampling_and_active_timeout_records_reach_the_ring_buffer() {
    let mut h = Harness::new(DataPathConfig {
        sample_every: 3,
        active_timeout: std::time::Duration::from_nanos(1),
        ..DataPathConfig::default()
    });
    let mut ring: RingBuf<MapData> = h.dp.take_events().unwrap();
    let f = Frame::eth(&[], ETH_IPV4)
        .ipv4(6, V4_A, V4_B, &[], 0, 20)
        .tcp(1234, 80, 0x10, 0);
    h.run(&f.0, 10);
    let (mut samples, mut records, mut packets) = (0, 0, 0);
    while let Some(item) = ring.next() {
        match packetguard::datapath::drain::decode(&item).unwrap() {
            packetguard::datapath::drain::Event::Sample(s) => {
                samples += 1;
                assert_eq!(s.len, f.0.len() as u32);
            }
            packetguard::datapath::drain::Event::Flow(r) => {
                records += 1;
                packets += r.stats.packets();
                assert_eq!(r.kind, RecordKind::Flow as u32);
            }
            packetguard::datapath::drain::Event::FlowStart(_) => panic!("flow starts are off"),
        }
    }
    assert_eq!(samples, 3, "packets 3, 6 and 9 of 10");
    // With a 1 ns active timeout an interval closes on its second packet (the first packet
    // of an interval starts its clock): 10 packets, 5 records, nothing left over.
    let (_, left) = h.only_flow();
    assert_eq!(
        packets + left.packets(),
        10,
        "every packet in exactly one record"
    );
    assert_eq!((records, left.packets()), (5, 0));
}
