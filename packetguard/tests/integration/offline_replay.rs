//! Equivalence with the live kernel: a capture of real lab traffic, replayed into an
//! interface the agent watches, gives the same flows live as the offline library reads
//! from the file.
//!
//! What differs between live and replay, and how the comparison stays exact:
//!
//! - The capture is taken on the client's interface `c0`, which every packet between
//!   client and server crosses, with a full snapshot (`-s 0`), and only those packets
//!   (filtered by the two lab addresses). Segmentation and receive offloads are turned off
//!   on the lab's links first, so each captured frame is one wire frame (a TSO
//!   super-packet could not be replayed) and the same frame the replay sends.
//! - The replay sends every frame out of one end of a fresh veth pair (`tcpreplay`) and
//!   the agent watches the other end in ingress mode: every packet, of both directions,
//!   arrives there once, with the bytes and length it was captured with. The pair has no
//!   addresses and IPv6 off, so the stacks send nothing of their own on it.
//! - The replay is paced (2,000 packets/s) and the capture spans a few seconds, under the
//!   idle (15 s) and active (60 s) timeouts, so neither side splits a flow by time. Times
//!   themselves differ (capture time against replay time) and are not compared: keys,
//!   packets and bytes each way, flag counts, lengths, windows, TTLs and payload packets
//!   are, for every flow, as whole rows of the flow CSV.

use std::{collections::HashMap, fs::File, io::BufWriter, path::Path, time::Duration};

use packetguard::{
    capture::{CaptureReader, Consumer, HostTotals, OfflineSettings, OfflineSource},
    datapath::{drain::Event, flow_table::Removed},
    flows::csv::FlowCsvWriter,
    pipeline::sinks::rows::RowSink,
};

use crate::{
    capture::read_csv,
    collect_agent::Collector,
    lab::{Lab, SERVER_V4, SERVER_V6},
    prometheus_scrape::wait_for,
};

/// Columns compared: everything but times, reasons and record counts.
const COMPARED: [&str; 25] = [
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "protocol",
    "fwd_packets",
    "bwd_packets",
    "fwd_bytes",
    "bwd_bytes",
    "pkt_len_min",
    "pkt_len_max",
    "pkt_len_mean",
    "pkt_len_std",
    "fin_count",
    "syn_count",
    "rst_count",
    "psh_count",
    "ack_count",
    "urg_count",
    "ece_count",
    "cwr_count",
    "init_win_fwd",
    "init_win_bwd",
    "payload_packets",
    "prior_login_attempts",
];

fn projected(rows: &[HashMap<String, String>]) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = rows
        .iter()
        .map(|r| COMPARED.iter().map(|c| r[*c].clone()).collect())
        .collect();
    v.sort();
    v
}

/// The rows `collect` writes, from the offline source: its own row sink.
struct Rows(RowSink<BufWriter<File>>);

impl Consumer for Rows {
    type Error = std::io::Error;
    fn event(&mut self, ev: Event<'_>) -> Result<(), Self::Error> {
        match ev {
            Event::Flow(rec) => self.0.record(rec),
            Event::FlowStart(start) => {
                self.0.flow_start(start);
                Ok(())
            }
            Event::Sample(_) => Ok(()),
        }
    }
    fn removed(&mut self, r: &Removed) -> Result<(), Self::Error> {
        self.0.removed(r)
    }
    fn window_close(&mut self, _: u64, _: &HostTotals) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The flow CSV the offline library makes of `capture`, written to `csv`.
fn offline_rows(capture: &Path, csv: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = CaptureReader::open(capture).unwrap();
    let mut source = OfflineSource::new(OfflineSettings::default());
    let out = FlowCsvWriter::new(BufWriter::new(File::create(csv).unwrap())).unwrap();
    let mut rows = Rows(RowSink::new(out, false));
    let stopped = source.run(&mut reader, &mut rows).unwrap();
    assert!(stopped.is_none(), "{stopped:?}");
    source.finish(&mut rows).unwrap();
    rows.0.finish().unwrap();
    let counts = source.counts();
    assert_eq!(counts.parse_errors + counts.non_ip, 0, "{counts:?}");
    read_csv(csv)
}

fn offloads_off(lab: &Lab, ns: &str, dev: &str) {
    lab.exec(
        ns,
        &[
            "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
        ],
    );
}

/// Packets `dev` in `ns` received.
fn rx_packets(lab: &Lab, ns: &str, dev: &str) -> u64 {
    let out = lab.exec(
        ns,
        &[
            "cat",
            &format!("/sys/class/net/{dev}/statistics/rx_packets"),
        ],
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn a_capture_replayed_into_the_live_agent_gives_the_flows_the_library_reads_from_it() {
    let lab = Lab::new();
    let (c, r, s) = (&lab.client, &lab.router, &lab.server);
    for (ns, dev) in [(c, "c0"), (r, "rc"), (r, "rs"), (s, "s0")] {
        offloads_off(&lab, ns, dev);
    }

    // 1. Real traffic, captured where all of it passes.
    let capture = lab.dir.join("traffic.pcap");
    let filter =
        "(host 192.0.2.2 and host 198.51.100.2) or (host 2001:db8:1::2 and host 2001:db8:2::2)";
    let mut dump = lab.spawn(
        c,
        &[
            "tcpdump",
            "-Z",
            "root",
            "--immediate-mode",
            "-U",
            "-s",
            "0",
            "-i",
            "c0",
            "-w",
            capture.to_str().unwrap(),
            filter,
        ],
    );
    dump.wait_for_stderr("listening on", 1, Duration::from_secs(15));
    let _server = lab.spawn(s, &["iperf3", "-s", "-p", "5201"]);
    lab.wait_listening(s, "5201");
    lab.exec(c, &["ping", "-c", "3", "-i", "0.2", SERVER_V4]);
    lab.exec(c, &["ping", "-c", "2", "-i", "0.2", SERVER_V6]);
    lab.exec(c, &["iperf3", "-c", SERVER_V4, "-p", "5201", "-n", "256K"]);
    lab.exec(
        c,
        &[
            "iperf3", "-c", SERVER_V4, "-p", "5201", "-u", "-n", "30K", "-b", "2M",
        ],
    );
    lab.exec(c, &["iperf3", "-c", SERVER_V6, "-p", "5201", "-n", "64K"]);
    dump.stop(libc::SIGINT, Duration::from_secs(10));
    let frames = {
        let mut reader = CaptureReader::open(&capture).unwrap();
        let mut n = 0u64;
        while let Some(f) = reader.next_frame() {
            f.unwrap();
            n += 1;
        }
        n
    };
    assert!(frames > 200, "only {frames} frames captured");

    // 2. Offline.
    let offline = offline_rows(&capture, &lab.dir.join("offline.csv"));

    // 3. Live: a fresh veth pair, the agent on one end (ingress), the replay on the other.
    // Created in the lab's namespaces, so it goes with them.
    let status = std::process::Command::new("ip")
        .args([
            "link", "add", "rpl", "netns", c, "type", "veth", "peer", "name", "rpa", "netns", s,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "veth pair for the replay");
    for (ns, dev) in [(c, "rpl"), (s, "rpa")] {
        lab.exec(
            ns,
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
            ],
        );
        lab.exec(ns, &["ip", "link", "set", dev, "up"]);
        offloads_off(&lab, ns, dev);
    }
    let agent = Collector::start_in(&lab, s, &["-i", "rpa", "--direction", "ingress"], 1);
    let before = rx_packets(&lab, s, "rpa");
    let out = lab.exec(
        c,
        &[
            "tcpreplay",
            "-i",
            "rpl",
            "--pps",
            "2000",
            capture.to_str().unwrap(),
        ],
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&format!("Successful packets:        {frames}")),
        "{report}"
    );
    wait_for(
        "the replayed frames at the agent",
        Duration::from_secs(10),
        || (rx_packets(&lab, s, "rpa") - before >= frames).then_some(()),
    );
    let live = agent.stop(libc::SIGTERM);
    assert!(
        live.stderr.contains(&format!("packets {frames}")),
        "{}",
        live.stderr
    );

    let (live, offline) = (projected(&live.rows), projected(&offline));
    assert!(
        offline.len() >= 6,
        "ping v4, ping v6, three iperf3 tests: {offline:?}"
    );
    assert_eq!(live, offline, "live rows, then offline rows ({COMPARED:?})");
}
