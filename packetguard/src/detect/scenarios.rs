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

use super::window::{destination_features, source_features, WindowRole};

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

/// A destination window: `t` received, `flows` opened toward it from `sources` sources to
/// `ports` ports.
pub fn destination(
    name: &str,
    expect: Expect,
    t: Traffic,
    flows: u64,
    sources: u64,
    ports: u64,
) -> Window {
    Window {
        name: name.into(),
        role: WindowRole::Destination,
        row: destination_features(&t.0, flows, sources, ports, SECOND).to_vec(),
        expect,
    }
}

/// A source window: `t` sent, `attempts` flows opened to `destinations` addresses and
/// `ports` ports.
pub fn source(
    name: &str,
    expect: Expect,
    t: Traffic,
    attempts: u64,
    destinations: u64,
    ports: u64,
) -> Window {
    Window {
        name: name.into(),
        role: WindowRole::Source,
        row: source_features(&t.0, attempts, destinations, ports, SECOND).to_vec(),
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

/// The attacks, each in the role that must catch it and in the other for the record.
pub fn attacks() -> Vec<Window> {
    use Expect::*;
    let flood = Traffic::default().other(5000, 554);
    let vertical = probes(50, 2, 0);
    let horizontal = probes(20, 1, 18);
    // An SSH login attempt: handshake, key exchange, one password, close. The client
    // sends about 16 packets and 3 kB, the server about 14 and 4 kB.
    let guess = Traffic::default().syn(3, 74).tcp(45, 195).answered(3);
    let syn_flood = Traffic::default().syn(1000, 54);
    let busy_server = page_replies(3, false).plus(Traffic::default().tcp(10, 120));
    vec![
        source("UDP flood 5000/s, attacker", Anomaly, flood, 0, 0, 0),
        source(
            "UDP flood 5000/s, attacker, first second of 4 flows",
            Anomaly,
            flood,
            4,
            1,
            1,
        ),
        destination("UDP flood 5000/s, victim", Shown, flood, 0, 0, 0),
        destination(
            "UDP flood 5000/s, victim, first second",
            Shown,
            flood,
            4,
            1,
            1,
        ),
        source(
            "vertical SYN scan 50 ports/s, scanner",
            Anomaly,
            vertical,
            50,
            1,
            50,
        ),
        destination(
            "vertical SYN scan 50 ports/s, victim",
            Shown,
            vertical,
            50,
            1,
            50,
        ),
        source(
            "horizontal scan 20 hosts/s, scanner",
            Anomaly,
            horizontal,
            20,
            20,
            1,
        ),
        source("SSH brute force 3/s, attacker", Shown, guess, 3, 1, 1),
        destination("SSH brute force 3/s, server", Shown, guess, 3, 1, 1),
        source(
            "outbound horizontal scan 20 hosts/s from a busy web server",
            Anomaly,
            horizontal.plus(busy_server),
            20,
            20,
            1,
        ),
        source(
            "outbound vertical scan 50 ports/s from a host resolving names",
            Anomaly,
            vertical.plus(Traffic::default().other(4, 80).answered(2)),
            52,
            2,
            51,
        ),
        destination(
            "spoofed SYN flood 1000/s, victim",
            Anomaly,
            syn_flood,
            1000,
            1000,
            1,
        ),
        source(
            "spoofed SYN flood, one spoofed source",
            Normal,
            Traffic::default().syn(1, 54),
            1,
            1,
            1,
        ),
    ]
}

/// The lab's normal traffic, each window in both roles it appears in.
pub fn normal() -> Vec<Window> {
    use Expect::Normal;
    let mut w = Vec::new();
    for rate in [1, 10] {
        let echo = Traffic::default().other(rate, 98);
        let name = |what: &str| format!("ping {rate}/s, {what}");
        w.push(source(&name("pinger"), Normal, echo, 0, 0, 0));
        w.push(source(
            &name("pinger, first second"),
            Normal,
            echo.answered(1),
            1,
            1,
            0,
        ));
        w.push(source(
            &name("pinged host's replies"),
            Normal,
            echo,
            0,
            0,
            0,
        ));
        w.push(destination(&name("pinged host"), Normal, echo, 0, 0, 0));
        w.push(destination(
            &name("pinged host, first second"),
            Normal,
            echo,
            1,
            1,
            0,
        ));
        w.push(destination(
            &name("pinger's replies"),
            Normal,
            echo,
            0,
            0,
            0,
        ));
    }
    for fetches in [1, 3, 5] {
        let name = |what: &str| format!("curl 200 kB x{fetches}/s, {what}");
        let requests = page_requests(fetches);
        w.push(source(&name("client"), Normal, requests, fetches, 1, 1));
        w.push(destination(
            &name("server"),
            Normal,
            requests,
            fetches,
            1,
            1,
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
                0,
                0,
                0,
            ));
            w.push(destination(
                &name(&format!("client, {how}")),
                Normal,
                replies,
                0,
                0,
                0,
            ));
        }
    }
    for (pps, frame) in [(20_000, 1514), (80_000, 1514), (2_500, 64_000)] {
        let name = |what: &str| format!("iperf3 {pps} frames/s of {frame} B, {what}");
        let data = Traffic::default().tcp(pps, frame);
        let acks = Traffic::default().tcp(pps / 2, 66);
        w.push(source(&name("sender"), Normal, data, 0, 0, 0));
        w.push(destination(&name("receiver"), Normal, data, 0, 0, 0));
        w.push(source(&name("receiver's ACKs"), Normal, acks, 0, 0, 0));
        w.push(destination(&name("sender's ACKs"), Normal, acks, 0, 0, 0));
        // The first second: a control connection and one or two data connections.
        for flows in [2, 3] {
            let first = data.plus(Traffic::default().syn(flows, 74).answered(flows));
            let what = format!("sender, first second of {flows} flows");
            w.push(source(&name(&what), Normal, first, flows, 1, 1));
            let what = format!("receiver, first second of {flows} flows");
            w.push(destination(&name(&what), Normal, first, flows, 1, 1));
        }
    }
    let login = Traffic::default().syn(1, 74).tcp(24, 170).answered(1);
    let banner = Traffic::default().tcp(20, 300);
    let keys = Traffic::default().tcp(10, 110);
    let echoes = Traffic::default().tcp(10, 150);
    w.extend([
        source("SSH session, client login", Normal, login, 1, 1, 1),
        source("SSH session, client typing", Normal, keys, 0, 0, 0),
        source("SSH session, server login", Normal, banner, 0, 0, 0),
        source("SSH session, server echoing", Normal, echoes, 0, 0, 0),
        destination("SSH session, server at login", Normal, login, 1, 1, 1),
        destination("SSH session, server while typing", Normal, keys, 0, 0, 0),
        destination("SSH session, client at login", Normal, banner, 0, 0, 0),
        destination("SSH session, client while typing", Normal, echoes, 0, 0, 0),
    ]);
    w
}

/// Rates around where the source model starts flagging, printed for models/README.md: UDP
/// sent by one address, SSH login attempts, horizontal and vertical scans.
pub fn boundaries() -> Vec<Window> {
    use Expect::Shown;
    let mut w = Vec::new();
    for rate in [300, 500, 600, 700, 1000, 2000, 100_000] {
        let t = Traffic::default().other(rate, 554);
        w.push(source(
            &format!("UDP sent at {rate}/s, one flow"),
            Shown,
            t,
            0,
            0,
            0,
        ));
    }
    for rate in [3, 10, 20, 50, 100] {
        let t = Traffic::default()
            .syn(rate, 74)
            .tcp(15 * rate, 195)
            .answered(rate);
        let name = format!("SSH brute force {rate}/s, attacker");
        w.push(source(&name, Shown, t, rate, 1, 1));
        w.push(destination(
            &name.replace("attacker", "server"),
            Shown,
            t,
            rate,
            1,
            1,
        ));
    }
    for rate in [5, 10] {
        let name = format!("horizontal scan {rate} hosts/s, scanner");
        w.push(source(&name, Shown, probes(rate, 0, rate), rate, rate, 1));
        let name = format!("vertical SYN scan {rate} ports/s, scanner");
        w.push(source(&name, Shown, probes(rate, 0, 0), rate, 1, rate));
    }
    for ports in [10, 20, 50] {
        let name = format!("vertical SYN scan {ports} ports/s, victim");
        w.push(destination(
            &name,
            Shown,
            probes(ports, 0, 0),
            ports,
            1,
            ports,
        ));
    }
    w
}
