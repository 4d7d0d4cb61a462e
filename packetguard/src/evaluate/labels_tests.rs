use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Vec<AttackLabel>, LabelsError> {
    parse_labels(text.as_bytes(), Path::new("l.csv"))
}

#[test]
fn our_labels_round_trip() {
    let label = AttackLabel {
        file: None,
        attack: "syn-flood".into(),
        attacker: Some("198.18.0.0/15".parse().unwrap()),
        victim: "192.0.2.10".parse().unwrap(),
        start_ns: 1_700_000_030_000_123_000,
        end_ns: 1_700_000_039_999_871_000,
        packets: Some(20000),
        bytes: Some(1_080_000),
        spoofed: true,
    };
    let mut out = Vec::new();
    write_labels(&mut out, std::slice::from_ref(&label)).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "attack,attacker,victim,start,end,packets,bytes,spoofed\n\
         syn-flood,198.18.0.0/15,192.0.2.10,1700000030.000123000,1700000039.999871000,20000,1080000,true\n"
    );
    assert_eq!(parse(&text).unwrap(), vec![label]);
}

#[test]
fn the_captures_format_is_read_with_its_attacker_and_spoofing() {
    let text = "file,attack_type,victim,attack_bpf,window_unix_start,window_unix_end,packets,duration_s,notes\n\
        attack/pkt.syn.pcapng,SYN flood with ECN/CWR flags (spoofed),10.10.10.10 (tcp/30120 mostly),dst host 10.10.10.10,1617292545.785081,1617292580.057107,9878,34.272,x\n\
        attack/tcp_scan.pcapng,nmap scan,192.168.1.2,src host 192.168.1.178,1674583448.287506,1674583501.983146,30,53.696,\"a, b\"\n\
        attack/icmp.pcap,ICMP sweep,192.168.1.0/24,src host 192.168.1.109 and icmp[0] = 8,1664054596.398593,1664054598.020489,37,1.622,y\n";
    let l = parse(text).unwrap();
    assert_eq!(l.len(), 3);
    assert_eq!(l[0].file.as_deref(), Some("attack/pkt.syn.pcapng"));
    assert_eq!(l[0].victim.to_string(), "10.10.10.10");
    assert!(l[0].spoofed && l[0].attacker.is_none());
    assert_eq!(
        (l[0].start_ns, l[0].end_ns),
        (1_617_292_545_785_081_000, 1_617_292_580_057_107_000)
    );
    assert_eq!(l[0].packets, Some(9878));
    assert_eq!(l[1].attacker.unwrap().to_string(), "192.168.1.178");
    assert!(!l[1].spoofed);
    assert_eq!(l[2].victim.to_string(), "192.168.1.0/24");
    assert_eq!(l[2].attacker.unwrap().to_string(), "192.168.1.109");
}

#[test]
fn bad_files_are_one_line_errors() {
    let e = |t: &str| parse(t).unwrap_err().to_string();
    assert_eq!(e(""), "labels l.csv name no attack");
    assert_eq!(
        e("attack,attacker,victim,start,end\n\n"),
        "labels l.csv name no attack"
    );
    assert_eq!(
        e("a,b\n1,2\n"),
        "labels l.csv: wrong header 'a,b' (expected 'attack,attacker,victim,start,end,packets,bytes,spoofed' or one with file,attack_type,victim,attack_bpf,window_unix_start,window_unix_end)"
    );
    assert_eq!(
        e("attack,attacker,victim,start,end\nsyn-flood,,192.0.2.1,12.5,x\n"),
        "labels l.csv line 2: end 'x' is not seconds since the epoch"
    );
    assert_eq!(
        e("attack,attacker,victim,start,end\nsyn-flood,,192.0.2.1,13,12\n"),
        "labels l.csv line 2: the window ends before it starts"
    );
    assert_eq!(
        e("attack,attacker,victim,start,end\nsyn-flood,,host,1,2\n"),
        "labels l.csv line 2: victim: 'host' is not an address or address/prefix"
    );
}

#[test]
fn epoch_seconds_are_exact_to_the_nanosecond() {
    assert_eq!(parse_epoch("1.5"), Some(1_500_000_000));
    assert_eq!(parse_epoch("12"), Some(12_000_000_000));
    assert_eq!(parse_epoch("0.000000001"), Some(1));
    assert_eq!(parse_epoch("1.0000000001"), None);
    assert_eq!(parse_epoch("-1"), None);
    assert_eq!(format_epoch(1_500_000_000), "1.500000000");
}

#[test]
fn a_capture_gets_the_labels_naming_its_file() {
    let text = "file,attack_type,victim,attack_bpf,window_unix_start,window_unix_end\n\
        attack/a.pcap,flood,192.0.2.1,,1,2\n\
        attack/b.pcapng,scan,192.0.2.2,,3,4\n";
    let all = parse(text).unwrap();
    let b = labels_of(all.clone(), Path::new("/data/b.pcapng"), Path::new("l.csv")).unwrap();
    assert_eq!(
        b.iter().map(|l| l.attack.as_str()).collect::<Vec<_>>(),
        ["scan"]
    );
    assert_eq!(
        labels_of(all, Path::new("c.pcap"), Path::new("l.csv"))
            .unwrap_err()
            .to_string(),
        "labels l.csv name no attack in c.pcap"
    );
    let ours = parse("attack,attacker,victim,start,end\nsyn-flood,,192.0.2.1,1,2\n").unwrap();
    assert_eq!(
        labels_of(ours.clone(), Path::new("x.pcap"), Path::new("l.csv")).unwrap(),
        ours
    );
}
