//! A stalled agent does not invent anomalies: stopped (SIGSTOP) for a few seconds under
//! steady traffic and resumed, it scores each window on its real length and never one
//! shorter than half a second, so the seconds after the stall read like the ones before.

use std::{process::Command, time::Duration};

use crate::{
    capture::read_events,
    collect_agent::start_run,
    lab::{Lab, SERVER_V4},
};

#[test]
fn a_stall_under_steady_traffic_raises_no_window_anomaly() {
    let lab = Lab::new();
    let events = lab.dir.join("events.jsonl");
    let mut agent = start_run(&lab, &lab.server, "s0", &events, &[]);
    // For 8 s (bounded by count): 100 echo requests a second, answered by the server.
    let mut ping = lab.spawn(
        &lab.client,
        &["ping", "-q", "-c", "800", "-i", "0.01", SERVER_V4],
    );
    std::thread::sleep(Duration::from_millis(2500));
    let pid = agent.pid().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(ok.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_millis(3000));
    signal("-CONT");
    std::thread::sleep(Duration::from_millis(2500));
    ping.wait(Duration::from_secs(20));
    agent.stop(libc::SIGTERM, Duration::from_secs(20));
    let got = read_events(&events);
    let windows: Vec<_> = got
        .iter()
        .filter(|e| e["detector"] == "host" || e["detector"] == "source")
        .collect();
    assert!(windows.is_empty(), "no window anomaly: {windows:?}");
}
