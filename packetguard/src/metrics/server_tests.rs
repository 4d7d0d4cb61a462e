//! The metrics server against hostile clients, over real loopback sockets: silent and
//! trickling connections time out, the connection limit makes room for a scrape, bodies
//! and oversized heads are refused, and shutdown does not wait for open connections.
//!
//! The limits are scaled down (fractions of a second, a handful of connections) so each
//! test takes about a second; the integration test `hostile_clients` runs the agent with
//! its real limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::tests::sample;
use super::*;

/// Longest any single step may take before the test fails instead of hanging.
const BOUND: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(limits: ServerLimits) -> Server {
        let metrics = Arc::new(Metrics::new().unwrap());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(listener, metrics.clone(), limits, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            metrics,
            stop: Some(stop),
            task,
        }
    }

    /// A series' value from the registry.
    fn value(&self, series: &str) -> u64 {
        let text = self.metrics.render().unwrap();
        sample(&text, series)
            .unwrap_or_else(|| panic!("no {series}: {text}"))
            .parse()
            .unwrap()
    }

    async fn connect(&self) -> TcpStream {
        tokio::time::timeout(BOUND, TcpStream::connect(self.addr))
            .await
            .unwrap()
            .unwrap()
    }

    /// Stops the server and returns how long `serve_with` took to return.
    async fn shut_down(mut self) -> Duration {
        let start = Instant::now();
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(BOUND, self.task)
            .await
            .expect("serve_with returns")
            .unwrap();
        start.elapsed()
    }
}

/// A scaled-down version of the shipped limits.
fn limits() -> ServerLimits {
    ServerLimits {
        max_connections: 4,
        idle_timeout: Duration::from_millis(600),
        header_read_timeout: Duration::from_millis(1500),
        max_head_bytes: 8192,
        shutdown_grace: Duration::from_millis(200),
    }
}

/// Reads until the server closes the connection (end of stream or reset); returns what
/// it sent and when it closed, or `None` if it was still open after `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<(String, Instant)> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| (String::from_utf8_lossy(&got).into_owned(), Instant::now()))
}

/// One request on a new connection with `Connection: close`; the whole response.
async fn get(server: &Server, path: &str) -> String {
    let mut s = server.connect().await;
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    closed_within(&mut s, BOUND).await.expect("response").0
}

#[tokio::test]
async fn a_silent_connection_is_closed_by_the_idle_timeout() {
    let server = Server::start(limits()).await;
    let start = Instant::now();
    let mut s = server.connect().await;
    let (_, at) = closed_within(&mut s, BOUND).await.expect("closed");
    let after = at - start;
    assert!(after >= limits().idle_timeout, "closed after {after:?}");
    // Well before the header timeout: it was the idle timeout that fired.
    assert!(
        after < limits().header_read_timeout,
        "closed after {after:?}"
    );
    assert_eq!(
        server.value(r#"packetguard_http_connections_timed_out_total{timeout="idle"}"#),
        1
    );
    assert_eq!(
        server.value(r#"packetguard_http_connections_timed_out_total{timeout="header"}"#),
        0
    );
    assert_eq!(server.value("packetguard_http_connections_open"), 0);
}

#[tokio::test]
async fn a_request_head_sent_a_byte_at_a_time_is_closed_by_the_header_timeout() {
    let server = Server::start(limits()).await;
    let start = Instant::now();
    let mut s = server.connect().await;
    let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut closed = None;
    // One byte every 100 ms keeps the idle timeout (600 ms) from firing; at most 100
    // bytes, and BOUND.
    for &byte in head.iter().cycle().take(100) {
        if s.write_all(&[byte]).await.is_err() {
            break;
        }
        if let Some(c) = closed_within(&mut s, Duration::from_millis(100)).await {
            closed = Some(c);
            break;
        }
        assert!(start.elapsed() < BOUND);
    }
    let (response, at) = closed.expect("closed while trickling");
    let after = at - start;
    assert!(
        after >= limits().header_read_timeout,
        "closed after {after:?}"
    );
    assert!(
        !response.contains("200 OK"),
        "no response to a partial head: {response}"
    );
    assert_eq!(
        server.value(r#"packetguard_http_connections_timed_out_total{timeout="header"}"#),
        1
    );
    assert_eq!(
        server.value(r#"packetguard_http_connections_timed_out_total{timeout="idle"}"#),
        0
    );
}

#[tokio::test]
async fn at_the_limit_the_longest_waiting_connections_give_way_to_a_scrape() {
    // Timeouts far beyond the test, so only the limit closes connections.
    let server = Server::start(ServerLimits {
        idle_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(server.connect().await);
        // Each is accepted before the next, so acceptance order is connect order.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    let scrape = get(&server, "/metrics").await;
    let took = start.elapsed();
    assert!(scrape.starts_with("HTTP/1.1 200"), "{scrape}");
    assert!(took < Duration::from_secs(1), "scrape took {took:?}");
    // Rendered while the scrape held one of the four places.
    assert!(
        scrape.contains("\npacketguard_http_connections_open 4\n"),
        "{scrape}"
    );
    assert!(scrape.contains("\npacketguard_http_connections_limit 4\n"));
    // Ten idle plus the scrape through four places: the seven oldest gave way.
    assert!(
        scrape.contains("\npacketguard_http_connections_accepted_total 11\n"),
        "{scrape}"
    );
    assert!(
        scrape.contains("\npacketguard_http_connections_rejected_total 7\n"),
        "{scrape}"
    );
    for (i, s) in idle.iter_mut().enumerate() {
        let closed = closed_within(s, Duration::from_millis(50)).await.is_some();
        assert_eq!(closed, i < 7, "connection {i}");
    }
}

#[tokio::test]
async fn a_keep_alive_connection_serves_requests_until_it_idles() {
    let server = Server::start(limits()).await;
    let mut s = server.connect().await;
    let mut buf = vec![0u8; 64 * 1024];
    // Three requests, each after a pause shorter than the idle timeout.
    for _ in 0..3 {
        tokio::time::sleep(limits().idle_timeout / 3).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = tokio::time::timeout(BOUND, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let response = String::from_utf8_lossy(&buf[..n]);
        assert!(
            response.starts_with("HTTP/1.1 200") && response.ends_with("ok\n"),
            "{response}"
        );
    }
    let idle_from = Instant::now();
    let (_, at) = closed_within(&mut s, BOUND).await.expect("closed");
    assert!(at - idle_from >= limits().idle_timeout * 9 / 10);
    assert_eq!(
        server.value("packetguard_http_connections_accepted_total"),
        1
    );
    assert_eq!(
        server.value(r#"packetguard_http_connections_timed_out_total{timeout="idle"}"#),
        1
    );
}

#[tokio::test]
async fn a_request_body_gets_413_and_an_oversized_head_431() {
    let server = Server::start(limits()).await;
    let mut s = server.connect().await;
    s.write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nxxxx")
        .await
        .unwrap();
    let (response, _) = closed_within(&mut s, BOUND).await.expect("closed");
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    let mut s = server.connect().await;
    let long = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(9000)
    );
    // The server may close before it has read everything; what it answered counts.
    let _ = s.write_all(long.as_bytes()).await;
    let (response, _) = closed_within(&mut s, BOUND).await.expect("closed");
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");

    // A head just under the limit is served.
    let fits = format!("/metrics?{}", "a".repeat(4000));
    assert!(get(&server, &fits).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn shutdown_drops_open_connections_after_the_grace_period() {
    let server = Server::start(ServerLimits {
        // Timeouts far beyond the test: only shutdown can close these.
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let mut silent = server.connect().await;
    let mut partial = server.connect().await;
    partial
        .write_all(b"GET /metrics HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut kept_alive = server.connect().await;
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(BOUND, kept_alive.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].ends_with(b"ok\n"));
    assert_eq!(server.value("packetguard_http_connections_open"), 3);

    let grace = limits().shutdown_grace;
    let took = server.shut_down().await;
    assert!(
        took >= grace,
        "returned after {took:?}, before the grace period"
    );
    assert!(took < grace * 5, "returned after {took:?}");
    for s in [&mut silent, &mut partial, &mut kept_alive] {
        assert!(closed_within(s, Duration::from_secs(1)).await.is_some());
    }
}
