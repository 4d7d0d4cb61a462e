//! Several files read one after another are one capture, and progress is reported.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use super::{flows::traffic, fold_file, frames::pcap, Collected};
use crate::capture::{CaptureReader, OfflineSettings, OfflineSource, Progress};

fn reader(name: &str, bytes: Vec<u8>) -> CaptureReader {
    CaptureReader::from_reader(Path::new(name), Box::new(std::io::Cursor::new(bytes))).unwrap()
}

#[test]
fn files_in_sequence_fold_as_one_capture() {
    let frames = traffic();
    let (whole, whole_counts, _) = fold_file("all.pcap", pcap(1, &frames));
    // Cut inside the TCP connection: its flow goes on across the files.
    let (first, second) = frames.split_at(4);
    let mut source = OfflineSource::new(OfflineSettings::default());
    let mut out = Collected::default();
    for (name, part) in [("a.pcap", first), ("b.pcap", second)] {
        let Ok(stopped) = source.run(&mut reader(name, pcap(1, part)), &mut out);
        assert!(stopped.is_none());
    }
    let Ok(counts) = source.finish(&mut out);
    assert_eq!(out.records, whole.records);
    assert_eq!(out.starts, whole.starts);
    assert_eq!(out.windows, whole.windows);
    assert_eq!(counts, whole_counts);
}

#[test]
fn progress_is_reported_every_n_packets_with_the_counts_so_far() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut source = OfflineSource::new(OfflineSettings::default());
    source.set_progress(Progress {
        every: 5,
        report: Box::new(move |c| log.lock().unwrap().push((c.packets, c.flows.created))),
    });
    let mut out = Collected::default();
    let Ok(_) = source.run(&mut reader("p.pcap", pcap(1, &traffic())), &mut out);
    // 17 packets: after the 5th (the TCP flow), 10th (and UDP), 15th (ICMP, IPv6, VLAN).
    assert_eq!(*seen.lock().unwrap(), vec![(5, 1), (10, 2), (15, 5)]);
}
