//! Packets folded into flows on capture time, for offline inputs that list packets (the
//! packet-list CSV): the capture reader's flow table ([`crate::capture::flows`]), which
//! makes the kernel's decisions (ends, restarts, active timeouts, credits to the address
//! totals) with the `packetguard-common` arithmetic. This drives it on the seconds of
//! [`Timeline`], with idle expiry before each window close, as the live loop ticks.

use std::{net::IpAddr, time::Duration};

use anyhow::Result;
use packetguard_common::{FlowKey, PacketMeta};

use super::timeline::Timeline;
use crate::{
    capture::{
        flows::{FlowFolder, Sink},
        parse::{FragmentKind, Packet as Parsed},
    },
    datapath::{drain::Event, flow_table::Removed},
    flows::words,
    pipeline::source::{MapTotals, Stage},
};

/// One packet as an offline input describes it. `meta.attempt` says whether it is a
/// connection attempt, as the kernel's parser would.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub meta: PacketMeta,
}

/// The flow table and the seconds it runs on.
pub struct PacketFolder {
    folder: FlowFolder,
    idle_ns: u64,
    timeline: Timeline,
}

/// Hands the flow table's output to the stage. The table's sink cannot fail, so the
/// first error is kept here and returned as soon as the table's call is over.
struct Forward<'a> {
    stage: &'a mut dyn Stage,
    failed: Option<anyhow::Error>,
}

impl Sink for Forward<'_> {
    fn event(&mut self, ev: Event<'_>) {
        if self.failed.is_none() {
            self.failed = self.stage.event(ev).err();
        }
    }

    fn removed(&mut self, removed: &Removed) {
        if self.failed.is_none() {
            self.failed = self.stage.removed(removed).err();
        }
    }
}

impl Forward<'_> {
    fn result(&mut self) -> Result<()> {
        self.failed.take().map_or(Ok(()), Err)
    }
}

fn close(folder: &mut FlowFolder, idle_ns: u64, stage: &mut dyn Stage, end: u64) -> Result<()> {
    let mut fwd = Forward {
        stage,
        failed: None,
    };
    folder.expire_idle(end, idle_ns, &mut fwd);
    fwd.result()?;
    fwd.stage.second(
        &mut MapTotals(&folder.hosts.destinations),
        &mut MapTotals(&folder.hosts.sources),
    )
}

impl PacketFolder {
    pub fn new(idle: Duration, active: Duration, flow_entries: u32) -> Self {
        Self {
            folder: FlowFolder::new(flow_entries, active.as_nanos() as u64),
            idle_ns: idle.as_nanos() as u64,
            timeline: Timeline::default(),
        }
    }

    /// Flows created so far.
    pub fn flows(&self) -> u64 {
        self.folder.counts.created
    }

    /// Folds one packet, closing the seconds before it first.
    pub fn packet(&mut self, stage: &mut dyn Stage, p: &Packet) -> Result<()> {
        let (folder, idle_ns) = (&mut self.folder, self.idle_ns);
        self.timeline.reach(p.meta.ts_ns, stage, |stage, end| {
            close(folder, idle_ns, stage, end)
        })?;
        let version = if p.src.is_ipv4() { 4 } else { 6 };
        let (key, src_is_a) = FlowKey::canonical(
            version,
            p.protocol,
            words(p.src),
            p.src_port,
            words(p.dst),
            p.dst_port,
        );
        let mut fwd = Forward {
            stage,
            failed: None,
        };
        self.folder.account(
            &Parsed {
                key,
                src_is_a,
                meta: p.meta,
                fragment: FragmentKind::None,
            },
            &mut fwd,
        );
        fwd.result()
    }

    /// At the end of the input: every flow exported, then the last window close.
    pub fn finish(&mut self, stage: &mut dyn Stage) -> Result<()> {
        if let Some(end) = self.timeline.current_end() {
            stage.clock_mut().advance_to(end);
        }
        let mut fwd = Forward {
            stage,
            failed: None,
        };
        self.folder.export_all(&mut fwd);
        fwd.result()?;
        fwd.stage.second(
            &mut MapTotals(&self.folder.hosts.destinations),
            &mut MapTotals(&self.folder.hosts.sources),
        )
    }
}
