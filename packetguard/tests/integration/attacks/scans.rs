//! SYN scans with nmap: one host's ports (vertical), one port of many hosts (horizontal),
//! and a scan the agent's own host sends (outbound).
//!
//! nmap paces itself with `--min-rate` / `--max-rate` and sends each probe once
//! (`--max-retries 0`); `--host-timeout` bounds how long it spends on a host and `timeout`
//! bounds the whole run. (masscan 1.3.2, the other usual tool, sent at half its `--rate`
//! here and went on waiting long after its `--wait`.)

use std::{net::Ipv4Addr, time::SystemTime};

use super::{attacker, last_line, victim, Capture, Named, Rate, Scenario, Unit, FLOW_AUC};
use crate::lab::{Lab, CLIENT_V4, SERVER_V4};

/// SYNs (no ACK) the client sends, as tcpdump filters them.
fn client_syns(extra: &str) -> String {
    format!(
        "tcp and src host {CLIENT_V4} and {extra} and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
    )
}

/// Runs nmap -sS from the client at `rate` probes/s over `ports` of `targets`.
fn nmap_syn_scan(
    lab: &Lab,
    name: &str,
    ports: &str,
    rate: u32,
    host_timeout: &str,
    targets: &[&str],
) {
    let rate = rate.to_string();
    let mut args = vec![
        "timeout",
        "20",
        "nmap",
        "-sS",
        "-Pn",
        "-n",
        "-p",
        ports,
        "--max-retries",
        "0",
        "--min-rate",
        &rate,
        "--max-rate",
        &rate,
        "--host-timeout",
        host_timeout,
    ];
    args.extend_from_slice(targets);
    let out = lab.output(&lab.client, &args);
    eprintln!("[{name}] nmap ({}): {}", out.status, last_line(&out));
}

/// Ports 1-1000 of the victim at 100 ports/s (the detectors must catch 50/s and more),
/// cut off after 3 s by `--host-timeout`; the agent on the victim's `s0`.
#[test]
fn vertical_syn_scan_is_reported_within_2s() {
    const MIN_RATE: f64 = 50.0;
    let lab = Lab::new();
    let mut s = Scenario::start(&lab, "vertical_scan", &lab.server, "s0");
    s.quiet_phase(None);
    s.require_flow_auc(FLOW_AUC);
    let cap = Capture::start(
        &lab,
        &lab.server,
        "s0",
        &client_syns(&format!("dst host {SERVER_V4}")),
    );
    let start = SystemTime::now();
    nmap_syn_scan(&lab, "vertical_scan", "1-1000", 100, "3s", &[SERVER_V4]);
    let rate = cap.measure(start, Unit::Ports);
    s.finish(
        start,
        &[victim(SERVER_V4), attacker(CLIENT_V4)],
        rate,
        MIN_RATE,
        "ports",
    );
}

/// Port 80 of 128 addresses at 50 addresses/s (the detectors must catch 20/s and more).
/// The addresses (203.0.113.1-128) are the server's, routed to it by the router; the
/// agent watches them all on `s0`. Each address gets one SYN, so no destination stands
/// out: the event must name the scanner as its source.
#[test]
fn horizontal_syn_scan_is_reported_within_2s() {
    const MIN_RATE: f64 = 20.0;
    let lab = Lab::new();
    let targets = lab.add_server_addresses(Ipv4Addr::new(203, 0, 113, 0), 128);
    let range = format!("{}-{}", targets[0], targets.last().unwrap().octets()[3]);
    let mut s = Scenario::start(&lab, "horizontal_scan", &lab.server, "s0");
    s.quiet_phase(None);
    s.require_flow_auc(FLOW_AUC);
    let cap = Capture::start(
        &lab,
        &lab.server,
        "s0",
        &client_syns("dst net 203.0.113.0/24 and dst port 80"),
    );
    let start = SystemTime::now();
    nmap_syn_scan(&lab, "horizontal_scan", "80", 50, "10s", &[&range]);
    let rate = cap.measure(start, Unit::Addresses);
    s.finish(start, &[attacker(CLIENT_V4)], rate, MIN_RATE, "addresses");
}

/// The agent on the client's own `c0` while the client scans the server's ports 1-1000 at
/// 100 ports/s: an infected or misused host scanning out. What leaves the host passes the
/// egress program, the answers the XDP program; the event must name the client as source.
#[test]
fn outbound_syn_scan_from_the_agents_host_is_reported_within_2s() {
    const MIN_RATE: f64 = 50.0;
    let lab = Lab::new();
    let mut s = Scenario::start(&lab, "outbound_scan", &lab.client, "c0");
    s.quiet_phase(None);
    s.require_flow_auc(FLOW_AUC);
    let cap = Capture::start(
        &lab,
        &lab.client,
        "c0",
        &client_syns(&format!("dst host {SERVER_V4}")),
    );
    let start = SystemTime::now();
    nmap_syn_scan(&lab, "outbound_scan", "1-1000", 100, "3s", &[SERVER_V4]);
    let rate: Rate = cap.measure(start, Unit::Ports);
    let names: [Named; 1] = [attacker(CLIENT_V4)];
    s.finish(start, &names, rate, MIN_RATE, "ports");
}
