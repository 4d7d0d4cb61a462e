//! The real XDP program on veth interfaces, real tools sending bounded traffic, exact counts.

use std::{collections::HashMap, time::Duration};

use crate::{
    capture::{num, pcap_frame_lengths, rows_between, tcpdump},
    collect_agent::{assert_detached, assert_detached_in, Collector},
    lab::{Lab, CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6},
};

const PINGS: u64 = 5;

/// An echo flow started by `src`: `PINGS` requests forward and `PINGS` replies back,
/// every frame `frame_bytes` long.
fn assert_echo_flow(f: &HashMap<String, String>, src: &str, frame_bytes: u64) {
    assert_eq!(f["src_ip"], src, "the pinging side sent first");
    assert_eq!(
        (num(f, "fwd_packets"), num(f, "bwd_packets")),
        (PINGS, PINGS)
    );
    assert_eq!(
        (num(f, "fwd_bytes"), num(f, "bwd_bytes")),
        (PINGS * frame_bytes, PINGS * frame_bytes)
    );
}

#[test]
fn pings_make_one_icmp_flow_with_n_packets_each_way_and_sigterm_detaches() {
    let lab = Lab::new();
    let agent = Collector::start(&lab, &[]);
    lab.exec(
        &lab.client,
        &[
            "ping",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.1",
            "-W",
            "2",
            SERVER_V4,
        ],
    );
    let got = agent.stop(libc::SIGTERM);
    let flows = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 1);
    assert_eq!(flows.len(), 1, "one ICMP flow: {:?}", got.rows);
    let f = flows[0];
    // 56 data bytes + 8 ICMP + 20 IPv4 + 14 Ethernet.
    assert_echo_flow(f, CLIENT_V4, 98);
    assert_eq!(num(f, "pkt_len_min"), 98);
    assert_eq!(num(f, "payload_packets"), 2 * PINGS);
    assert_detached(&lab);
    assert!(got.stderr.contains("summary: packets"), "{}", got.stderr);
}

#[test]
fn ipv6_pings_make_one_icmpv6_flow_exported_on_idle_and_a_timed_run_detaches() {
    let lab = Lab::new();
    // The flow goes quiet after the pings: the agent must export it on idle, before the end.
    let agent = Collector::start(&lab, &["--duration", "4s", "--idle-timeout", "1s"]);
    lab.exec(
        &lab.client,
        &[
            "ping",
            "-6",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.1",
            "-W",
            "2",
            SERVER_V6,
        ],
    );
    let got = agent.wait();
    let flows = rows_between(&got.rows, CLIENT_V6, SERVER_V6, 58);
    assert_eq!(flows.len(), 1, "one ICMPv6 flow: {:?}", got.rows);
    // 56 data bytes + 8 ICMPv6 + 40 IPv6 + 14 Ethernet.
    assert_echo_flow(flows[0], CLIENT_V6, 118);
    assert_detached(&lab);
}

#[test]
fn hping3_syn_burst_to_a_closed_port_gives_one_syn_and_one_rst_per_flow() {
    const SYNS: usize = 12;
    let lab = Lab::new();
    let agent = Collector::start(&lab, &[]);
    lab.syn_burst(SYNS as u64, 20_000);
    std::thread::sleep(Duration::from_millis(300));
    let got = agent.stop(libc::SIGINT);
    let flows = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 6);
    assert_eq!(flows.len(), SYNS, "one flow per SYN: {:?}", got.rows);
    for f in flows {
        assert_eq!(f["src_ip"], CLIENT_V4);
        assert_eq!(f["dst_port"], "9");
        assert_eq!(
            (num(f, "fwd_packets"), num(f, "bwd_packets")),
            (1, 1),
            "{f:?}"
        );
        assert_eq!((num(f, "syn_count"), num(f, "rst_count")), (1, 1), "{f:?}");
        // Bare 20-byte TCP headers: 14 + 20 + 20 bytes each way.
        assert_eq!((num(f, "fwd_bytes"), num(f, "bwd_bytes")), (54, 54));
        assert_eq!(f["end_reason"], "reset");
    }
    assert_detached(&lab);
}

/// Where the agent watches from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Vantage {
    /// Both router interfaces, ingress only: each forwarded packet once.
    Router,
    /// The server's own interface `s0`, both directions: what it receives through XDP and
    /// what it sends through TC egress.
    Server,
}

impl Vantage {
    pub fn start(self, lab: &Lab, extra: &[&str]) -> Collector {
        match self {
            Vantage::Router => Collector::start(lab, extra),
            Vantage::Server => {
                let mut args = vec!["-i", "s0", "--direction", "both"];
                args.extend_from_slice(extra);
                Collector::start_in(lab, &lab.server, &args, 1)
            }
        }
    }

    /// Where tcpdump sees the frames a host sends as the agent does: the client's on `c0`
    /// from the router, anything on `s0` from the server.
    pub fn client_capture_point(self, lab: &Lab) -> (&str, &'static str) {
        match self {
            Vantage::Router => (lab.client.as_str(), "c0"),
            Vantage::Server => (lab.server.as_str(), "s0"),
        }
    }

    pub fn assert_detached(self, lab: &Lab) {
        match self {
            Vantage::Router => assert_detached(lab),
            Vantage::Server => assert_detached_in(lab, &lab.server, "s0"),
        }
    }
}

/// A TCP transfer with curl from a Python HTTP server; the flow's packets and bytes equal
/// what tcpdump saw leave each end (on the server's interface itself, for
/// [`Vantage::Server`], where the agent sees the server's own packets leave on egress).
pub fn tcp_transfer_matches_capture(v: Vantage, server: &str, client_addr: &str, url_host: &str) {
    let lab = Lab::new();
    let www = lab.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("blob"), vec![0x5a; 600_000]).unwrap();
    let bind = if server.contains(':') {
        "::"
    } else {
        "0.0.0.0"
    };
    let mut http = lab.spawn(
        &lab.server,
        &[
            "python3",
            "-m",
            "http.server",
            "8000",
            "--bind",
            bind,
            "--directory",
            www.to_str().unwrap(),
        ],
    );
    let agent = v.start(&lab, &[]);
    let f_c = format!("tcp port 8000 and src host {client_addr}");
    let f_s = format!("tcp port 8000 and src host {server}");
    let (c_ns, c_dev) = v.client_capture_point(&lab);
    let (mut cap_c, pcap_c) = tcpdump(&lab, c_ns, c_dev, &f_c, "client.pcap");
    let (mut cap_s, pcap_s) = tcpdump(&lab, &lab.server, "s0", &f_s, "server.pcap");
    let url = format!("http://{url_host}:8000/blob");
    lab.exec(
        &lab.client,
        &[
            "curl",
            "-sS",
            "--retry",
            "20",
            "--retry-connrefused",
            "--retry-delay",
            "0",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            &url,
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    cap_c.stop(libc::SIGINT, Duration::from_secs(10));
    cap_s.stop(libc::SIGINT, Duration::from_secs(10));
    let got = agent.stop(libc::SIGTERM);
    http.stop(libc::SIGTERM, Duration::from_secs(10));

    let c_frames = pcap_frame_lengths(&pcap_c);
    let s_frames = pcap_frame_lengths(&pcap_s);
    let flows = rows_between(&got.rows, client_addr, server, 6);
    // curl's retries may leave refused attempts (SYN, RST) before the server listened; the
    // transfer is the flow that carried data.
    let transfers: Vec<_> = flows
        .iter()
        .filter(|f| num(f, "bwd_bytes") > 600_000)
        .collect();
    assert_eq!(transfers.len(), 1, "one transfer flow: {flows:?}");
    let f = transfers[0];
    let refused: Vec<_> = flows
        .iter()
        .filter(|f| num(f, "bwd_bytes") <= 600_000)
        .collect();
    let (ref_fp, ref_fb): (u64, u64) = refused.iter().fold((0, 0), |a, f| {
        (a.0 + num(f, "fwd_packets"), a.1 + num(f, "fwd_bytes"))
    });
    let (ref_bp, ref_bb): (u64, u64) = refused.iter().fold((0, 0), |a, f| {
        (a.0 + num(f, "bwd_packets"), a.1 + num(f, "bwd_bytes"))
    });
    assert_eq!(f["src_ip"], client_addr);
    assert_eq!(
        num(f, "fwd_packets") + ref_fp,
        c_frames.len() as u64,
        "client frames"
    );
    assert_eq!(
        num(f, "bwd_packets") + ref_bp,
        s_frames.len() as u64,
        "server frames"
    );
    assert_eq!(
        num(f, "fwd_bytes") + ref_fb,
        c_frames.iter().map(|&l| l as u64).sum::<u64>(),
        "client bytes"
    );
    assert_eq!(
        num(f, "bwd_bytes") + ref_bb,
        s_frames.iter().map(|&l| l as u64).sum::<u64>(),
        "server bytes"
    );
    assert_eq!(num(f, "syn_count"), 2, "SYN and SYN-ACK");
    assert_eq!(f["end_reason"], "end", "closed with FIN both ways");
    v.assert_detached(&lab);
}

#[test]
fn tcp_transfer_over_ipv4_counts_exactly_what_the_wire_carried() {
    tcp_transfer_matches_capture(Vantage::Router, SERVER_V4, CLIENT_V4, SERVER_V4);
}

#[test]
fn tcp_transfer_over_ipv6_counts_exactly_what_the_wire_carried() {
    tcp_transfer_matches_capture(
        Vantage::Router,
        SERVER_V6,
        CLIENT_V6,
        &format!("[{SERVER_V6}]"),
    );
}

#[test]
fn udp_transfer_counts_exactly_what_the_wire_carried() {
    udp_transfer_matches_capture(Vantage::Router);
}

/// 300 iperf3 datagrams to the server, split into several kernel records by a short
/// active timeout; merged, the flow holds exactly the frames tcpdump saw.
pub fn udp_transfer_matches_capture(v: Vantage) {
    let lab = Lab::new();
    let mut server = lab.spawn(&lab.server, &["iperf3", "-s", "-1", "-B", SERVER_V4]);
    server.wait_for_stderr("", 0, Duration::from_secs(1));
    // A short active timeout splits the transfer into several kernel records; merged, they
    // must still add up to exactly what the wire carried.
    let agent = v.start(&lab, &["--active-timeout", "30ms"]);
    let (c_ns, c_dev) = v.client_capture_point(&lab);
    let (mut cap, pcap) = tcpdump(&lab, c_ns, c_dev, "udp and host 198.51.100.2", "udp.pcap");
    // Bounded: 300 datagrams of 1000 bytes at 20 Mbit/s.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = lab.output(
            &lab.client,
            &[
                "iperf3", "-c", SERVER_V4, "-u", "-b", "20M", "-l", "1000", "-n", "300K",
            ],
        );
        if out.status.success() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "iperf3 never connected: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    cap.stop(libc::SIGINT, Duration::from_secs(10));
    let got = agent.stop(libc::SIGTERM);
    let frames = pcap_frame_lengths(&pcap);
    let udp = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 17);
    assert_eq!(udp.len(), 1, "one UDP flow: {udp:?}");
    let f = udp[0];
    assert!(num(f, "fwd_packets") >= 300, "{f:?}");
    assert!(
        num(f, "records") >= 2,
        "the active timeout split the flow: {f:?}"
    );
    assert_eq!(
        num(f, "fwd_packets") + num(f, "bwd_packets"),
        frames.len() as u64
    );
    assert_eq!(
        num(f, "fwd_bytes") + num(f, "bwd_bytes"),
        frames.iter().map(|&l| l as u64).sum::<u64>()
    );
    v.assert_detached(&lab);
}
