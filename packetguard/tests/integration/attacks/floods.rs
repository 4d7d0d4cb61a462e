//! Floods against the victim (198.51.100.2), the agent on the victim's interface `s0`.

use std::{net::Ipv4Addr, time::Duration, time::SystemTime};

use super::{attacker, victim, Capture, Scenario, Unit, FLOW_AUC};
use crate::{
    lab::{in_ns, Lab, CLIENT_V4, SERVER_V4},
    raw_ip::{Probe, RawFlood, Sources},
};

/// Sends `flood` from the client namespace and reports what the sender did.
fn send_from_client(lab: &Lab, name: &str, flood: RawFlood) {
    let sent = in_ns(&lab.client, || flood.send());
    eprintln!(
        "[{name}] sender: {} packets in {:.2} s ({:.0}/s), {} send errors",
        sent.packets,
        sent.elapsed.as_secs_f64(),
        sent.packets as f64 / sent.elapsed.as_secs_f64(),
        sent.errors
    );
}

/// A single-source UDP flood of 512-byte datagrams to port 53 at 6,000 packets/s for 3 s
/// (the detectors must catch 5,000/s and more). As hping3 does, every datagram comes from
/// the next source port, so each is a flow of its own.
#[test]
fn udp_flood_from_one_source_is_reported_within_2s() {
    const MIN_RATE: f64 = 5000.0;
    let lab = Lab::new();
    let mut s = Scenario::start(&lab, "udp_flood", &lab.server, "s0");
    s.quiet_phase(None);
    let filter = format!("udp and src host {CLIENT_V4} and dst host {SERVER_V4} and dst port 53");
    let cap = Capture::start(&lab, &lab.server, "s0", &filter);
    let flood = RawFlood {
        sources: Sources::One(CLIENT_V4.parse().unwrap()),
        dst: SERVER_V4.parse().unwrap(),
        dst_count: 1,
        probe: Probe::Udp {
            dst_port: 53,
            payload: 512,
        },
        rate: 6000,
        count: 18_000,
        limit: Duration::from_secs(5),
    };
    let start = SystemTime::now();
    send_from_client(&lab, "udp_flood", flood);
    let rate = cap.measure(start, Unit::Packets);
    s.finish(
        start,
        &[victim(SERVER_V4), attacker(CLIENT_V4)],
        rate,
        MIN_RATE,
        "packets",
    );
}

/// A SYN flood to the web port at 1,500 packets/s for 3 s (the detectors must catch
/// 1,000/s and more), every SYN from another spoofed source of 198.18.0.0/15. No source
/// sends twice, so only the destination side can see it: the event must name the victim.
/// The router sends the victim's answers back towards the client, which drops them.
#[test]
fn syn_flood_from_spoofed_sources_is_reported_within_2s() {
    const MIN_RATE: f64 = 1000.0;
    const PACKETS: u64 = 4500;
    let lab = Lab::new();
    lab.route_via_client("198.18.0.0/15");
    let mut s = Scenario::start(&lab, "spoofed_syn_flood", &lab.server, "s0");
    s.quiet_phase(None);
    s.require_flow_auc(FLOW_AUC);
    let filter = format!(
        "tcp and src net 198.18.0.0/15 and dst host {SERVER_V4} and dst port 8080 \
         and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
    );
    let cap = Capture::start(&lab, &lab.server, "s0", &filter);
    let flood = RawFlood {
        sources: Sources::Spoofed {
            first: Ipv4Addr::new(198, 18, 0, 1),
            count: PACKETS as u32,
        },
        dst: SERVER_V4.parse().unwrap(),
        dst_count: 1,
        probe: Probe::Syn { dst_port: 8080 },
        rate: 1500,
        count: PACKETS,
        limit: Duration::from_secs(5),
    };
    let start = SystemTime::now();
    send_from_client(&lab, "spoofed_syn_flood", flood);
    let rate = cap.measure(start, Unit::Packets);
    s.finish(start, &[victim(SERVER_V4)], rate, MIN_RATE, "SYNs");
}
