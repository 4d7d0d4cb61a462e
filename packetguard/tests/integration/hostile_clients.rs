//! The agent's metrics server against hostile clients: `packetguard run` on the server
//! namespace's `s0` with the shipped models, 2,000 idle connections and slowloris clients
//! (one header byte per second) to its metrics port on that namespace's loopback. A new
//! scrape must still be answered within a second, the connections the server closed must
//! be counted, and SIGTERM must end the agent within 5 s while the clients hold every
//! connection open.
//!
//! Every loop is bounded in count and time; the lab's namespaces go when the test ends.

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use crate::{
    collect_agent::{assert_detached_in, default_models, start_run, METRICS_ADDR},
    lab::{in_ns, Lab},
};

/// Connections that connect and send nothing.
const IDLE: usize = 2000;
/// Connections that send a request head one byte per second.
const SLOW: usize = 50;
/// Scrapes while the hostile connections are held, one a second.
const SCRAPES: usize = 3;
/// The functional bound on one scrape under this load. Generous for a loaded 2-core
/// machine (an unloaded one answers in milliseconds), far below Prometheus's default
/// 10 s scrape timeout.
const SCRAPE_BOUND: Duration = Duration::from_secs(1);
/// How long SIGTERM may take to end the agent.
const EXIT_BOUND: Duration = Duration::from_secs(5);

/// Raises this process's open-file limit to at least `needed` descriptors (root may raise
/// the hard limit too).
fn raise_nofile(needed: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur >= needed {
        return;
    }
    lim.rlim_cur = needed;
    lim.rlim_max = lim.rlim_max.max(needed);
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(
        rc,
        0,
        "RLIMIT_NOFILE {needed}: {}",
        std::io::Error::last_os_error()
    );
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_nonblocking(true).unwrap();
    s
}

/// Whether the server closed `s` (end of stream or reset), without waiting. Whatever the
/// server sent before closing is read and ignored; at most a few reads.
fn closed_by_server(mut s: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
    false
}

/// One `GET /metrics` on a new connection; the response and how long it took from the
/// connect to the last byte.
fn scrape(addr: SocketAddr) -> (String, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("scrape connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("scrape read: {e}"));
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

/// The value of the sample line `series` (name plus labels) of a scrape.
fn value(text: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {series} in: {text}")) as u64
}

/// Sends the next byte of a request head to every slow connection once a second until
/// `stop`, at most `SLOW_SECONDS` times. Write errors (the server closed it) are ignored.
fn trickle(slow: &[TcpStream], stop: &AtomicBool) {
    const HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    const SLOW_SECONDS: usize = 30;
    for i in 0..SLOW_SECONDS {
        let byte = HEAD.get(i).copied().unwrap_or(b'a');
        for mut s in slow {
            let _ = s.write(&[byte]);
        }
        // One second, in steps, so `stop` is seen soon.
        for _ in 0..20 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn metrics_server_answers_scrapes_counts_closes_and_exits_promptly_under_idle_and_slow_clients() {
    raise_nofile((IDLE + SLOW) as u64 + 512);
    let lab = Lab::new();
    let models = default_models();
    let events = lab.dir.join("events.jsonl");
    let mut agent = start_run(
        &lab,
        &lab.server,
        "s0",
        &events,
        &["--model", models.to_str().unwrap()],
    );
    let addr: SocketAddr = METRICS_ADDR.parse().unwrap();

    let stop = AtomicBool::new(false);
    in_ns(&lab.server, || {
        let opening = Instant::now();
        let idle: Vec<TcpStream> = (0..IDLE).map(|_| connect(addr)).collect();
        let slow: Vec<TcpStream> = (0..SLOW).map(|_| connect(addr)).collect();
        eprintln!(
            "{IDLE} idle and {SLOW} slow connections opened in {:?}",
            opening.elapsed()
        );
        std::thread::scope(|s| {
            let trickler = s.spawn(|| trickle(&slow, &stop));
            let mut text = String::new();
            let mut latencies = Vec::new();
            for _ in 0..SCRAPES {
                std::thread::sleep(Duration::from_secs(1));
                let (response, took) = scrape(addr);
                assert!(response.starts_with("HTTP/1.1 200"), "{response}");
                latencies.push(took);
                text = response;
            }
            eprintln!("scrape latency under the hostile connections: {latencies:?}");
            for took in &latencies {
                assert!(
                    *took < SCRAPE_BOUND,
                    "a scrape took {took:?}: {latencies:?}"
                );
            }

            let limit = value(&text, "packetguard_http_connections_limit");
            let open = value(&text, "packetguard_http_connections_open");
            let accepted = value(&text, "packetguard_http_connections_accepted_total");
            let rejected = value(&text, "packetguard_http_connections_rejected_total");
            let timed_out = ["idle", "header"].map(|t| {
                value(
                    &text,
                    &format!("packetguard_http_connections_timed_out_total{{timeout=\"{t}\"}}"),
                )
            });
            eprintln!(
                "limit {limit}, open {open}, accepted {accepted}, rejected {rejected}, timed out (idle, header) {timed_out:?}"
            );
            // The load is far beyond the limit; every connection reached the server
            // (the earlier scrapes too) and none is held beyond the limit.
            assert!((limit as usize) < IDLE, "limit {limit}");
            assert!(accepted >= (IDLE + SLOW + SCRAPES) as u64, "{text}");
            assert!(open <= limit, "{text}");
            // Every accepted connection is open, was closed by the server and counted,
            // or is one of the earlier scrapes, which the client closed.
            let counted = rejected + timed_out[0] + timed_out[1];
            assert_eq!(accepted, counted + open + (SCRAPES as u64 - 1), "{text}");
            // Most of them went at once, to make room for newer ones.
            assert!(rejected > 0, "{text}");

            // The counted closes are real: the clients see at least that many of their
            // connections closed by the server (bounded wait for the last ones).
            let deadline = Instant::now() + Duration::from_secs(2);
            let seen = loop {
                let seen = idle
                    .iter()
                    .chain(&slow)
                    .filter(|s| closed_by_server(s))
                    .count();
                if seen as u64 >= counted || Instant::now() > deadline {
                    break seen;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            assert!(
                seen as u64 >= counted,
                "clients saw {seen} closed, server counted {counted}"
            );
            // The slow clients are the youngest connections, inside their header timeout
            // (10 s): the server still holds them when SIGTERM comes.
            let slow_held = slow.iter().filter(|s| !closed_by_server(s)).count();
            let held = IDLE + SLOW - seen;
            eprintln!("server holds {held} hostile connections ({slow_held} slow) at SIGTERM");
            assert_eq!(slow_held, SLOW, "slow connections closed before SIGTERM");

            let start = Instant::now();
            let status = agent.stop(libc::SIGTERM, EXIT_BOUND);
            let exit = start.elapsed();
            eprintln!(
                "SIGTERM to exit with {} connections open at the clients: {exit:?}",
                IDLE + SLOW
            );
            assert!(
                status.success(),
                "agent exited {status}: {}",
                agent.stderr()
            );
            assert!(exit < EXIT_BOUND, "exit took {exit:?}");
            stop.store(true, Ordering::Relaxed);
            trickler.join().unwrap();
            // The agent's exit closed what it held.
            let deadline = Instant::now() + Duration::from_secs(2);
            while !slow.iter().all(closed_by_server) {
                assert!(
                    Instant::now() < deadline,
                    "slow connections still open after exit"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    });
    assert_detached_in(&lab, &lab.server, "s0");
}
