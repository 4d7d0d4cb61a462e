//! The agent on an end host's own interface (`s0`, the server's), both directions: XDP
//! sees what arrives, the TC egress program what the host sends, and both fold into the
//! same two-sided flows, every packet counted once.

use std::time::Duration;

use crate::{
    capture::{num, rows_between},
    collect_agent::{assert_detached_in, attached_in, Collector},
    lab::{Lab, CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6},
    traffic::{tcp_transfer_matches_capture, udp_transfer_matches_capture, Vantage},
};

const PINGS: u64 = 9;

/// `PINGS` pings from the client to `server` with the agent on `s0`; returns the flows
/// the agent wrote and its stderr.
fn pings_seen_by_the_server(
    lab: &Lab,
    server: &str,
    extra: &[&str],
) -> crate::collect_agent::Collected {
    let mut args = vec!["-i", "s0"];
    args.extend_from_slice(extra);
    let agent = Collector::start_in(lab, &lab.server, &args, 1);
    lab.exec(
        &lab.client,
        &[
            "ping",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.05",
            "-W",
            "2",
            server,
        ],
    );
    agent.stop(libc::SIGINT)
}

#[test]
fn pings_to_the_host_itself_give_n_packets_each_way_and_sigint_detaches_both_hooks() {
    let lab = Lab::new();
    let got = pings_seen_by_the_server(&lab, SERVER_V4, &[]);
    assert!(
        got.stderr
            .contains("attached: s0 ingress (XDP native), s0 egress (TC (tcx))"),
        "{}",
        got.stderr
    );
    let flows = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 1);
    assert_eq!(flows.len(), 1, "one echo flow: {:?}", got.rows);
    let f = flows[0];
    assert_eq!(f["src_ip"], CLIENT_V4, "the client sent first");
    assert_eq!(
        (num(f, "fwd_packets"), num(f, "bwd_packets")),
        (PINGS, PINGS),
        "requests arrive through XDP, replies leave through TC: {f:?}"
    );
    assert_eq!(
        (num(f, "fwd_bytes"), num(f, "bwd_bytes")),
        (PINGS * 98, PINGS * 98)
    );
    assert_detached_in(&lab, &lab.server, "s0");
}

#[test]
fn ipv6_pings_to_the_host_itself_give_n_packets_each_way() {
    let lab = Lab::new();
    let got = pings_seen_by_the_server(&lab, SERVER_V6, &[]);
    let flows = rows_between(&got.rows, CLIENT_V6, SERVER_V6, 58);
    assert_eq!(flows.len(), 1, "one echo flow: {:?}", got.rows);
    let f = flows[0];
    assert_eq!(
        (num(f, "fwd_packets"), num(f, "bwd_packets")),
        (PINGS, PINGS)
    );
    assert_eq!(
        (num(f, "fwd_bytes"), num(f, "bwd_bytes")),
        (PINGS * 118, PINGS * 118)
    );
    assert_detached_in(&lab, &lab.server, "s0");
}

#[test]
fn one_direction_alone_sees_only_its_half() {
    let lab = Lab::new();
    // Ingress alone sees the requests, egress alone the replies: the side it sees is the
    // flow's source.
    for (direction, sender) in [("ingress", CLIENT_V4), ("egress", SERVER_V4)] {
        let got = pings_seen_by_the_server(&lab, SERVER_V4, &["--direction", direction]);
        let flows = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 1);
        assert_eq!(flows.len(), 1, "{direction}: {:?}", got.rows);
        let f = flows[0];
        assert_eq!(f["src_ip"], sender, "{direction}: {f:?}");
        assert_eq!(
            (num(f, "fwd_packets"), num(f, "bwd_packets")),
            (PINGS, 0),
            "{direction}: {f:?}"
        );
        let hook = if direction == "ingress" {
            "s0 ingress (XDP native)"
        } else {
            "s0 egress (TC (tcx))"
        };
        assert!(
            got.stderr.contains(&format!("attached: {hook}\n")),
            "{}",
            got.stderr
        );
        assert_detached_in(&lab, &lab.server, "s0");
    }
}

#[test]
fn tcp_transfer_to_the_host_itself_counts_both_directions_as_tcpdump_saw_them() {
    tcp_transfer_matches_capture(Vantage::Server, SERVER_V4, CLIENT_V4, SERVER_V4);
}

#[test]
fn ipv6_tcp_transfer_to_the_host_itself_counts_both_directions_as_tcpdump_saw_them() {
    tcp_transfer_matches_capture(
        Vantage::Server,
        SERVER_V6,
        CLIENT_V6,
        &format!("[{SERVER_V6}]"),
    );
}

#[test]
fn udp_transfer_to_the_host_itself_counts_what_tcpdump_saw() {
    udp_transfer_matches_capture(Vantage::Server);
}

#[test]
fn the_clsact_path_removes_the_qdisc_it_added_and_keeps_one_that_was_there() {
    let lab = Lab::new();
    let qdiscs = |lab: &Lab| {
        let out = lab.exec(&lab.server, &["tc", "qdisc", "show", "dev", "s0"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // No clsact before: the agent adds one, and removes it with its filter on SIGTERM.
    let agent = Collector::start_in(&lab, &lab.server, &["-i", "s0", "--tc-mode", "netlink"], 1);
    let during = attached_in(&lab, &lab.server, "s0");
    assert!(
        during.contains("tc egress filters: filter") && during.contains("packetguard_egress"),
        "{during}"
    );
    assert!(qdiscs(&lab).contains("clsact"), "{}", qdiscs(&lab));
    lab.exec(&lab.client, &["ping", "-c", "3", "-i", "0.05", SERVER_V4]);
    let got = agent.stop(libc::SIGTERM);
    let f = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 1)[0];
    assert_eq!((num(f, "fwd_packets"), num(f, "bwd_packets")), (3, 3));
    assert_detached_in(&lab, &lab.server, "s0");

    // A clsact qdisc the operator made stays, without the agent's filter.
    lab.exec(&lab.server, &["tc", "qdisc", "add", "dev", "s0", "clsact"]);
    let agent = Collector::start_in(
        &lab,
        &lab.server,
        &["-i", "s0", "--tc-mode", "netlink", "--duration", "1s"],
        1,
    );
    let got = agent.wait();
    assert!(
        got.stderr.contains("s0 egress (TC (clsact qdisc))"),
        "{}",
        got.stderr
    );
    assert!(
        qdiscs(&lab).contains("clsact"),
        "the operator's qdisc stays"
    );
    let after = attached_in(&lab, &lab.server, "s0");
    assert!(after.contains("s0 tc egress filters: none"), "{after}");
    std::thread::sleep(Duration::from_millis(10));
}
