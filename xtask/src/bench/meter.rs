//! Whole-machine CPU for the capacity bench, from `/proc/stat`: the busy time of every CPU
//! (user + nice + system + irq + softirq) over a measuring window, less what the machine
//! was already spending before it (sampled just before the window, with the tool started
//! and idle). Every tool's kernel work is in it the same way: XDP, the AF_PACKET copies,
//! the veth's receive softirq, whichever CPU or process it is charged to.
//!
//! When other work keeps the CPUs busy, the generator's and the tool's work displaces it
//! and that difference says little; the window therefore also takes the CPU time of the
//! kernel's softirq threads (`ksoftirqd/N`), which with the generator's and the tool's own
//! processes hold all of the packets' work (tick-based accounting charges a softirq to
//! whichever task it interrupted: here, the generator), whatever else runs.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::signals;

/// How long the machine's background busy-ness is sampled before each window.
const BACKGROUND: Duration = Duration::from_secs(1);

/// The aggregate `cpu` line of `/proc/stat`: busy and total clock ticks of all CPUs.
#[derive(Clone, Copy)]
struct Ticks {
    busy: u64,
    total: u64,
}

fn ticks() -> Result<Ticks> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no aggregate cpu line in /proc/stat")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    Ok(Ticks {
        busy,
        total: busy + at(3) + at(4) + at(7),
    })
}

fn seconds(ticks: u64) -> f64 {
    ticks as f64 / super::proc::ticks_per_second()
}

/// The process ids of the kernel's softirq threads.
fn ksoftirqd() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with("ksoftirqd/"))
        })
        .collect()
}

fn threads_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|&p| super::proc::pid_cpu_seconds(p).ok())
        .sum()
}

/// An open measuring window.
pub struct Meter {
    background: f64,
    start: Ticks,
    started: Instant,
    softirqd: Vec<u32>,
    softirqd_start: f64,
}

/// What a closed window measured.
#[derive(Clone, Copy)]
pub struct Window {
    /// Busy CPU seconds of the whole machine in the window.
    pub busy_s: f64,
    /// Length of the window.
    pub elapsed_s: f64,
    /// CPUs' worth of busy-ness before the window (0.25: a quarter of one CPU).
    pub background: f64,
    /// CPU seconds of the kernel's softirq threads in the window.
    pub softirqd_s: f64,
}

impl Window {
    /// Busy CPU seconds in the window beyond the background's rate.
    pub fn net_s(&self) -> f64 {
        self.busy_s - self.background * self.elapsed_s
    }
}

impl Meter {
    /// Samples the background for a second (nothing is being sent), then opens the window.
    pub fn start() -> Result<Meter> {
        let a = ticks()?;
        let t = Instant::now();
        signals::check()?;
        std::thread::sleep(BACKGROUND);
        let b = ticks()?;
        let background = seconds(b.busy.saturating_sub(a.busy)) / t.elapsed().as_secs_f64();
        let softirqd = ksoftirqd();
        Ok(Meter {
            background,
            softirqd_start: threads_seconds(&softirqd),
            softirqd,
            start: ticks()?,
            started: Instant::now(),
        })
    }

    pub fn stop(self) -> Result<Window> {
        let end = ticks()?;
        Ok(Window {
            busy_s: seconds(end.busy.saturating_sub(self.start.busy)),
            elapsed_s: self.started.elapsed().as_secs_f64(),
            background: self.background,
            softirqd_s: threads_seconds(&self.softirqd) - self.softirqd_start,
        })
    }
}

/// The share of all CPUs' time that was busy over `limit` (bounded), now: for the bench's
/// header, to say how much other work the machine had.
pub fn busy_share(limit: Duration) -> Result<f64> {
    let a = ticks()?;
    std::thread::sleep(limit);
    let b = ticks()?;
    Ok(b.busy.saturating_sub(a.busy) as f64 / b.total.saturating_sub(a.total).max(1) as f64)
}
