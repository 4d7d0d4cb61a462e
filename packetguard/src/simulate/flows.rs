//! The flow CSV input: attacks become flow rows, not packets.
//!
//! Each attack's packets are generated as for a capture and folded into flows with the
//! same `packetguard-common` arithmetic the kernel uses, on Ethernet frame lengths (what
//! the hooks count); each flow becomes one row, written among the input's rows by
//! `start_unix_ms`. The input's own lines are copied byte for byte.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;

use packetguard_common::host::connection_attempt;
use packetguard_common::record::TCP_RST;
use packetguard_common::{FlowStats, PacketMeta, RecordReason};

use super::packet::{write_ip, Synth, Transport};
use super::progress::Progress;
use super::run::{earliest, label, plans, schedules, Outcome, Request, Tally};
use super::spec::CaptureFacts;
use super::SimulateError;
use crate::flows::csv::header;
use crate::flows::{context::RECENT, features::flow_row_features};
use packetguard_common::login::{is_login_port, PRIOR_LOGIN_WINDOW_NS};

/// Ethernet header length, counted in flow bytes as the hooks count it.
const ETHERNET: usize = 14;

/// True when the first line of `path` is the flow CSV header.
pub fn is_flow_csv(path: &Path) -> Result<bool, SimulateError> {
    let open = |source| SimulateError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut first = String::new();
    BufReader::new(File::open(path).map_err(open)?)
        .read_line(&mut first)
        .map_err(open)?;
    Ok(first.trim_end() == header())
}

/// One synthetic flow being folded.
struct SynthFlow {
    attack: usize,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    stats: FlowStats,
    reason: Option<RecordReason>,
}

pub fn simulate_flows(req: &Request) -> Result<Outcome, SimulateError> {
    if !is_flow_csv(&req.input)? {
        return Err(SimulateError::NotAnInput(req.input.clone()));
    }
    let (facts, rows) = survey(&req.input, req.progress)?;
    let plans = plans(req, &facts)?;
    let mut schedules = schedules(&plans, req.seed, 1, None);
    let mut tallies = vec![Tally::default(); plans.len()];
    let mut flows: Vec<SynthFlow> = Vec::new();
    let mut index: HashMap<(usize, IpAddr, IpAddr, u16, u16, u8), usize> = HashMap::new();
    let mut buf = Vec::with_capacity(2048);
    while let Some(i) = earliest(&mut schedules, u64::MAX) {
        let Some(p) = schedules[i].next_packet() else {
            continue;
        };
        buf.clear();
        write_ip(&p, &mut buf);
        let len = ETHERNET + buf.len();
        tallies[i].add(p.ts_ns, len);
        fold(&mut flows, &mut index, i, &p, len as u32, buf.len());
    }
    flows.sort_by_key(|f| (f.stats.flow_start_ns, f.attack));
    merge(req, &flows)?;
    Ok(Outcome {
        labels: plans
            .iter()
            .zip(&tallies)
            .map(|(p, t)| label(p, t))
            .collect(),
        input_records: rows,
        warning: None,
    })
}

fn ports(p: &Synth) -> (u16, u16, u8, u16, u8) {
    match p.transport {
        Transport::Tcp {
            src_port,
            dst_port,
            flags,
            window,
            ..
        } => (src_port, dst_port, flags, window, 1),
        Transport::Udp { src_port, dst_port } => (src_port, dst_port, 0, 0, 0),
    }
}

/// Folds one packet into its flow (created at its first packet, oriented by it).
fn fold(
    flows: &mut Vec<SynthFlow>,
    index: &mut HashMap<(usize, IpAddr, IpAddr, u16, u16, u8), usize>,
    attack: usize,
    p: &Synth,
    len: u32,
    ip_len: usize,
) {
    let (sp, dp, flags, window, is_tcp) = ports(p);
    let proto = p.protocol();
    let header = if p.src.is_ipv4() { 20 } else { 40 } + if is_tcp == 1 { 20 } else { 8 };
    let fwd_key = (attack, p.src, p.dst, sp, dp, proto);
    let bwd_key = (attack, p.dst, p.src, dp, sp, proto);
    let (at, forward) = match (index.get(&fwd_key), index.get(&bwd_key)) {
        (Some(&i), _) => (i, true),
        (None, Some(&i)) => (i, false),
        (None, None) => {
            flows.push(SynthFlow {
                attack,
                src: p.src,
                dst: p.dst,
                src_port: sp,
                dst_port: dp,
                protocol: proto,
                stats: FlowStats::new_flow(p.ts_ns, 1),
                reason: None,
            });
            index.insert(fwd_key, flows.len() - 1);
            (flows.len() - 1, true)
        }
    };
    let meta = PacketMeta {
        ts_ns: p.ts_ns,
        len,
        payload_len: (ip_len - header) as u32,
        window,
        tcp_flags: flags,
        ttl: p.ttl,
        is_tcp,
        attempt: connection_attempt(is_tcp == 1, flags, false) as u8,
        _pad: [0; 2],
    };
    let f = &mut flows[at];
    f.stats.observe(&meta, forward);
    f.stats.count(forward, len);
    if f.reason.is_none() && is_tcp == 1 && f.stats.closes(&meta) {
        f.reason = Some(if flags & TCP_RST != 0 {
            RecordReason::Reset
        } else {
            RecordReason::FlowEnd
        });
    }
}

/// The input's span (first start to last end), busiest destination (most rows) and rows.
fn survey(path: &Path, progress: bool) -> Result<(CaptureFacts, u64), SimulateError> {
    let mut first = u64::MAX;
    let mut last = 0u64;
    let mut dests: HashMap<IpAddr, u64> = HashMap::new();
    let mut progress = Progress::new(progress);
    let mut rows = 0;
    for_each_row(path, |line_no, line| {
        let f: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| SimulateError::FlowCsv {
            path: path.to_path_buf(),
            line: line_no,
            what: what.to_string(),
        };
        if f.len() != header().split(',').count() {
            return Err(bad("wrong number of fields"));
        }
        let dst: IpAddr = f[1].parse().map_err(|_| bad("dst_ip is not an address"))?;
        let start_ms: u64 = f[5]
            .parse()
            .map_err(|_| bad("start_unix_ms is not a number"))?;
        let duration_ns: f64 = f[8]
            .parse()
            .map_err(|_| bad("duration_ns is not a number"))?;
        let start = start_ms.saturating_mul(1_000_000);
        first = first.min(start);
        last = last.max(start.saturating_add(duration_ns.max(0.0) as u64));
        *dests.entry(dst).or_insert(0) += 1;
        rows += 1;
        progress.tick("surveyed", rows, 0);
        Ok(())
    })?;
    let busiest = dests
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(ip, _)| *ip);
    let facts = CaptureFacts {
        first_ns: if first == u64::MAX { 0 } else { first },
        last_ns: last,
        busiest_destination: busiest,
    };
    Ok((facts, rows))
}

/// Calls `each(line_number, line)` for every row after the header.
fn for_each_row(
    path: &Path,
    mut each: impl FnMut(u64, &str) -> Result<(), SimulateError>,
) -> Result<(), SimulateError> {
    let open = |source| SimulateError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut r = BufReader::new(File::open(path).map_err(open)?);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(open)? == 0 {
            return Ok(());
        }
        n += 1;
        let row = line.trim_end_matches(['\n', '\r']);
        if n > 1 && !row.is_empty() {
            each(n, row)?;
        }
    }
}

/// Copies the input, writing each synthetic row before the first input row that starts
/// later.
fn merge(req: &Request, flows: &[SynthFlow]) -> Result<(), SimulateError> {
    let werr = |source| SimulateError::Write {
        path: req.out.clone(),
        source,
    };
    let mut out = BufWriter::new(File::create(&req.out).map_err(werr)?);
    writeln!(out, "{}", header()).map_err(werr)?;
    let mut next = 0;
    for_each_row(&req.input, |_, line| {
        // The survey checked every row's start_unix_ms.
        let start_ms: u64 = line
            .split(',')
            .nth(5)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        while next < flows.len() && flows[next].stats.flow_start_ns / 1_000_000 < start_ms {
            write_row(&mut out, &flows[next], prior_login_attempts(flows, next)).map_err(werr)?;
            next += 1;
        }
        writeln!(out, "{line}").map_err(werr)
    })?;
    for i in next..flows.len() {
        write_row(&mut out, &flows[i], prior_login_attempts(flows, i)).map_err(werr)?;
    }
    out.flush().map_err(werr)
}

/// The row's `prior_login_attempts`, as the agent counts it from flow starts
/// (`crate::flows::context`): TCP flows of the same opener to the same address and login
/// port that started in the window before this one, at most [`RECENT`]. `flows` is in
/// start order.
fn prior_login_attempts(flows: &[SynthFlow], i: usize) -> u32 {
    let f = &flows[i];
    if f.protocol != 6 || !is_login_port(f.dst_port) {
        return 0;
    }
    let since = f.stats.flow_start_ns.saturating_sub(PRIOR_LOGIN_WINDOW_NS);
    let earlier = flows[..i]
        .iter()
        .rev()
        .take_while(|e| e.stats.flow_start_ns >= since)
        .filter(|e| e.src == f.src && e.dst == f.dst && e.dst_port == f.dst_port && e.protocol == 6)
        .count();
    earlier.min(RECENT) as u32
}

/// One flow row, formatted as `collect` formats its own.
fn write_row(
    out: &mut impl Write,
    f: &SynthFlow,
    prior_login_attempts: u32,
) -> std::io::Result<()> {
    let reason = f.reason.unwrap_or(RecordReason::IdleTimeout);
    write!(
        out,
        "{},{},{},{},{},{},{},1",
        f.src,
        f.dst,
        f.src_port,
        f.dst_port,
        f.protocol,
        f.stats.flow_start_ns / 1_000_000,
        reason.as_str()
    )?;
    for v in flow_row_features(&f.stats, prior_login_attempts) {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            write!(out, ",{}", v as i64)?;
        } else {
            write!(out, ",{v:.3}")?;
        }
    }
    writeln!(out)
}
