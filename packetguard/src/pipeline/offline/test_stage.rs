//! A stage that records what an offline source yields, for the sources' tests.

use std::{collections::HashMap, net::IpAddr};

use anyhow::Result;
use packetguard_common::{HostKey, HostStats};

use crate::{
    datapath::{drain::Event, flow_table::Removed},
    flows::{addr, Endpoints},
    pipeline::{
        clock::Clock,
        source::{AddressTotals, FeatureRow, Stage},
    },
};

/// One flow handed over: endpoints as first seen, packets and bytes each way, reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub endpoints: Endpoints,
    pub packets: (u64, u64),
    pub bytes: (u64, u64),
    pub syn_count: u32,
    pub reason: u32,
}

pub struct Recorder {
    pub clock: Clock,
    pub flows: Vec<Flow>,
    /// (opener, when) of each flow start.
    pub starts: Vec<(IpAddr, u64, u8)>,
    pub features: Vec<(Endpoints, Vec<f64>)>,
    /// Per closed second: the clock's Unix ns, and what each destination received in it.
    pub seconds: Vec<(u64, HashMap<IpAddr, HostStats>)>,
    /// Per closed second: what each source sent in it (with its answered flows).
    pub sent: Vec<HashMap<IpAddr, HostStats>>,
    /// What removed flows had counted and not credited to their destinations: (address,
    /// packets, bytes).
    pub late: Vec<(IpAddr, u64, u64)>,
    /// Traffic as the source reported it: (when, packets, bytes).
    pub traffic: Vec<(u64, u64, u64)>,
    last_dst: HashMap<HostKey, HostStats>,
    last_src: HashMap<HostKey, HostStats>,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            clock: Clock::capture(),
            flows: Vec::new(),
            starts: Vec::new(),
            features: Vec::new(),
            seconds: Vec::new(),
            sent: Vec::new(),
            late: Vec::new(),
            traffic: Vec::new(),
            last_dst: HashMap::new(),
            last_src: HashMap::new(),
        }
    }
}

fn deltas(
    totals: &mut dyn AddressTotals,
    last: &mut HashMap<HostKey, HostStats>,
) -> HashMap<IpAddr, HostStats> {
    let mut out = HashMap::new();
    totals
        .for_each_total(&mut |k, t| {
            let d = t.since(last.get(&k).unwrap_or(&HostStats::default()));
            last.insert(k, t);
            if d != HostStats::default() {
                out.insert(addr(&k.addr, k.ip_version), d);
            }
        })
        .unwrap();
    out
}

impl Stage for Recorder {
    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        if let Event::FlowStart(s) = ev {
            let e = Endpoints::of(&s.key, s.fwd_is_a);
            self.starts.push((e.src, s.ts_ns, s.attempt));
        }
        Ok(())
    }

    fn removed(&mut self, r: &Removed) -> Result<()> {
        for (host, d) in &r.uncredited {
            if d.packets > 0 {
                self.late
                    .push((addr(&host.addr, host.ip_version), d.packets, d.bytes));
            }
        }
        if let Some(rec) = &r.record {
            let s = &rec.stats;
            self.flows.push(Flow {
                endpoints: Endpoints::of(&rec.key, s.fwd_is_a),
                packets: (s.fwd_packets, s.bwd_packets),
                bytes: (s.fwd_bytes, s.bwd_bytes),
                syn_count: s.tcp_flag_counts[1],
                reason: rec.reason,
            });
        }
        Ok(())
    }

    fn second(
        &mut self,
        destinations: &mut dyn AddressTotals,
        sources: &mut dyn AddressTotals,
    ) -> Result<()> {
        let now = self.clock.now().unix_ns();
        let d = deltas(destinations, &mut self.last_dst);
        self.seconds.push((now, d));
        let s = deltas(sources, &mut self.last_src);
        self.sent.push(s);
        Ok(())
    }

    fn clock_mut(&mut self) -> &mut Clock {
        &mut self.clock
    }

    fn flow_features(&mut self, flow: &FeatureRow<'_>) -> Result<()> {
        self.features.push((flow.endpoints, flow.features.to_vec()));
        Ok(())
    }

    fn traffic(&mut self, ts_ns: u64, packets: u64, bytes: u64) {
        self.traffic.push((ts_ns, packets, bytes));
    }
}
