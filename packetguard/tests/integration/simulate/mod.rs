//! `packetguard simulate` on captures the tests write themselves: every original packet
//! comes back unchanged and in order, the attacks add exactly the packets their scripts
//! promise, well formed (parsed back with etherparse, checksums verified), and the labels
//! match what was written. No privileges needed.

pub mod support;

use std::fs;
use std::net::IpAddr;
use std::time::Duration;

use pcap_file::DataLink;

use crate::collect_agent::{assert_ok, one_line_error, packetguard};
use support::*;

#[test]
fn attacks_are_merged_into_an_unchanged_capture_with_matching_labels() {
    let dir = Scratch::new("merge");
    let input = dir.path("in.pcap");
    let lab = lab_packets();
    write_pcap(&input, DataLink::ETHERNET, &lab);
    let (original, synthetic, labels) = simulate(
        &dir,
        &input,
        true,
        &[
            "--attack",
            "syn-flood:rate=100",
            "--attack",
            "brute-force:rate=2",
            "--attack",
            "exfiltration:rate=50,duration=2",
            "--seed",
            "9",
        ],
    );
    let expected: Frames = lab
        .iter()
        .map(|(t, d)| (*t, d.len() as u32, d.clone()))
        .collect();
    assert_eq!(
        original, expected,
        "every original packet, unchanged, in order"
    );

    let of = |a: &str| {
        synthetic
            .iter()
            .filter(|p| p.src.to_string() == a || p.dst.to_string() == a)
            .collect::<Vec<_>>()
    };
    let server: IpAddr = IpAddr::from(SERVER);
    // The default victim is the busiest destination; the default start 30% of 149.5 s.
    let start = Duration::from_nanos(T0 * 1_000_000_000 + 17_000 + 44_850_000_000);

    // syn-flood: 100/s for 10 s, bare SYNs to port 80 of the victim, in its Ethernet frame.
    let syn = of("203.0.113.66");
    assert_eq!(syn.len(), 1000);
    assert!(syn
        .iter()
        .all(|p| p.dst == server && p.dst_port == 80 && p.flags == "S" && p.payload == 0));
    assert!(syn.iter().all(|p| p.eth == Some((CLIENT_MAC, SERVER_MAC))));
    assert!(syn[0].ts >= start && syn[0].ts < start + Duration::from_millis(5));

    // brute-force: 2/s for 10 s, 12 packets each to port 22, opened and closed.
    let brute = of("203.0.113.67");
    assert_eq!(brute.len(), 20 * 12);
    let to_22: Vec<&&Parsed> = brute.iter().filter(|p| p.dst_port == 22).collect();
    assert_eq!(to_22.len(), 20 * 7);
    let first: Vec<&str> = brute
        .iter()
        .filter(|p| p.src_port == brute[0].src_port || p.dst_port == brute[0].src_port)
        .map(|p| p.flags.as_str())
        .collect();
    assert_eq!(
        first,
        ["S", "S.", ".", "P.", "P.", "P.", "P.", "P.", "P.", "F.", "F.", "."]
    );

    // exfiltration: 50 segments/s for 2 s from the victim, each acknowledged every 2nd,
    // plus handshake and close: 100 + 50 + 6.
    let exfil = of("203.0.113.68");
    assert_eq!(exfil.len(), 156);
    let data: Vec<&&Parsed> = exfil
        .iter()
        .filter(|p| p.src == server && p.payload == 1448)
        .collect();
    assert_eq!(data.len(), 100);
    assert!(data
        .iter()
        .all(|p| p.dst_port == 443 && p.eth == Some((SERVER_MAC, CLIENT_MAC))));

    assert_eq!(labels.len(), 3);
    for (label, (name, packets)) in labels.iter().zip([
        ("syn-flood", &syn),
        ("brute-force", &brute),
        ("exfiltration", &exfil),
    ]) {
        assert_eq!(label.attack, name);
        assert_eq!(label.victim.to_string(), "192.0.2.10");
        assert_eq!(label.packets, Some(packets.len() as u64));
        assert_eq!(label.start_ns, packets[0].ts.as_nanos() as u64);
        assert_eq!(
            label.end_ns,
            packets.iter().map(|p| p.ts).max().unwrap().as_nanos() as u64
        );
        assert!(!label.spoofed);
    }
}

#[test]
fn scans_and_spoofed_floods_have_their_shape() {
    let dir = Scratch::new("shape");
    let input = dir.path("in.pcap");
    write_pcap(&input, DataLink::ETHERNET, &lab_packets());
    let (_, synthetic, labels) = simulate(
        &dir,
        &input,
        true,
        &[
            "--attack",
            "vertical-scan:rate=100",
            "--attack",
            "horizontal-scan:rate=127,port=443,duration=4",
            "--attack",
            "syn-flood:rate=100,spoofed",
            "--duration",
            "3",
            "--victim",
            "192.0.2.10",
        ],
    );
    // vertical: 300 SYNs to 300 distinct ports of the victim, each answered by a reset
    // (nothing listens there in the capture).
    let vertical: Vec<&Parsed> = synthetic
        .iter()
        .filter(|p| p.src.to_string() == "203.0.113.66" || p.dst.to_string() == "203.0.113.66")
        .collect();
    assert_eq!(vertical.len(), 600);
    let mut ports: Vec<u16> = vertical
        .iter()
        .filter(|p| p.flags == "S")
        .map(|p| p.dst_port)
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, (1..=300).collect::<Vec<u16>>());
    assert_eq!(vertical.iter().filter(|p| p.flags == "R.").count(), 300);
    // horizontal: 508 SYNs to port 443 across the /24, each of its 254 addresses twice;
    // only the victim answers, with a reset each time.
    let horizontal: Vec<&Parsed> = synthetic
        .iter()
        .filter(|p| p.src.to_string() == "203.0.113.67" || p.dst.to_string() == "203.0.113.67")
        .collect();
    let probes: Vec<&&Parsed> = horizontal.iter().filter(|p| p.flags == "S").collect();
    assert_eq!(probes.len(), 508);
    assert!(probes
        .iter()
        .all(|p| p.dst_port == 443 && p.dst.to_string().starts_with("192.0.2.")));
    let mut targets: Vec<String> = probes.iter().map(|p| p.dst.to_string()).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), 254);
    assert_eq!(horizontal.len(), 510);
    let resets: Vec<&&Parsed> = horizontal.iter().filter(|p| p.flags == "R.").collect();
    assert_eq!(resets.len(), 2);
    assert!(resets.iter().all(|p| p.src.to_string() == "192.0.2.10"));
    assert_eq!(labels[1].victim.to_string(), "192.0.2.0/24");
    // spoofed syn-flood: 300 SYNs from forged sources in 198.18.0.0/15 to the victim.
    let spoofed: Vec<&Parsed> = synthetic
        .iter()
        .filter(|p| p.src.to_string().starts_with("198.1"))
        .collect();
    assert_eq!(spoofed.len(), 300);
    assert!(spoofed
        .iter()
        .all(|p| p.dst.to_string() == "192.0.2.10" && p.dst_port == 80 && p.flags == "S"));
    let mut sources: Vec<IpAddr> = spoofed.iter().map(|p| p.src).collect();
    sources.sort();
    sources.dedup();
    assert!(
        sources.len() > 290,
        "forged sources are random: {} distinct",
        sources.len()
    );
    assert_eq!(labels[2].attacker.unwrap().to_string(), "198.18.0.0/15");
    assert!(labels[2].spoofed);
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let dir = Scratch::new("seed");
    let input = dir.path("in.pcap");
    write_pcap(&input, DataLink::ETHERNET, &lab_packets());
    let run = |seed: &str, out: &str| {
        let (o, l) = (dir.path(out), dir.path(&format!("{out}.csv")));
        assert_ok(&packetguard(&[
            "simulate",
            "--input",
            &input,
            "--attack",
            "udp-flood:rate=50,spoofed",
            "--attack",
            "brute-force",
            "--seed",
            seed,
            "--out",
            &o,
            "--labels",
            &l,
        ]));
        (fs::read(o).unwrap(), fs::read(l).unwrap())
    };
    let a = run("3", "a");
    assert_eq!(a, run("3", "b"));
    assert_ne!(a.0, run("4", "c").0);
}

#[test]
fn raw_ip_captures_get_raw_ip_frames() {
    let dir = Scratch::new("raw");
    let input = dir.path("in.pcap");
    let raw: Vec<(Duration, Vec<u8>)> = lab_packets()
        .into_iter()
        .map(|(t, f)| (t, f[14..].to_vec()))
        .collect();
    write_pcap(&input, DataLink::RAW, &raw);
    let (original, synthetic, _) = simulate(
        &dir,
        &input,
        false,
        &["--attack", "syn-flood:rate=10", "--duration", "1"],
    );
    assert_eq!(original.len(), raw.len());
    assert_eq!(synthetic.len(), 10);
    assert!(synthetic.iter().all(|p| p.eth.is_none() && p.flags == "S"));
}

#[test]
fn bad_inputs_are_one_line_errors_and_a_truncated_capture_is_used_up_to_its_cut() {
    let dir = Scratch::new("bad");
    let wifi = dir.path("wifi.pcap");
    write_pcap(&wifi, DataLink::IEEE802_11_RADIOTAP, &lab_packets()[..3]);
    let run = |input: &str| {
        packetguard(&[
            "simulate",
            "--input",
            input,
            "--attack",
            "syn-flood",
            "--out",
            &dir.path("o.pcap"),
            "--labels",
            &dir.path("l.csv"),
        ])
    };
    assert_eq!(
        one_line_error(&run(&wifi)),
        format!("error: {wifi}: link type 127 (IEEE802_11_RADIOTAP) is not supported; Ethernet (1), raw IP (101, 228, 229) and Linux cooked captures (113, 276) are")
    );
    let text = dir.path("notes.txt");
    fs::write(&text, "hello\n").unwrap();
    assert_eq!(
        one_line_error(&run(&text)),
        format!("error: {text} is neither a pcap/pcapng capture nor a packetguard flow CSV (its first line is not the flow header)")
    );
    let bad_flag = packetguard(&[
        "simulate",
        "--input",
        &wifi,
        "--attack",
        "syn-flood:rate=fast",
        "--out",
        "o",
        "--labels",
        "l",
    ]);
    assert_eq!(
        one_line_error(&bad_flag),
        "error: invalid value 'syn-flood:rate=fast' for '--attack <KIND[:OPTIONS]>': rate 'fast': not a number; see --help"
    );

    // Cut inside the 101st packet: 24-byte header, then 16 + 154 bytes per packet.
    let full = dir.path("full.pcap");
    let lab = lab_packets();
    write_pcap(&full, DataLink::ETHERNET, &lab);
    let cut = dir.path("cut.pcap");
    fs::write(&cut, &fs::read(&full).unwrap()[..24 + 100 * 170 + 30]).unwrap();
    let (o, l) = (dir.path("o.pcap"), dir.path("l.csv"));
    let out = packetguard(&[
        "simulate",
        "--input",
        &cut,
        "--attack",
        "syn-flood:rate=10,start=5",
        "--duration",
        "1",
        "--out",
        &o,
        "--labels",
        &l,
    ]);
    assert_ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        // The capture reader's own words, as `analyze` prints them.
        format!("warning: {cut}: stopped at packet 101 (byte offset 17024): the file ends inside it; the 100 packets before it were read; wrote what was read")
    );
    let packets = read_pcap(&o);
    assert_eq!(packets.len(), 110);
}

#[test]
fn a_flow_csv_gets_one_row_per_attack_flow() {
    let dir = Scratch::new("flows");
    let input = dir.path("flows.csv");
    let header = packetguard::flows::csv::header();
    let rows: Vec<String> = (0..100)
        .map(|i| {
            let start_ms = T0 * 1000 + i * 1000;
            format!(
                "192.0.2.1,192.0.2.10,{},8080,6,{start_ms},end,1{}",
                40000 + i,
                ",5".repeat(packetguard_common::features::N_FLOW_ROW_FEATURES)
            )
        })
        .collect();
    fs::write(&input, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    let (out, labels) = (dir.path("out.csv"), dir.path("labels.csv"));
    assert_ok(&packetguard(&[
        "simulate",
        "--input",
        &input,
        "--attack",
        "brute-force:rate=1",
        "--attack",
        "syn-flood:rate=5,start=50",
        "--duration",
        "3",
        "--out",
        &out,
        "--labels",
        &labels,
    ]));
    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], header);
    let original: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .filter(|l| l.starts_with("192.0.2.1,"))
        .collect();
    assert_eq!(
        original,
        rows.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let col = |l: &str, name: &str| {
        l.split(',')
            .nth(header.split(',').position(|c| c == name).unwrap())
            .unwrap()
            .to_string()
    };
    let brute: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("203.0.113.66,192.0.2.10,"))
        .collect();
    assert_eq!(brute.len(), 3);
    // One guess a second, counted as the agent counts them from flow starts: the second
    // follows the first inside the 2 s login window; the first may or may not still be
    // inside it for the third, by how the schedule spaces them.
    let priors: Vec<String> = brute
        .iter()
        .map(|l| col(l, "prior_login_attempts"))
        .collect();
    assert_eq!(priors[..2], ["0", "1"]);
    assert!(priors[2] == "1" || priors[2] == "2", "{priors:?}");
    for l in &brute {
        assert_eq!(
            (col(l, "dst_port"), col(l, "end_reason")),
            ("22".into(), "end".into())
        );
        assert_eq!(
            (
                col(l, "fwd_packets"),
                col(l, "bwd_packets"),
                col(l, "syn_count")
            ),
            ("7".into(), "5".into(), "2".into())
        );
    }
    let syn: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("203.0.113.67,192.0.2.10,"))
        .collect();
    assert_eq!(syn.len(), 15);
    assert!(syn.iter().all(|l| col(l, "fwd_packets") == "1"
        && col(l, "syn_count") == "1"
        && col(l, "fwd_bytes") == "54"));
    // Rows go in before the first input row that starts later.
    let starts: Vec<u64> = lines[1..]
        .iter()
        .map(|l| col(l, "start_unix_ms").parse().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    let labels = packetguard::evaluate::read_labels(std::path::Path::new(&labels)).unwrap();
    assert_eq!(
        labels.iter().map(|l| l.packets).collect::<Vec<_>>(),
        [Some(36), Some(15)]
    );
    assert_eq!(labels[1].start_ns / 1_000_000_000, T0 + 50);
}

#[test]
fn ipv6_pcapng_captures_get_ipv6_attacks_on_their_clock() {
    let dir = Scratch::new("v6");
    let input = dir.path("in.pcapng");
    let lab = write_ipv6_pcapng(&input);
    let (original, synthetic, labels) = simulate(
        &dir,
        &input,
        true,
        &[
            "--attack",
            "syn-flood:rate=20,spoofed",
            "--attack",
            "udp-flood:rate=10,port=53",
            "--duration",
            "2",
        ],
    );
    let expected: Frames = lab
        .iter()
        .map(|(t, d)| (*t, d.len() as u32, d.clone()))
        .collect();
    assert_eq!(
        original, expected,
        "both interfaces' clocks read to the nanosecond"
    );
    let victim: IpAddr = "2001:db8::10".parse().unwrap();
    let syn: Vec<&Parsed> = synthetic.iter().filter(|p| p.flags == "S").collect();
    assert_eq!(syn.len(), 40);
    assert!(syn.iter().all(|p| p.dst == victim
        && p.dst_port == 80
        && p.src.to_string().starts_with("2001:db8:59")));
    let udp: Vec<&Parsed> = synthetic.iter().filter(|p| p.flags == "udp").collect();
    assert_eq!(udp.len(), 20);
    assert!(udp
        .iter()
        .all(|p| p.src.to_string() == "2001:db8:bad::67" && p.dst_port == 53 && p.payload == 512));
    assert_eq!(synthetic.len(), 60);
    assert_eq!(
        labels[0].attacker.unwrap().to_string(),
        "2001:db8:5900::/40"
    );
    assert_eq!(labels[1].victim.to_string(), "2001:db8::10");
}
