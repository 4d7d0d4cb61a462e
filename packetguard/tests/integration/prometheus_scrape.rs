//! A real Prometheus server scrapes the agent's metrics server.
//!
//! These tests prove that what the agent serves is what operators will see: Prometheus
//! accepts the exposition, the recorded values arrive exactly, and every query of the
//! shipped Grafana dashboard and alert rules is valid PromQL against those metrics (the
//! dashboard's queries must also return data, which catches misspelt metric names).
//! They need Debian's `prometheus` package (`/usr/bin/prometheus`, `/usr/bin/promtool`)
//! and fail, rather than pass silently, when it is missing. Everything stays on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use packetguard::datapath::counters::KernelCounters;
use packetguard::metrics::{self, Detector, DrainBatch, Metrics};
use packetguard_common::Counter;
use serde_json::Value;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// The exact count of flow anomalies recorded, to be read back through Prometheus.
const FLOW_ANOMALIES: u64 = 3;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

pub fn require(binary: &str) {
    assert!(
        Path::new(binary).is_file(),
        "{binary} not found: install the `prometheus` package (apt-get install -y prometheus), \
         which provides prometheus and promtool; CI installs it"
    );
}

/// A directory removed on drop, even when the test panics.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("packetguard-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed and reaped on drop, even when the test panics.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The agent's metrics server on an ephemeral loopback port, in its own runtime.
struct Agent {
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Kept alive for the server task; dropped (and its tasks ended) with the agent.
    _runtime: tokio::runtime::Runtime,
}

impl Agent {
    fn start() -> Agent {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let metrics = Arc::new(Metrics::new().unwrap());
        let listener = runtime
            .block_on(metrics::bind("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(metrics::serve(listener, metrics.clone(), async {
            let _ = stopped.await;
        }));
        Agent {
            metrics,
            addr,
            stop: Some(stop),
            _runtime: runtime,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Graceful stop; dropping the runtime afterwards ends whatever is left.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Records a small but real set of values through the public API.
fn record_values(m: &Metrics) {
    let mut k = KernelCounters::default();
    for (c, v) in [
        (Counter::Packets, 12_345),
        (Counter::Bytes, 9_876_543),
        (Counter::NonIp, 12),
        (Counter::ParseErrors, 3),
        (Counter::FlowsCreated, 40),
        (Counter::RecordsEmitted, 38),
        (Counter::SamplesEmitted, 190),
        (Counter::FlowStartsEmitted, 40),
    ] {
        k.0[c as usize] = v;
    }
    m.set_kernel_totals(&k);
    m.record_scores(Detector::Flow, &[0.41, 0.47, 0.52, 0.58, 0.66, 0.73]);
    m.record_scores(Detector::Host, &[0.44, 0.49]);
    for _ in 0..FLOW_ANOMALIES {
        m.record_anomaly(Detector::Flow);
    }
    m.add_events_suppressed(Detector::Flow, 2);
    m.observe_drain_batch(&DrainBatch {
        flows: 38,
        samples: 190,
        flow_starts: 40,
        decode_errors: 0,
        elapsed: Duration::from_micros(420),
    });
    m.set_flow_table_capacity(262_144);
    m.set_flow_table_entries(17);
    m.set_model_info(Detector::Flow, "flow-test");
    m.set_model_info(Detector::Host, "host-test");
}

/// A plain HTTP/1.0 GET (the response ends when the server closes), with timeouts.
fn http_get(addr: SocketAddr, path_and_query: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls `f` until it returns `Some`, at most `timeout`; panics with `what` otherwise.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A Prometheus server scraping one target every second, with the shipped alert rules.
pub struct Prometheus {
    pub addr: SocketAddr,
    log: PathBuf,
    _child: ChildGuard,
}

impl Prometheus {
    pub fn start(dir: &Path, target: SocketAddr) -> Prometheus {
        let shipped =
            std::fs::read_to_string(deploy_dir().join("prometheus/prometheus.yml")).unwrap();
        let rules = deploy_dir().join("prometheus/packetguard-rules.yml");
        let config = shipped
            .replace("127.0.0.1:9617", &target.to_string())
            .replace("scrape_interval: 15s", "scrape_interval: 1s")
            .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
            .replace("- packetguard-rules.yml", &format!("- {}", rules.display()));
        assert!(
            config.contains(&target.to_string()),
            "scrape target not substituted"
        );
        assert!(
            config.contains("scrape_interval: 1s"),
            "scrape interval not substituted"
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();

        let addr = free_port();
        let log = dir.join("prometheus.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        Prometheus {
            addr,
            log,
            _child: ChildGuard(child),
        }
    }

    /// Runs an instant query; returns the API's JSON answer or a description of the failure.
    pub fn query(&self, promql: &str) -> Result<Value, String> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        let (status, body) = http_get(self.addr, &path).map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if status == 200 && json["status"] == "success" {
            Ok(json)
        } else {
            Err(format!("HTTP {status}: {body}"))
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<_> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The single value of an instant query's vector result, if there is exactly one series.
pub fn single_value(answer: &Value) -> Option<String> {
    match answer["data"]["result"].as_array()?.as_slice() {
        [one] => one["value"][1].as_str().map(str::to_owned),
        _ => None,
    }
}

/// Every string under an `"expr"` key in a JSON document.
fn json_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => json_exprs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| json_exprs(i, out)),
        _ => {}
    }
}

/// Grafana's variables replaced by what they would be on a dashboard showing every agent.
fn substitute_grafana_vars(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1m")
        .replace("$instance", ".*")
}

/// Every `expr:` of a rules file: inline values, or folded (`>-`, `>`, `|`) blocks joined
/// by spaces. Enough YAML for the shipped file; a shape it does not know fails the test.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let value = value.trim();
        if matches!(value, ">-" | ">" | "|" | "|-") {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect();
            out.push(block.join(" ").trim().to_owned());
        } else {
            assert!(
                !value.starts_with(['"', '\'']),
                "quoted expr not handled: {value}"
            );
            out.push(value.to_owned());
        }
    }
    out
}

/// Asserts that every query of the shipped Grafana dashboard returns data and every
/// expression of the shipped alert rules evaluates, both through `prom`'s HTTP API and as
/// rules Prometheus loaded from the file.
pub fn assert_shipped_queries_evaluate(prom: &Prometheus) {
    let long = Duration::from_secs(30);
    // Rates need two samples inside the window; wait for them before judging the
    // dashboard's queries by their results.
    wait_for("two scrapes for rate()", long, || {
        let answer = prom.query("rate(packetguard_packets_total[1m])").ok()?;
        single_value(&answer)
    });

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir().join("grafana/packetguard-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    json_exprs(&dashboard, &mut exprs);
    assert!(
        exprs.len() >= 15,
        "dashboard has only {} queries",
        exprs.len()
    );
    for expr in &exprs {
        let promql = substitute_grafana_vars(expr);
        let answer = prom
            .query(&promql)
            .unwrap_or_else(|e| panic!("dashboard query {promql:?} failed: {e}"));
        let series = answer["data"]["result"].as_array().map_or(0, Vec::len);
        assert!(
            series > 0,
            "dashboard query {promql:?} returned no data: {answer}"
        );
    }

    let rules =
        std::fs::read_to_string(deploy_dir().join("prometheus/packetguard-rules.yml")).unwrap();
    let exprs = rule_exprs(&rules);
    assert_eq!(exprs.len(), rules.matches("- alert:").count(), "{exprs:#?}");
    for expr in &exprs {
        if let Err(e) = prom.query(expr) {
            panic!("alert rule expression {expr:?} failed: {e}");
        }
    }

    // Prometheus loaded the same rules from the file and evaluates them without error.
    let health = wait_for("every alert rule evaluated", long, || {
        let (_, body) = http_get(prom.addr, "/api/v1/rules").ok()?;
        let json: Value = serde_json::from_str(&body).ok()?;
        let rules: Vec<(String, String)> = json["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or("").to_owned(),
                    r["health"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let evaluated = !rules.is_empty() && rules.iter().all(|(_, h)| h != "unknown");
        evaluated.then_some(rules)
    });
    assert_eq!(health.len(), exprs.len());
    for (name, h) in &health {
        assert_eq!(h, "ok", "rule {name}: {}", prom.log_tail());
    }
}

#[test]
fn prometheus_scrapes_exact_values_and_every_shipped_query_evaluates() {
    require(PROMETHEUS);
    let agent = Agent::start();
    record_values(&agent.metrics);
    let dir = TempDir::new("prometheus");
    let prom = Prometheus::start(&dir.0, agent.addr);
    let long = Duration::from_secs(30);

    wait_for("Prometheus to scrape the agent (up == 1)", long, || {
        let answer = prom.query(r#"up{job="packetguard"}"#).ok()?;
        single_value(&answer).filter(|v| v == "1")
    });

    let answer = prom
        .query(r#"packetguard_anomalies_total{detector="flow"}"#)
        .unwrap();
    assert_eq!(
        single_value(&answer),
        Some(FLOW_ANOMALIES.to_string()),
        "{answer}"
    );
    let answer = prom.query("packetguard_build_info").unwrap();
    assert_eq!(single_value(&answer).as_deref(), Some("1"), "{answer}");
    let version = &answer["data"]["result"][0]["metric"]["version"];
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let answer = prom.query("packetguard_packets_total").unwrap();
    assert_eq!(single_value(&answer).as_deref(), Some("12345"), "{answer}");

    assert_shipped_queries_evaluate(&prom);
    let firing = prom
        .query(r#"ALERTS{alertname="PacketGuardAgentDown"}"#)
        .unwrap();
    assert_eq!(
        firing["data"]["result"],
        Value::Array(vec![]),
        "agent reported down"
    );
}

#[test]
fn served_metrics_pass_promtool_check_metrics() {
    require(PROMTOOL);
    let agent = Agent::start();
    record_values(&agent.metrics);
    let (status, body) = http_get(agent.addr, "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!(
        "packetguard_anomalies_total{{detector=\"flow\"}} {FLOW_ANOMALIES}\n"
    )));

    let mut child = ChildGuard(
        Command::new(PROMTOOL)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(body.as_bytes()).unwrap();
    drop(stdin);
    let status = wait_for("promtool to finish", Duration::from_secs(30), || {
        child.0.try_wait().unwrap()
    });
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "promtool check metrics failed: {out}");
    assert_eq!(out.trim(), "", "promtool reported lint problems");
}
