//! The offline parser (`packetguard::capture::parse`) against the kernel's: crafted frames,
//! every truncation of them, and (from the fuzz test) every generated frame run through
//! the XDP program with `BPF_PROG_TEST_RUN` give the same outcome offline: the same flow
//! key, or non-IP, or a parse error, and for a flow the same flow start and the same
//! one-packet flow statistics (lengths, flags, window, TTL, payload, direction).

use packetguard::capture::parse::{parse, Parsed};
use packetguard_common::{FlowStart, FlowStats};

use crate::{
    frames::*,
    fuzz::{reference::Expected, Hook, Runner},
};

/// The flow statistics without the times (the kernel's clock against none).
fn timeless(mut s: FlowStats) -> FlowStats {
    s.flow_start_ns = 0;
    s.first_seen_ns = 0;
    s.last_seen_ns = 0;
    s
}

/// Compares the offline parser's reading of `frame` with what the kernel made of it
/// (`kernel`, and `flow`: its flow start and one-packet flow when it made a flow).
pub fn check(
    frame: &[u8],
    kernel: Expected,
    flow: Option<(FlowStart, FlowStats)>,
) -> Result<(), String> {
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    let offline = parse(frame, frame.len() as u32);
    match (kernel, offline) {
        (Expected::NonIp, Ok(Parsed::NonIp)) | (Expected::ParseError, Err(_)) => Ok(()),
        (Expected::Flow(key), Ok(Parsed::Flow(pkt))) => {
            let (start, kstats) = flow.ok_or("the kernel made a flow without a start")?;
            if pkt.key != key {
                return Err(format!(
                    "key {:?} offline, {key:?} in the kernel: {hex}",
                    pkt.key
                ));
            }
            let got = (
                pkt.meta.len,
                pkt.meta.tcp_flags,
                pkt.src_is_a as u8,
                pkt.meta.attempt,
            );
            let want = (start.len, start.tcp_flags, start.fwd_is_a, start.attempt);
            if got != want {
                return Err(format!(
                    "start {got:?} offline, {want:?} in the kernel: {hex}"
                ));
            }
            let mut meta = pkt.meta;
            meta.ts_ns = 1;
            let mut stats = FlowStats::new_flow(1, pkt.src_is_a as u8);
            stats.observe(&meta, true);
            stats.count(true, meta.len);
            stats.complete_interval();
            if timeless(stats) != timeless(kstats) {
                return Err(format!(
                    "flow {:?} offline, {:?} in the kernel: {hex}",
                    timeless(stats),
                    timeless(kstats)
                ));
            }
            Ok(())
        }
        (k, o) => Err(format!("kernel {k:?}, offline {o:?}: {hex}")),
    }
}

/// Frames of every shape the parser distinguishes.
fn crafted() -> Vec<Vec<u8>> {
    let v4 =
        |proto, frag, l4: usize| Frame::eth(&[], ETH_IPV4).ipv4(proto, V4_A, V4_B, &[], frag, l4);
    let v6 = |next, len| Frame::eth(&[], ETH_IPV6).ipv6(next, V6_A, V6_B, len);
    let opts = [0x01, 0x01, 0x01, 0x00, 0x44, 0x0c, 0x05, 0x00, 0, 0, 0, 0];
    let mut frames = vec![
        tcp_v4(V4_A, V4_B, 40000, 443, 0x02, 0),
        tcp_v4(V4_B, V4_A, 443, 40000, 0x12, 0),
        tcp_v4(V4_A, V4_B, 40000, 443, 0x18, 64),
        tcp_v4(V4_A, V4_B, 40000, 443, 0x04, 0),
        Frame::eth(&[(0x8100, 10)], ETH_IPV4)
            .ipv4(6, V4_A, V4_B, &[], 0, 30)
            .tcp(1, 2, 0x02, 10)
            .0,
        Frame::eth(&[(0x88a8, 100), (0x8100, 10)], ETH_IPV4)
            .ipv4(17, V4_A, V4_B, &[], 0, 13)
            .udp(1, 2, 5)
            .0,
        Frame::eth(&[(0x88a8, 1), (0x8100, 2), (0x8100, 3)], ETH_IPV4)
            .ipv4(17, V4_A, V4_B, &[], 0, 8)
            .udp(1, 2, 0)
            .0,
        Frame::eth(&[], ETH_IPV4)
            .ipv4(17, V4_A, V4_B, &opts, 0, 13)
            .udp(5353, 53, 5)
            .0,
        v4(1, 0, 16)
            .bytes(&[8, 0, 0, 0, 0, 7, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9])
            .0,
        v4(1, 0, 8).bytes(&[3, 3, 0, 0, 0, 0, 0, 0]).0,
        v4(47, 0, 12).bytes(&[0; 12]).0,
        v4(17, 0x2000, 108).udp(7000, 7001, 100).0,
        v4(17, 14, 60).bytes(&[0; 60]).0,
        // A first fragment cut inside its TCP header: ports only, an attempt.
        v4(6, 0x2000, 8).bytes(&tcp_header(1234, 80, 0x02)[..8]).0,
        v4(6, 0x2000, 2).bytes(&[0x04, 0xd2]).0,
        // Declared IPv4 length beyond the frame, and 0 (the frame's length).
        Frame::eth(&[], ETH_IPV4)
            .ipv4(17, V4_A, V4_B, &[], 0, 500)
            .udp(1, 2, 20)
            .0,
        {
            let mut f = v4(17, 0, 8).udp(1, 2, 0).0;
            f[16] = 0;
            f[17] = 0;
            f
        },
        // Ethernet padding after a short IP packet.
        v4(17, 0, 8).udp(1, 2, 0).bytes(&[0; 18]).0,
        // A total length shorter than the header.
        {
            let mut f = v4(17, 0, 8).udp(1, 2, 0).0;
            f[17] = 10;
            f
        },
        v6(6, 20 + 16).tcp(40000, 80, 0x10, 16).0,
        v6(0, 8 + 16 + 8 + 20)
            .ext(43, 0)
            .ext(60, 1)
            .ext(6, 0)
            .tcp(50000, 22, 0x18, 0)
            .0,
        v6(44, 8 + 8 + 32).frag6(17, 0, true).udp(7000, 7001, 32).0,
        v6(44, 8 + 40).frag6(17, 5, false).bytes(&[0; 40]).0,
        v6(58, 16)
            .bytes(&[128, 0, 0, 0, 0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
            .0,
        Frame::eth(&[], 0x0806).bytes(&[0; 28]).0,
    ];
    // Seven extension headers: one more than the kernel skips.
    let mut long = v6(0, 7 * 8 + 8);
    for _ in 0..6 {
        long = long.ext(60, 0);
    }
    frames.push(long.ext(17, 0).udp(1, 2, 0).0);
    frames
}

#[test]
fn the_offline_parser_reads_every_crafted_frame_and_truncation_as_the_kernel_does() {
    let mut runner = Runner::new();
    let mut mismatches = Vec::new();
    let mut runs = 0;
    let mut outcomes = [0u32; 3];
    for frame in crafted() {
        // The kernel refuses test runs on frames shorter than an Ethernet header.
        for cut in 14..=frame.len() {
            let f = &frame[..cut];
            let kernel = runner.run(Hook::Ingress, f).expect("XDP runs every frame");
            outcomes[match kernel {
                Expected::Flow(_) => 0,
                Expected::NonIp => 1,
                Expected::ParseError => 2,
            }] += 1;
            if let Err(m) = check(f, kernel, runner.last_flow) {
                mismatches.push(m);
            }
            runs += 1;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {runs} differ:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    assert!(
        runs > 1000 && outcomes.iter().all(|&n| n > 30),
        "{runs} runs: {outcomes:?}"
    );
}
