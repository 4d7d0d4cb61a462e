//! Structure-aware packet fuzzing through the real programs: generated frames (seeded,
//! see `generate`) run one at a time through `BPF_PROG_TEST_RUN` of the XDP program, and
//! every fifth one through the TC egress program too, and each outcome is compared with a
//! reference reading of the same frame (`reference`, built on etherparse).
//!
//! Asserted for every frame: the program lets it pass; on egress it gets the outcome it
//! got on ingress; when the reference accepts the frame, the kernel's outcome is the
//! reference's (the same flow key, or non-IP, or a parse error); the offline parser
//! (`packetguard::capture::parse`) reads it as the kernel did, flow start and one-packet
//! flow included (`crate::offline_parser::check`). Asserted at the end:
//! the kernel counted every frame exactly once, `packets = parse errors + non-IP +
//! packets accounted to flows` (in flow entries or in records emitted), with no flow
//! insert refused and no ring buffer reservation lost.
//!
//! One frame at a time: after each frame the flow it created (announced by a flow-start
//! event) is read and removed, so the flow map is empty before the next frame and every
//! frame of a flow starts one. That costs two map syscalls per frame; 100,000 frames take
//! a few seconds. The run stops after 100,000 frames or 60 s, whichever comes first, and
//! must reach 20,000 frames. `PACKETGUARD_FUZZ_SEED` replays another seed.

pub mod generate;
pub mod reference;

use std::time::{Duration, Instant};

use aya::{
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::{TestRun, TestRunOptions},
};
use packetguard::datapath::{
    counters,
    drain::{decode, Event},
    xdp_program, DataPath, DataPathConfig,
};
use packetguard_common::{config::PROGRAM_XDP, Counter, FlowEntry, FlowKey, FlowStart, FlowStats};

use self::{
    generate::{Generator, Shape},
    reference::Expected,
};
use crate::parser::{TC_ACT_UNSPEC, XDP_PASS};

const FRAMES: u64 = 100_000;
const TIME_LIMIT: Duration = Duration::from_secs(60);
const MIN_FRAMES: u64 = 20_000;
/// Every this many frames also run through the egress program.
const EGRESS_EVERY: u64 = 5;
const DEFAULT_SEED: u64 = 0x005e_ed0f_f4a9;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Ingress,
    Egress,
}

/// The loaded programs and the maps the runner reads.
pub struct Runner {
    dp: DataPath,
    flows: HashMap<MapData, FlowKey, FlowEntry>,
    counters: PerCpuArray<MapData, u64>,
    ring: RingBuf<MapData>,
    /// Packets found in flow entries and flow records, summed over the frames.
    accounted: u64,
    egress_runs: u64,
    /// The flow start and the one-packet flow of the latest frame that made a flow (from
    /// its record if the packet cut one, else from the flow map).
    pub last_flow: Option<(FlowStart, FlowStats)>,
}

impl Runner {
    pub fn new() -> Runner {
        let mut dp = DataPath::load(&DataPathConfig {
            emit_flow_starts: true,
            ..DataPathConfig::default()
        })
        .expect("the programs load (needs root)");
        dp.load_egress().expect("the TC program loads");
        Runner {
            flows: dp.take_flows().unwrap(),
            counters: dp.take_counters().unwrap(),
            ring: dp.take_events().unwrap(),
            dp,
            accounted: 0,
            egress_runs: 0,
            last_flow: None,
        }
    }

    fn counter(&self, c: Counter) -> u64 {
        self.counters
            .get(&(c as u32), 0)
            .unwrap()
            .iter()
            .sum::<u64>()
    }

    /// Runs `frame` through one program and reads what became of it; `None` when the
    /// kernel refused to run the egress program on it ([`refused_by_skb_test_run`]).
    pub fn run(&mut self, hook: Hook, frame: &[u8]) -> Option<Expected> {
        let opts = TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        };
        let (non_ip, errors) = (
            self.counter(Counter::NonIp),
            self.counter(Counter::ParseErrors),
        );
        match hook {
            Hook::Ingress => {
                let prog = xdp_program(self.dp.ebpf_mut(), PROGRAM_XDP).unwrap();
                let res = prog.test_run(opts).expect("BPF_PROG_TEST_RUN (XDP)");
                assert_eq!(res.return_value, XDP_PASS, "XDP_PASS for {}", hex(frame));
            }
            Hook::Egress => {
                let prog = self.dp.load_egress().unwrap();
                match prog.test_run(opts) {
                    Ok(res) => {
                        assert_eq!(res.return_value, TC_ACT_UNSPEC, "TC for {}", hex(frame))
                    }
                    // The skb test run refuses, before running anything, a frame whose
                    // outer EtherType is IPv4 or IPv6 and which is shorter than that IP
                    // header: it looks at the header itself. Nothing was counted.
                    Err(e) if refused_by_skb_test_run(frame) => {
                        assert!(format!("{e:?}").contains("InvalidInput"), "{e:?}");
                        return None;
                    }
                    Err(e) => panic!("BPF_PROG_TEST_RUN (TC): {e:?} for {}", hex(frame)),
                }
                self.egress_runs += 1;
            }
        }
        let mut started = None;
        let mut recorded = 0;
        let mut record = None;
        while let Some(item) = self.ring.next() {
            match decode(&item).unwrap() {
                Event::FlowStart(s) => assert!(started.replace(*s).is_none(), "one start"),
                Event::Flow(r) => {
                    recorded += r.stats.packets();
                    record = Some(r.stats);
                }
                Event::Sample(_) => panic!("sampling is off"),
            }
        }
        self.last_flow = None;
        if let Some(start) = started {
            let key = start.key;
            let entry = self.flows.get(&key, 0).expect("the new flow is in the map");
            self.last_flow = Some((start, record.unwrap_or(entry.stats)));
            let packets = entry.stats.packets() + recorded;
            assert_eq!(
                packets,
                1,
                "the frame is one packet of its flow: {}",
                hex(frame)
            );
            self.accounted += packets;
            self.flows.remove(&key).unwrap();
            return Some(Expected::Flow(key));
        }
        assert_eq!(recorded, 0, "no record without a flow");
        let non_ip = self.counter(Counter::NonIp) - non_ip;
        let errors = self.counter(Counter::ParseErrors) - errors;
        match (non_ip, errors) {
            (1, 0) => Some(Expected::NonIp),
            (0, 1) => Some(Expected::ParseError),
            other => panic!(
                "frame neither in a flow nor counted once: {other:?}, {}",
                hex(frame)
            ),
        }
    }
}

/// True for the frames `BPF_PROG_TEST_RUN` of an skb program refuses (`EINVAL`): an
/// untagged IPv4 frame shorter than 14 + 20 bytes, an IPv6 one shorter than 14 + 40.
fn refused_by_skb_test_run(frame: &[u8]) -> bool {
    match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0800 => frame.len() < 34,
        0x86DD => frame.len() < 54,
        _ => false,
    }
}

fn hex(frame: &[u8]) -> String {
    frame.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the run covered, to show it is not vacuous.
#[derive(Debug, Default)]
struct Coverage {
    frames: u64,
    /// Frames the reference accepted and whose outcome was compared, by outcome.
    flows: u64,
    non_ip: u64,
    parse_errors: u64,
    /// Frames the reference did not accept.
    unjudged: u64,
    tails: u64,
    short_first: u64,
    long_chains: u64,
    three_tags: u64,
    truncated: u64,
    flipped: u64,
}

impl Coverage {
    fn count(&mut self, shape: &Shape, expected: Option<Expected>) {
        self.frames += 1;
        match expected {
            Some(Expected::Flow(_)) => self.flows += 1,
            Some(Expected::NonIp) => self.non_ip += 1,
            Some(Expected::ParseError) => self.parse_errors += 1,
            None => self.unjudged += 1,
        }
        self.tails += shape.tail as u64;
        self.short_first += shape.short_first as u64;
        self.long_chains += (shape.ipv6_exts > 6) as u64;
        self.three_tags += (shape.vlans == 3) as u64;
        self.truncated += shape.truncated as u64;
        self.flipped += shape.flipped as u64;
    }
}

#[test]
fn generated_frames_through_both_programs_match_the_reference_parser() {
    let seed = std::env::var("PACKETGUARD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut generator = Generator::new(seed);
    let mut runner = Runner::new();
    let mut coverage = Coverage::default();
    let mut mismatches = Vec::new();
    let mut mismatched = 0u64;
    let mut offline_mismatches = Vec::new();
    let mut offline_mismatched = 0u64;
    let started = Instant::now();
    while coverage.frames < FRAMES && started.elapsed() < TIME_LIMIT {
        let index = coverage.frames;
        let (frame, shape) = generator.frame();
        let expected = reference::expected(&frame);
        let got = runner
            .run(Hook::Ingress, &frame)
            .expect("XDP runs every frame");
        if let Err(m) = crate::offline_parser::check(&frame, got, runner.last_flow) {
            offline_mismatched += 1;
            if offline_mismatches.len() < 20 {
                offline_mismatches.push(format!("frame {index} ({shape:?}): {m}"));
            }
        }
        if let Some(want) = expected {
            if got != want {
                mismatched += 1;
                if mismatches.len() < 20 {
                    mismatches.push(format!(
                        "frame {index} ({shape:?}): kernel {got:?}, reference {want:?}: {}",
                        hex(&frame)
                    ));
                }
            }
        }
        if index % EGRESS_EVERY == 0 {
            if let Some(egress) = runner.run(Hook::Egress, &frame) {
                assert_eq!(
                    egress,
                    got,
                    "egress and ingress differ, frame {index}: {}",
                    hex(&frame)
                );
            }
        }
        coverage.count(&shape, expected);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "seed {seed:#x}, {elapsed:.1?}: {coverage:?}, {} also through egress",
        runner.egress_runs
    );
    assert!(
        mismatches.is_empty(),
        "seed {seed:#x}: {mismatched} frames differ from the reference; the first:\n{}",
        mismatches.join("\n")
    );

    assert!(
        offline_mismatches.is_empty(),
        "seed {seed:#x}: the offline parser reads {offline_mismatched} frames differently from the kernel; the first:\n{}",
        offline_mismatches.join("\n")
    );

    // Not vacuous: enough frames, most of them judged, every shape present.
    let c = &coverage;
    assert!(
        c.frames >= MIN_FRAMES,
        "only {} frames in {elapsed:?}",
        c.frames
    );
    assert!(c.flows * 4 >= c.frames, "flows compared: {c:?}");
    for (what, n) in [
        ("non-IP", c.non_ip),
        ("parse errors", c.parse_errors),
        ("tails", c.tails),
        ("short first fragments", c.short_first),
        ("chains over the limit", c.long_chains),
        ("three tags", c.three_tags),
        ("truncated", c.truncated),
        ("flipped", c.flipped),
    ] {
        assert!(n * 200 >= c.frames, "too few {what}: {c:?}");
    }

    assert!(
        runner.egress_runs * EGRESS_EVERY * 10 >= c.frames * 8,
        "egress ran {} frames",
        runner.egress_runs
    );

    // Every frame counted once, by both programs together.
    let k = counters::read(&runner.counters).unwrap();
    let runs = c.frames + runner.egress_runs;
    assert_eq!(k.get(Counter::Packets), runs);
    assert_eq!(k.get(Counter::EgressPackets), runner.egress_runs);
    assert_eq!(
        k.get(Counter::Packets),
        k.get(Counter::ParseErrors) + k.get(Counter::NonIp) + runner.accounted,
        "packets = parse errors + non-IP + packets accounted to flows: {:?}",
        k.iter().collect::<Vec<_>>()
    );
    assert_eq!(k.get(Counter::FlowInsertFailed), 0);
    assert_eq!(k.get(Counter::RingbufLost), 0);
    assert!(k.get(Counter::ShortFirstFragments) > 0 && k.get(Counter::Fragments) > 0);
    assert_eq!(
        runner.flows.keys().count(),
        0,
        "every flow was read and removed"
    );
}
