//! Cost per packet of the kernel programs: the full XDP (ingress) program beside two
//! reference programs from the same object, the count-only baseline and the per-flow floor
//! (parse, clock, one flow-map update), and the TC egress program, which runs the same
//! per-packet path behind a different entry point.
//!
//! The machine's load drifts while a benchmark runs, so the three programs are measured in
//! interleaved rounds on the same frame, and each figure is the median over the rounds; a
//! ratio is the median of the rounds' ratios, each taken between neighbouring runs.

use anyhow::{bail, Context, Result};
use aya::programs::{Program, TestRun, TestRunOptions};
use packetguard_common::config::{PROGRAM_TC_EGRESS, PROGRAM_XDP};

use super::tcp_frame;
use crate::datapath::{DataPath, DataPathConfig, DataPathError};

const BASELINE: &str = "packetguard_baseline";
const FLOOR: &str = "packetguard_floor";
/// Interleaved measurement rounds.
const ROUNDS: u32 = 10;
/// Flows of the many-flow measurement.
const MANY_FLOWS: u16 = 4096;

/// Mean ns per run reported by the kernel for `repeat` runs of `frame`.
pub(super) fn test_run_ns(
    dp: &mut DataPath,
    prog: &'static str,
    frame: &[u8],
    repeat: u32,
) -> Result<f64> {
    let opts = TestRunOptions {
        data_in: Some(frame),
        repeat,
        ..Default::default()
    };
    let r = match find(dp, prog)? {
        Program::Xdp(p) => p.test_run(opts),
        Program::SchedClassifier(p) => p.test_run(opts),
        _ => bail!("{prog} is neither an XDP nor a TC program"),
    }
    .context("BPF_PROG_TEST_RUN")?;
    Ok(r.duration.as_nanos() as f64)
}

fn find<'a>(dp: &'a mut DataPath, prog: &'static str) -> Result<&'a mut Program> {
    dp.ebpf_mut().program_mut(prog).ok_or_else(|| {
        DataPathError::Missing {
            what: "program",
            name: prog,
        }
        .into()
    })
}

/// A program's kernel run-time statistics: total ns and runs so far.
fn kernel_stats(dp: &mut DataPath, prog: &'static str) -> Result<(u64, u64)> {
    let info = find(dp, prog)?.info()?;
    Ok((info.run_time().as_nanos() as u64, info.run_count()))
}

/// One program's figures in one round: test-run ns and kernel-stats ns per packet.
#[derive(Clone, Copy)]
struct Sample {
    test_run: f64,
    kernel: f64,
}

fn measure(dp: &mut DataPath, prog: &'static str, frame: &[u8], repeat: u32) -> Result<Sample> {
    let (t0, n0) = kernel_stats(dp, prog)?;
    let test_run = test_run_ns(dp, prog, frame, repeat)?;
    let (t1, n1) = kernel_stats(dp, prog)?;
    Ok(Sample {
        test_run,
        kernel: (t1 - t0) as f64 / (n1 - n0).max(1) as f64,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The rounds of the three programs.
#[derive(Default)]
struct Rounds {
    base: Vec<Sample>,
    floor: Vec<Sample>,
    full: Vec<Sample>,
    egress: Vec<Sample>,
}

impl Rounds {
    /// Median of `of` over the rounds of `prog`.
    fn median(prog: &[Sample], of: fn(&Sample) -> f64) -> f64 {
        median(prog.iter().map(of).collect())
    }

    /// Median over the rounds of `prog`'s figure divided by the baseline's.
    fn ratio(&self, prog: &[Sample], of: fn(&Sample) -> f64) -> f64 {
        median(
            prog.iter()
                .zip(&self.base)
                .map(|(p, b)| of(p) / of(b))
                .collect(),
        )
    }
}

/// Measures and prints the XDP figures; `repeat` test runs per program in all.
pub fn print_costs(repeat: u32) -> Result<()> {
    let mut dp = DataPath::load(&DataPathConfig::default())?;
    dp.load_program(BASELINE)?;
    dp.load_program(FLOOR)?;
    dp.load_egress()?;

    let frame = tcp_frame(40000);
    // Warm up so the flows exist and caches are hot.
    for prog in [PROGRAM_XDP, BASELINE, FLOOR, PROGRAM_TC_EGRESS] {
        test_run_ns(&mut dp, prog, &frame, 10_000)?;
    }
    let per_round = (repeat / ROUNDS).max(1);
    let mut r = Rounds::default();
    for _ in 0..ROUNDS {
        r.base.push(measure(&mut dp, BASELINE, &frame, per_round)?);
        r.floor.push(measure(&mut dp, FLOOR, &frame, per_round)?);
        r.full
            .push(measure(&mut dp, PROGRAM_XDP, &frame, per_round)?);
        r.egress
            .push(measure(&mut dp, PROGRAM_TC_EGRESS, &frame, per_round)?);
    }
    // Many flows: each frame is a flow of its own, so every run looks up a different entry.
    let per_frame = (repeat / MANY_FLOWS as u32).max(1);
    let mut many = 0.0;
    for sport in 0..MANY_FLOWS {
        many += test_run_ns(&mut dp, PROGRAM_XDP, &tcp_frame(10_000 + sport), per_frame)?;
    }
    many /= MANY_FLOWS as f64;

    let tr = |s: &Sample| s.test_run;
    let ks = |s: &Sample| s.kernel;
    let base = Rounds::median(&r.base, tr);
    println!(
        "XDP cost per packet (BPF_PROG_TEST_RUN, {repeat} repeats per program in {ROUNDS} \
         interleaved rounds, 154-byte TCP frame; medians)"
    );
    println!("  count-only baseline                 {base:8.1} ns");
    println!(
        "  per-flow floor (parse, clock, one flow-map update)\n\
         \x20                                     {:8.1} ns   {:.2}x baseline",
        Rounds::median(&r.floor, tr),
        r.ratio(&r.floor, tr)
    );
    println!(
        "  full feature path, one flow         {:8.1} ns   {:.2}x baseline",
        Rounds::median(&r.full, tr),
        r.ratio(&r.full, tr)
    );
    println!(
        "  full feature path, {MANY_FLOWS} flows       {many:8.1} ns   {:.2}x baseline",
        many / base
    );
    println!(
        "  egress (TC) program, one flow       {:8.1} ns   {:.2}x baseline, {:.2}x the XDP program",
        Rounds::median(&r.egress, tr),
        r.ratio(&r.egress, tr),
        median(
            r.egress
                .iter()
                .zip(&r.full)
                .map(|(e, x)| e.test_run / x.test_run)
                .collect()
        )
    );
    println!(
        "  kernel stats run_time_ns/run_cnt: baseline {:.1} ns, floor {:.1} ns ({:.2}x), \
         full {:.1} ns ({:.2}x), egress {:.1} ns ({:.2}x)",
        Rounds::median(&r.base, ks),
        Rounds::median(&r.floor, ks),
        r.ratio(&r.floor, ks),
        Rounds::median(&r.full, ks),
        r.ratio(&r.full, ks),
        Rounds::median(&r.egress, ks),
        r.ratio(&r.egress, ks)
    );
    println!("  target: full path at most 2x the count-only program");
    Ok(())
}
