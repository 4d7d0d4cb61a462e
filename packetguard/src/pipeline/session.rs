//! The one live session: load and attach (see [`LiveSource::open`]), the `select!` loop
//! (stop signal, SIGHUP, ring buffer batches, ticks), and the shutdown (detach, drain,
//! export every flow, settle, summarise). `collect` and `run` are stages plugged into it.

use std::{future::Future, time::Duration, time::Instant};

use anyhow::Result;
use tokio::signal::unix::Signal;

use super::{live::LiveSource, source::Stage};
use crate::{
    commands::shutdown::StopReason,
    datapath::{drain::DrainStats, flow_table::ScanStats},
};

/// A stage the live loop drives: what it does at each point of the loop.
pub trait LiveStage: Stage {
    /// How often the loop ticks (idle expiry, then [`Self::tick`]).
    fn tick_every(&self) -> Duration;
    /// After each batch of ring buffer entries: `before` and `after` are the drain counts
    /// around it, `start` when the loop began waiting for it.
    fn batch(&mut self, before: &DrainStats, after: &DrainStats, start: Instant) -> Result<()>;
    /// Once a tick, after the idle flows (`scan`) were removed.
    fn tick(&mut self, src: &mut LiveSource, scan: &ScanStats) -> Result<()>;
    /// On SIGHUP.
    fn reload(&mut self) -> Result<()> {
        Ok(())
    }
    /// What the `stopping (REASON): ...` line says happens next.
    fn stopping(&self) -> &'static str;
    /// After detaching, draining and exporting every flow (`exported`): settle what is
    /// left and print the summary.
    fn finish(&mut self, src: &mut LiveSource, exported: &ScanStats) -> Result<()>;
}

/// Runs `f` on the session's runtime: one thread, since the loop is one task and slow I/O
/// has threads of its own (the event and flow-score writers, the metrics server).
pub fn block_on(f: impl Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// Loops until `stop`, then shuts down; flows idle for `idle` are removed every tick.
pub async fn run(
    stage: &mut impl LiveStage,
    src: &mut LiveSource,
    stop: impl Future<Output = StopReason>,
    mut hangup: Option<Signal>,
    idle: Duration,
) -> Result<()> {
    let mut tick = tokio::time::interval(stage.tick_every());
    // After a stall, one tick a period from then on, not a burst of the missed ones: each
    // window is scored on its real length (see `detectors::MIN_WINDOW`).
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let reason = loop {
        tokio::select! {
            r = &mut stop => break r,
            Some(()) = hangup_of(&mut hangup) => stage.reload()?,
            res = async {
                let start = Instant::now();
                let before = src.drain_stats();
                src.next_batch(stage).await?;
                stage.batch(&before, &src.drain_stats(), start)
            } => res?,
            _ = tick.tick() => {
                let scan = src.expire_idle(stage, idle)?;
                stage.tick(src, &scan)?;
            }
        }
    };
    eprintln!("stopping ({}): {}", reason.as_str(), stage.stopping());
    // Detach first so the maps stop changing, then take what the last packets produced.
    src.detach();
    src.drain_now(stage)?;
    let exported = src.export_all(stage)?;
    stage.finish(src, &exported)
}

/// The next SIGHUP, or never without a handler.
async fn hangup_of(hangup: &mut Option<Signal>) -> Option<()> {
    match hangup {
        Some(h) => h.recv().await,
        None => std::future::pending().await,
    }
}
