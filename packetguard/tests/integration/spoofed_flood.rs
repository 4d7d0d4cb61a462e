//! Under a flood that cycles source addresses (all of 198.18.0.0/15) and destination
//! addresses (250 of 203.0.113.0/24) for a minute, with the agent confined to 256 MiB by a
//! memory cgroup: it is not killed for memory, its events stay within the global budget,
//! the victim's anomaly still fires, `/metrics` answers within a second throughout, and
//! SIGTERM ends it within 20 s.
//!
//! The limit is the memory cgroup's (`memory.limit_in_bytes`, what systemd's `MemoryMax=`
//! sets), written directly because the lab machine runs no systemd manager to ask.

use std::{
    net::Ipv4Addr,
    path::PathBuf,
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;

use crate::{
    capture::read_events,
    collect_agent::{BIN, METRICS_ADDR},
    lab::{in_ns, Lab, SERVER_V4},
    raw_ip::{Probe, RawFlood, Sources},
};

const LIMIT_BYTES: u64 = 256 << 20;
const FLOOD: Duration = Duration::from_secs(60);

/// A memory cgroup (v1) of the test's own, removed on drop.
struct MemoryCgroup(PathBuf);

impl MemoryCgroup {
    fn new(name: &str, limit: u64) -> MemoryCgroup {
        let dir = PathBuf::from("/sys/fs/cgroup/memory").join(name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let cg = MemoryCgroup(dir);
        std::fs::write(cg.0.join("memory.limit_in_bytes"), limit.to_string()).unwrap();
        cg
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    fn read(&self, file: &str) -> u64 {
        std::fs::read_to_string(self.0.join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Only empty cgroups can go; the agent has exited (or been killed) by now.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn scrape_within_a_second(lab: &Lab) -> Duration {
    let t = Instant::now();
    let out = lab.output(
        &lab.server,
        &[
            "curl",
            "-sS",
            "--max-time",
            "1",
            &format!("http://{METRICS_ADDR}/metrics"),
        ],
    );
    let took = t.elapsed();
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "no scrape within 1 s: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

#[test]
fn a_minute_of_spoofed_sources_and_destinations_stays_bounded_and_still_names_the_victim() {
    let lab = Lab::new();
    lab.route_via_client("198.18.0.0/15");
    let first_dst = lab.add_server_addresses(Ipv4Addr::new(203, 0, 113, 0), 250)[0];
    let events = lab.dir.join("events.jsonl");
    let cgroup = MemoryCgroup::new(
        &format!("packetguard-test-{}", std::process::id()),
        LIMIT_BYTES,
    );
    let mut agent = lab.spawn(
        &lab.server,
        &[
            BIN,
            "run",
            "-i",
            "s0",
            "--metrics-addr",
            METRICS_ADDR,
            "--events",
            events.to_str().unwrap(),
        ],
    );
    // Moved in from outside: `ip netns exec` mounts its own /sys, without the cgroup tree.
    // Loading (the verifier) takes far longer than this write, so the maps are charged
    // here, but that is not guaranteed.
    cgroup.add(agent.pid());
    agent.wait_for_stderr("attached:", 1, Duration::from_secs(30));
    let spoofed = Sources::Spoofed {
        first: Ipv4Addr::new(198, 18, 0, 1),
        count: (1 << 17) - 2,
    };
    let at_victim = RawFlood {
        sources: spoofed,
        dst: SERVER_V4.parse().unwrap(),
        dst_count: 1,
        probe: Probe::Syn { dst_port: 8080 },
        rate: 2000,
        count: 2000 * FLOOD.as_secs(),
        limit: FLOOD + Duration::from_secs(5),
    };
    let everywhere = RawFlood {
        dst: first_dst,
        dst_count: 250,
        probe: Probe::Syn { dst_port: 443 },
        ..at_victim
    };
    let start = SystemTime::now();
    let mut slowest = Duration::ZERO;
    std::thread::scope(|s| {
        let a = s.spawn(|| in_ns(&lab.client, || at_victim.send()));
        let b = s.spawn(|| in_ns(&lab.client, || everywhere.send()));
        while !(a.is_finished() && b.is_finished()) {
            std::thread::sleep(Duration::from_secs(5));
            slowest = slowest.max(scrape_within_a_second(&lab));
        }
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        eprintln!(
            "flood: {} + {} packets in {:.1} s",
            a.packets,
            b.packets,
            a.elapsed.as_secs_f64().max(b.elapsed.as_secs_f64())
        );
        assert!(a.packets + b.packets >= 200_000, "the flood ran");
    });
    let secs = start.elapsed().unwrap().as_secs_f64();
    let peak = cgroup.read("memory.max_usage_in_bytes");
    eprintln!(
        "agent memory peak {:.1} MiB of {} MiB; slowest scrape {slowest:?}",
        peak as f64 / (1 << 20) as f64,
        LIMIT_BYTES >> 20
    );
    assert_eq!(
        cgroup.read("memory.failcnt"),
        0,
        "the agent hit its memory limit"
    );

    let t = Instant::now();
    let status = agent.stop(libc::SIGTERM, Duration::from_secs(20));
    assert!(
        status.success(),
        "agent exited {status}: {}",
        agent.stderr()
    );
    eprintln!("SIGTERM to exit: {:?}", t.elapsed());

    let all = read_events(&events);
    let budget = 100.0 * (secs + 5.0);
    assert!(
        (all.len() as f64) <= budget,
        "{} events in {secs:.0} s, over the budget of 100/s",
        all.len()
    );
    let victim = all
        .iter()
        .any(|e: &Value| e["detector"] == "host" && e["host"] == SERVER_V4);
    assert!(victim, "the victim's anomaly fired: {} events", all.len());
}
