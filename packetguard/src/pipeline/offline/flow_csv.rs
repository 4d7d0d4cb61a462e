//! The flow CSV `collect` writes, read back: each row is a flow, scored by the flow
//! detector from its feature columns. The windows are rebuilt from the rows on their
//! timestamps: a flow opens at its start (a flow start for the new-flow, peer and port
//! counts), and its packets and bytes are spread evenly over the seconds it lasted. What
//! the columns cannot say is estimated: SYNs without ACK are the flow's SYNs less one
//! SYN-ACK when the other side answered, and an opener counts as answered when the other
//! side sent anything (for TCP, a SYN-ACK).

use std::{
    io::BufRead,
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::Result;
use packetguard_common::{
    features::{flow_row_feature_index, FLOW_KEY_COLUMNS, FLOW_META_COLUMNS, N_FLOW_ROW_FEATURES},
    key::IPPROTO_TCP,
    FlowKey, FlowStart, HostKey, HostStats, RecordKind,
};

use super::{timeline::Timeline, InputError, SECOND_NS};
use crate::{
    datapath::drain::Event,
    flows::{words, Endpoints},
    pipeline::source::{FeatureRow, OfflineSource, SourceStats, Stage, TotalsMap},
};

/// Columns before the features.
const LEADING: usize = FLOW_KEY_COLUMNS.len() + FLOW_META_COLUMNS.len();

/// One row, read.
struct Row {
    endpoints: Endpoints,
    start_ns: u64,
    features: [f64; N_FLOW_ROW_FEATURES],
    line: String,
}

/// A flow's traffic still to be credited, one share a second.
struct Spread {
    /// The second it started in (which got its first share when it was read).
    from: u64,
    /// The last second (index from the first row's) that gets a share.
    until: u64,
    /// Per second: what the destination received, what the opener received.
    to_dst: HostStats,
    to_src: HostStats,
    dst: HostKey,
    src: HostKey,
}

/// A flow CSV.
pub struct FlowCsv<R> {
    path: PathBuf,
    lines: R,
}

impl<R: BufRead> FlowCsv<R> {
    /// `lines` positioned after the header.
    pub fn new(path: &Path, lines: R) -> Self {
        Self {
            path: path.to_owned(),
            lines,
        }
    }

    fn read_rows(&mut self) -> Result<Vec<Row>, InputError> {
        let mut rows = Vec::new();
        let mut line_no = 1u64;
        let mut text = String::new();
        loop {
            text.clear();
            let n = self
                .lines
                .read_line(&mut text)
                .map_err(|source| InputError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(rows);
            }
            line_no += 1;
            let line = text.trim_end_matches(['\n', '\r']);
            if !line.is_empty() {
                rows.push(parse_row(line).map_err(|what| InputError::Row {
                    path: self.path.clone(),
                    line: line_no,
                    what,
                })?);
            }
        }
    }
}

fn parse_row(line: &str) -> Result<Row, String> {
    let cols: Vec<&str> = line.split(',').collect();
    if cols.len() != LEADING + N_FLOW_ROW_FEATURES {
        return Err(format!(
            "{} columns, not {}",
            cols.len(),
            LEADING + N_FLOW_ROW_FEATURES
        ));
    }
    let ip = |i: usize| {
        cols[i]
            .parse::<IpAddr>()
            .map_err(|_| format!("{} {:?}", FLOW_KEY_COLUMNS[i], cols[i]))
    };
    let num = |i: usize, name: &str| {
        cols[i]
            .parse::<u64>()
            .map_err(|_| format!("{name} {:?}", cols[i]))
    };
    let port = |i: usize| {
        u16::try_from(num(i, FLOW_KEY_COLUMNS[i])?).map_err(|_| format!("port {}", cols[i]))
    };
    let endpoints = Endpoints {
        src: ip(0)?,
        dst: ip(1)?,
        src_port: port(2)?,
        dst_port: port(3)?,
        protocol: u8::try_from(num(4, "protocol")?).map_err(|_| "protocol".to_owned())?,
    };
    if endpoints.src.is_ipv4() != endpoints.dst.is_ipv4() {
        return Err("an IPv4 and an IPv6 address in one flow".into());
    }
    let start_ms = num(5, "start_unix_ms")?;
    let mut features = [0.0; N_FLOW_ROW_FEATURES];
    for (i, f) in features.iter_mut().enumerate() {
        let text = cols[LEADING + i];
        *f = text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("feature {} {text:?}", i + 1))?;
    }
    Ok(Row {
        endpoints,
        start_ns: start_ms.saturating_mul(1_000_000),
        features,
        line: line.to_owned(),
    })
}

/// The value of feature `name` in `row`.
fn feature(row: &[f64; N_FLOW_ROW_FEATURES], name: &str) -> f64 {
    flow_row_feature_index(name).map_or(0.0, |i| row[i])
}

/// `total` split in `n` shares: the share, and what the first share gets on top.
fn split(total: u64, n: u64) -> (u64, u64) {
    (total / n, total % n)
}

impl<R: BufRead> OfflineSource for FlowCsv<R> {
    fn kind(&self) -> &'static str {
        "flow CSV"
    }

    fn missing_features(&self) -> Vec<&'static str> {
        vec![
            "per-second packet timing inside a flow (spread evenly)",
            "syn_without_ack (estimated from syn_count)",
        ]
    }

    fn run(
        &mut self,
        stage: &mut dyn Stage,
        progress: &mut dyn FnMut(SourceStats),
    ) -> Result<SourceStats> {
        let mut rows = self.read_rows()?;
        rows.sort_by_key(|r| r.start_ns);
        let first = rows.first().map_or(0, |r| r.start_ns);
        let second_of = |ts: u64| ts.saturating_sub(first) / SECOND_NS;
        let mut timeline = Timeline::default();
        let (mut dst_totals, mut src_totals) = (TotalsMap::default(), TotalsMap::default());
        let mut spreads: Vec<Spread> = Vec::new();
        let mut stats = SourceStats::default();
        for row in &rows {
            timeline.reach(row.start_ns, stage, |stage, end| {
                close(
                    stage,
                    second_of(end - 1),
                    &mut spreads,
                    &mut dst_totals,
                    &mut src_totals,
                )
            })?;
            let e = &row.endpoints;
            let version = if e.src.is_ipv4() { 4 } else { 6 };
            let (key, src_is_a) = FlowKey::canonical(
                version,
                e.protocol,
                words(e.src),
                e.src_port,
                words(e.dst),
                e.dst_port,
            );
            let f = &row.features;
            let tcp = e.protocol == IPPROTO_TCP;
            let syns = feature(f, "syn_count") as u64;
            let (fwd_p, bwd_p) = (
                feature(f, "fwd_packets") as u64,
                feature(f, "bwd_packets") as u64,
            );
            let (fwd_b, bwd_b) = (
                feature(f, "fwd_bytes") as u64,
                feature(f, "bwd_bytes") as u64,
            );
            let syn_ack = tcp && bwd_p > 0 && syns >= 2;
            stage.event(Event::FlowStart(&FlowStart {
                kind: RecordKind::FlowStart as u32,
                len: 0,
                ts_ns: row.start_ns,
                key,
                tcp_flags: 0,
                fwd_is_a: src_is_a as u8,
                attempt: u8::from(tcp && syns > 0),
                _pad: [0; 5],
            }))?;
            let (dst, src) = (
                HostKey::destination(&key, src_is_a),
                HostKey::source(&key, src_is_a),
            );
            let end_ns = row.start_ns + feature(f, "duration_ns") as u64;
            let n = second_of(end_ns) - second_of(row.start_ns) + 1;
            stage.traffic(end_ns, fwd_p + bwd_p, fwd_b + bwd_b);
            let share = |p: u64, b: u64| {
                let (sp, rp) = split(p, n);
                let (sb, rb) = split(b, n);
                let each = HostStats {
                    packets: sp,
                    bytes: sb,
                    tcp_packets: if tcp { sp } else { 0 },
                    ..HostStats::default()
                };
                let extra = HostStats {
                    packets: rp,
                    bytes: rb,
                    tcp_packets: if tcp { rp } else { 0 },
                    ..HostStats::default()
                };
                (each, extra)
            };
            let (to_dst, dst_extra) = share(fwd_p, fwd_b);
            let (to_src, src_extra) = share(bwd_p, bwd_b);
            // The first second: its share, the remainders, the SYNs and the answer.
            let mut first_dst = to_dst.plus(&dst_extra);
            first_dst.syn_without_ack = if tcp { syns - u64::from(syn_ack) } else { 0 };
            let mut first_src = to_src.plus(&src_extra);
            if syn_ack {
                first_src.syn_without_ack = 0;
            }
            dst_totals.credit(dst, &first_dst);
            src_totals.credit(src, &first_dst);
            dst_totals.credit(src, &first_src);
            src_totals.credit(dst, &first_src);
            let answered = bwd_p > 0 && (!tcp || syn_ack);
            if answered {
                src_totals.credit(
                    src,
                    &HostStats {
                        answered: 1,
                        ..HostStats::default()
                    },
                );
            }
            if n > 1 {
                spreads.push(Spread {
                    from: second_of(row.start_ns),
                    until: second_of(end_ns),
                    to_dst,
                    to_src,
                    dst,
                    src,
                });
            }
            stage.flow_features(&FeatureRow {
                endpoints: *e,
                features: f,
                line: &row.line,
            })?;
            stats.read += 1;
            stats.flows += 1;
            progress(stats);
        }
        // Every second a flow still lasts in, up to the last one's end.
        let last_start = rows.last().map(|r| second_of(r.start_ns));
        let last_spread = spreads.iter().map(|s| s.until).max();
        if let Some(last) = last_start.max(last_spread) {
            timeline.reach(first + (last + 1) * SECOND_NS, stage, |stage, end| {
                close(
                    stage,
                    second_of(end - 1),
                    &mut spreads,
                    &mut dst_totals,
                    &mut src_totals,
                )
            })?;
        }
        Ok(stats)
    }
}

/// Credits second `index`'s shares of the flows that last into it, then closes it.
fn close(
    stage: &mut dyn Stage,
    index: u64,
    spreads: &mut Vec<Spread>,
    dst_totals: &mut TotalsMap,
    src_totals: &mut TotalsMap,
) -> Result<()> {
    for s in spreads.iter() {
        if s.from < index && index <= s.until {
            dst_totals.credit(s.dst, &s.to_dst);
            src_totals.credit(s.src, &s.to_dst);
            dst_totals.credit(s.src, &s.to_src);
            src_totals.credit(s.dst, &s.to_src);
        }
    }
    spreads.retain(|s| s.until > index);
    stage.second(dst_totals, src_totals)
}

#[cfg(test)]
#[path = "flow_csv_tests.rs"]
mod tests;
