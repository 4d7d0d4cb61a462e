//! Event output never stops detection: with events going to a full device, to a pipe
//! nobody reads, or to a file system that fills up, the agent keeps draining and scoring,
//! counts what it could not write in `packetguard_events_dropped_total`, resumes writing
//! when the sink takes lines again, and exits promptly on SIGTERM.

use std::{
    os::fd::{FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use crate::{
    collect_agent::{start_run, BIN, METRICS_ADDR},
    lab::{Lab, Proc, SERVER_V4},
};

/// Rules that match every window with a packet, for every address, in both roles: a
/// steady stream of events while the lab pings, whatever the models think.
const EVERY_WINDOW: &str = r#"
event_rate_limit = 1000
[[rules]]
name = "any-destination"
feature = "packets_per_s"
above = 0
[[rules]]
name = "any-source"
window = "source"
feature = "packets_per_s"
above = 0
"#;

/// Writes [`EVERY_WINDOW`] into the lab's directory.
fn every_window_config(lab: &Lab) -> PathBuf {
    let config = lab.dir.join("every.toml");
    std::fs::write(&config, EVERY_WINDOW).unwrap();
    config
}

fn start(lab: &Lab, events: &str) -> Proc {
    let config = every_window_config(lab);
    start_run(
        lab,
        &lab.server,
        "s0",
        Path::new(events),
        &["--config", config.to_str().unwrap()],
    )
}

/// Pings the server for about `secs` seconds (bounded by count).
fn traffic(lab: &Lab, secs: u32) {
    let count = (secs * 10).to_string();
    lab.exec(
        &lab.client,
        &["ping", "-q", "-c", &count, "-i", "0.1", SERVER_V4],
    );
}

/// One sample of the agent's metrics (from inside the server namespace).
fn metric(lab: &Lab, series: &str) -> f64 {
    let out = lab.exec(
        &lab.server,
        &[
            "curl",
            "-sS",
            "--max-time",
            "5",
            &format!("http://{METRICS_ADDR}/metrics"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the metrics"))
}

const FAILED: &str = "packetguard_events_dropped_total{reason=\"write_failed\"}";
const LOST: &str = "packetguard_ringbuf_lost_total";
const MATCHES: &str = "packetguard_anomalies_total{detector=\"threshold\"}";

#[test]
fn events_to_a_full_device_are_counted_and_detection_goes_on() {
    let lab = Lab::new();
    let mut agent = start(&lab, "/dev/full");
    traffic(&lab, 4);
    std::thread::sleep(Duration::from_millis(1500));
    let (failed, matches) = (metric(&lab, FAILED), metric(&lab, MATCHES));
    assert!(matches >= 4.0, "the rules kept matching: {matches}");
    assert_eq!(
        failed, matches,
        "every threshold event failed to write and was counted"
    );
    assert_eq!(metric(&lab, LOST), 0.0);
    traffic(&lab, 2);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(metric(&lab, MATCHES) > matches, "still detecting");
    let status = agent.stop(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.success(), "{}", agent.stderr());
}

#[test]
fn a_pipe_nobody_reads_does_not_stop_detection_or_shutdown() {
    let lab = Lab::new();
    // A 4 KiB pipe whose read end stays open and is never read.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    assert!(unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096) } >= 4096);
    let config = every_window_config(&lab);
    let stderr = lab.dir.join("agent.stderr");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.server,
            BIN,
            "run",
            "-i",
            "s0",
            "--config",
        ])
        .arg(&config)
        .args(["--metrics-addr", METRICS_ADDR, "--events", "-"])
        .stdout(Stdio::from(write_end))
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&stderr)
        .unwrap_or_default()
        .contains("attached:")
    {
        assert!(std::time::Instant::now() < deadline, "agent did not attach");
        std::thread::sleep(Duration::from_millis(50));
    }
    traffic(&lab, 8);
    std::thread::sleep(Duration::from_millis(1200));
    let matches = metric(&lab, MATCHES);
    assert!(
        matches >= 20.0,
        "more events than the pipe holds: {matches}"
    );
    assert_eq!(metric(&lab, LOST), 0.0);
    let start = std::time::Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&stderr).unwrap()
    );
    let text = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        text.contains("the events still queued are dropped"),
        "{text}"
    );
    drop(read_end);
}

#[test]
fn a_full_file_system_drops_and_counts_then_writing_resumes() {
    let lab = Lab::new();
    let mnt = lab.dir.join("tiny");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_str().unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4k", "tiny", m])
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs");
    // Unmounted however the test ends.
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(m.to_string());
    let file = mnt.join("events.jsonl");
    let mut agent = start(&lab, file.to_str().unwrap());
    traffic(&lab, 8);
    std::thread::sleep(Duration::from_millis(1200));
    let failed = metric(&lab, FAILED);
    assert!(failed >= 1.0, "the full file system refused some: {failed}");
    let full = std::fs::metadata(&file).unwrap().len();
    assert!(full <= 4096, "{full}");
    // Room again: the next events are written.
    let ok = Command::new("mount")
        .args(["-o", "remount,size=1m", m])
        .status()
        .unwrap();
    assert!(ok.success());
    traffic(&lab, 3);
    std::thread::sleep(Duration::from_millis(1200));
    let grown = std::fs::metadata(&file).unwrap().len();
    assert!(grown > full, "writing resumed: {full} -> {grown}");
    let status = agent.stop(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.success(), "{}", agent.stderr());
}
