//! One-second windows of the attack lab's attacks and normal traffic, as an agent that sees
//! both directions builds them, made with the agent's own feature functions. The shipped
//! models are tested against them (`shipped_tests`).
//!
//! Frame sizes are what the agent counts (Ethernet header included): a TCP ACK with
//! timestamps 66 bytes, a Linux SYN 74, an nmap or hping3 SYN 58 or 54, an ICMP echo 98,
//! a UDP datagram of 512 bytes 554. Packet counts follow the tools: nmap retransmits an
//! unanswered probe once, and sends a RST for each SYN-ACK; curl fetches a 200 kB page
//! over about 140 full frames acknowledged every second segment.

use std::time::Duration;

use packetguard_common::{
    record::{TCP_ACK, TCP_SYN},
    HostStats,
};

use super::window::{destination_features, source_features, StartCounts, WindowRole};

mod logins;

/// What a test expects of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Must score above the threshold: the role that must catch an attack.
    Anomaly,
    /// Must score at or below the threshold.
    Normal,
    /// Printed, not asserted: a role that is not promised to catch the attack, or an
    /// attack the features cannot tell from normal traffic (see models/README.md).
    Shown,
}

/// One window of one address in one role.
pub struct Window {
    pub name: String,
    pub role: WindowRole,
    pub row: Vec<f64>,
    pub expect: Expect,
}

/// Packets one address sent or received in a second.
#[derive(Clone, Copy, Default)]
pub struct Traffic(pub HostStats);

impl Traffic {
    fn add(mut self, n: u64, len: u32, is_tcp: u8, flags: u8) -> Self {
        for _ in 0..n {
            self.0.add(len, is_tcp, flags);
        }
        self
    }

    /// `n` TCP SYNs (without ACK) of `len` bytes.
    pub fn syn(self, n: u64, len: u32) -> Self {
        self.add(n, len, 1, TCP_SYN)
    }

    /// `n` other TCP packets (ACKs, data, RSTs, SYN-ACKs) of `len` bytes.
    pub fn tcp(self, n: u64, len: u32) -> Self {
        self.add(n, len, 1, TCP_ACK)
    }

    /// `n` UDP or ICMP packets of `len` bytes.
    pub fn other(self, n: u64, len: u32) -> Self {
        self.add(n, len, 0, 0)
    }

    /// `n` flows the address opened were answered (source role).
    pub fn answered(mut self, n: u64) -> Self {
        self.0.answered += n;
        self
    }

    /// Both addresses' traffic in one window.
    pub fn plus(self, o: Traffic) -> Self {
        Traffic(self.0.plus(&o.0))
    }
}

const SECOND: Duration = Duration::from_secs(1);

/// No flow opened in the window.
pub const NO_FLOWS: StartCounts = StartCounts::new(0, 0, 0);

/// `flows` flows opened, to or from `peers` peers, on `ports` destination ports, none of
/// them to a login service; add logins with [`StartCounts::with_logins`].
pub const fn opened(flows: u64, peers: u64, ports: u64) -> StartCounts {
    StartCounts::new(flows, peers, ports)
}

/// A destination window: `t` received, `s` the flows opened toward it (`peers` are their
/// sources).
pub fn destination(name: &str, expect: Expect, t: Traffic, s: StartCounts) -> Window {
    Window {
        name: name.into(),
        role: WindowRole::Destination,
        row: destination_features(&t.0, &s, SECOND).to_vec(),
        expect,
    }
}

/// A source window: `t` sent, `s` the flows it opened (`peers` are their destinations).
pub fn source(name: &str, expect: Expect, t: Traffic, s: StartCounts) -> Window {
    Window {
        name: name.into(),
        role: WindowRole::Source,
        row: source_features(&t.0, &s, SECOND).to_vec(),
        expect,
    }
}

/// Nmap's probes of `n` ports or addresses in a second, `open` of them answering with a
/// SYN-ACK (which nmap resets); `retransmits` probes of the second before sent again.
fn probes(n: u64, open: u64, retransmits: u64) -> Traffic {
    Traffic::default()
        .syn(n + retransmits, 58)
        .tcp(open, 54)
        .answered(open)
}

/// A web server's replies to `fetches` curl fetches of 200 kB, in full frames or in
/// segmentation-offload super-packets of about 26 kB.
fn page_replies(fetches: u64, offload: bool) -> Traffic {
    let t = Traffic::default().tcp(fetches * 3, 66);
    if offload {
        t.tcp(fetches * 8, 26_000)
    } else {
        t.tcp(fetches * 140, 1514)
    }
}

/// Curl's side of `fetches` fetches: SYN, request, ACKs.
fn page_requests(fetches: u64) -> Traffic {
    Traffic::default()
        .syn(fetches, 74)
        .tcp(fetches, 200)
        .tcp(fetches * 73, 66)
        .answered(fetches)
}

/// The attacks, each in the role that must catch it and in the other for the record:
/// floods, scans, and password guessing (`logins`).
pub fn attacks() -> Vec<Window> {
    use Expect::*;
    let flood = Traffic::default().other(5000, 554);
    let vertical = probes(50, 2, 0);
    let horizontal = probes(20, 1, 18);
    let syn_flood = Traffic::default().syn(1000, 54);
    let busy_server = page_replies(3, false).plus(Traffic::default().tcp(10, 120));
    vec![
        source("UDP flood 5000/s, attacker", Anomaly, flood, NO_FLOWS),
        source(
            "UDP flood 5000/s, attacker, first second of 4 flows",
            Anomaly,
            flood,
            opened(4, 1, 1),
        ),
        destination("UDP flood 5000/s, victim", Shown, flood, NO_FLOWS),
        destination(
            "UDP flood 5000/s, victim, first second",
            Shown,
            flood,
            opened(4, 1, 1),
        ),
        source(
            "vertical SYN scan 50 ports/s, scanner",
            Anomaly,
            vertical,
            opened(50, 1, 50),
        ),
        destination(
            "vertical SYN scan 50 ports/s, victim",
            Shown,
            vertical,
            opened(50, 1, 50),
        ),
        source(
            "horizontal scan 20 hosts/s, scanner",
            Anomaly,
            horizontal,
            opened(20, 20, 1),
        ),
        source(
            "outbound horizontal scan 20 hosts/s from a busy web server",
            Anomaly,
            horizontal.plus(busy_server),
            opened(20, 20, 1),
        ),
        source(
            "outbound vertical scan 50 ports/s from a host resolving names",
            Anomaly,
            vertical.plus(Traffic::default().other(4, 80).answered(2)),
            opened(52, 2, 51),
        ),
        destination(
            "spoofed SYN flood 1000/s, victim",
            Anomaly,
            syn_flood,
            opened(1000, 1000, 1),
        ),
        source(
            "spoofed SYN flood, one spoofed source",
            Normal,
            Traffic::default().syn(1, 54),
            opened(1, 1, 1),
        ),
    ]
    .into_iter()
    .chain(logins::attacks())
    .collect()
}

/// The lab's normal traffic, each window in both roles it appears in: ping, curl, iperf3,
/// and logins (`logins`: SSH sessions and copies, an Ansible-like run, mail, a database
/// pool).
pub fn normal() -> Vec<Window> {
    use Expect::Normal;
    let mut w = Vec::new();
    for rate in [1, 10] {
        let echo = Traffic::default().other(rate, 98);
        let name = |what: &str| format!("ping {rate}/s, {what}");
        w.push(source(&name("pinger"), Normal, echo, NO_FLOWS));
        w.push(source(
            &name("pinger, first second"),
            Normal,
            echo.answered(1),
            opened(1, 1, 0),
        ));
        w.push(source(
            &name("pinged host's replies"),
            Normal,
            echo,
            NO_FLOWS,
        ));
        w.push(destination(&name("pinged host"), Normal, echo, NO_FLOWS));
        w.push(destination(
            &name("pinged host, first second"),
            Normal,
            echo,
            opened(1, 1, 0),
        ));
        w.push(destination(
            &name("pinger's replies"),
            Normal,
            echo,
            NO_FLOWS,
        ));
    }
    for fetches in [1, 3, 5] {
        let name = |what: &str| format!("curl 200 kB x{fetches}/s, {what}");
        let requests = page_requests(fetches);
        w.push(source(
            &name("client"),
            Normal,
            requests,
            opened(fetches, 1, 1),
        ));
        w.push(destination(
            &name("server"),
            Normal,
            requests,
            opened(fetches, 1, 1),
        ));
        for offload in [false, true] {
            let replies = page_replies(fetches, offload);
            let how = if offload {
                "offload frames"
            } else {
                "full frames"
            };
            w.push(source(
                &name(&format!("server replies, {how}")),
                Normal,
                replies,
                NO_FLOWS,
            ));
            w.push(destination(
                &name(&format!("client, {how}")),
                Normal,
                replies,
                NO_FLOWS,
            ));
        }
    }
    for (pps, frame) in [(20_000, 1514), (80_000, 1514), (2_500, 64_000)] {
        let name = |what: &str| format!("iperf3 {pps} frames/s of {frame} B, {what}");
        let data = Traffic::default().tcp(pps, frame);
        let acks = Traffic::default().tcp(pps / 2, 66);
        w.push(source(&name("sender"), Normal, data, NO_FLOWS));
        w.push(destination(&name("receiver"), Normal, data, NO_FLOWS));
        w.push(source(&name("receiver's ACKs"), Normal, acks, NO_FLOWS));
        w.push(destination(&name("sender's ACKs"), Normal, acks, NO_FLOWS));
        // The first second: a control connection and one or two data connections.
        for flows in [2, 3] {
            let first = data.plus(Traffic::default().syn(flows, 74).answered(flows));
            let what = format!("sender, first second of {flows} flows");
            w.push(source(&name(&what), Normal, first, opened(flows, 1, 1)));
            let what = format!("receiver, first second of {flows} flows");
            w.push(destination(
                &name(&what),
                Normal,
                first,
                opened(flows, 1, 1),
            ));
        }
    }
    w.extend(logins::normal());
    w
}

/// Rates around where the source model starts flagging, printed for models/README.md: UDP
/// sent by one address, horizontal and vertical scans, password guessing.
pub fn boundaries() -> Vec<Window> {
    use Expect::Shown;
    let mut w = Vec::new();
    for rate in [300, 500, 600, 700, 1000, 2000, 100_000] {
        let t = Traffic::default().other(rate, 554);
        w.push(source(
            &format!("UDP sent at {rate}/s, one flow"),
            Shown,
            t,
            NO_FLOWS,
        ));
    }
    for rate in [5, 10] {
        let name = format!("horizontal scan {rate} hosts/s, scanner");
        w.push(source(
            &name,
            Shown,
            probes(rate, 0, rate),
            opened(rate, rate, 1),
        ));
        let name = format!("vertical SYN scan {rate} ports/s, scanner");
        w.push(source(
            &name,
            Shown,
            probes(rate, 0, 0),
            opened(rate, 1, rate),
        ));
    }
    for ports in [10, 20, 50] {
        let name = format!("vertical SYN scan {ports} ports/s, victim");
        w.push(destination(
            &name,
            Shown,
            probes(ports, 0, 0),
            opened(ports, 1, ports),
        ));
    }
    w.extend(logins::boundaries());
    w
}
