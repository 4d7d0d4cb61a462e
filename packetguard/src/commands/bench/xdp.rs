//! Cost per packet of the kernel programs: the full XDP (ingress) program beside two
//! reference programs from the same object, the count-only baseline and the per-flow floor
//! (parse, clock, one flow-map update), the same full path over each candidate flow map
//! (a plain preallocated hash map, a 16-byte IPv4 key in its own map, and the LRU map at
//! the candidates' size, with shared or per-CPU LRU lists), and the TC egress program, which runs the production path behind
//! a different entry point. [`super::xdp_mix`] adds traffic where most packets open flows.
//!
//! The machine's load drifts while a benchmark runs, so the programs are measured in
//! interleaved rounds, and each figure is the median over the rounds; a ratio is the median
//! of the rounds' ratios, each taken between neighbouring runs. Every figure is given by
//! `BPF_PROG_TEST_RUN` timing and by the kernel's run-time statistics
//! (`run_time_ns / run_cnt`, which leave out the test-run loop's own overhead).

use anyhow::{bail, Context, Result};
use aya::programs::{Program, TestRun, TestRunOptions};
use packetguard_common::config::{PROGRAM_TC_EGRESS, PROGRAM_XDP};

use super::{tcp_frame, xdp_mix};
use crate::datapath::{DataPath, DataPathConfig, DataPathError};

pub(super) const BASELINE: &str = "packetguard_baseline";
const FLOOR: &str = "packetguard_floor";
/// Interleaved measurement rounds.
const ROUNDS: u32 = 10;
/// Flows of the many-flow working set.
const MANY_FLOWS: u16 = 4096;

/// A candidate flow layout: its label, the program running the full path over it, and its
/// maps (sized by the benchmark at load, cleared between the mix's rounds).
pub(super) struct Candidate {
    pub label: &'static str,
    pub program: &'static str,
    pub maps: &'static [&'static str],
}

/// Entries of each candidate map: room for the mix's flows without eviction.
pub(super) const CANDIDATE_ENTRIES: u32 = 65_536;

/// The production program and the candidates, in print order.
pub(super) const CANDIDATES: [Candidate; 6] = [
    Candidate {
        label: "LRU, 40-byte key (production map)",
        program: PROGRAM_XDP,
        maps: &["FLOWS"],
    },
    Candidate {
        label: "LRU, 40-byte key, candidate size",
        program: "packetguard_bench_lru",
        maps: &["BENCH_LRU"],
    },
    Candidate {
        label: "LRU, 40-byte key, per-CPU LRU lists",
        program: "packetguard_bench_lru_percpu",
        maps: &["BENCH_LRU_PERCPU"],
    },
    Candidate {
        label: "plain hash, 40-byte key",
        program: "packetguard_bench_hash",
        maps: &["BENCH_HASH"],
    },
    Candidate {
        label: "LRU, 16-byte IPv4 key + IPv6 map",
        program: "packetguard_bench_lru_split",
        maps: &["BENCH_LRU4", "BENCH_LRU6"],
    },
    Candidate {
        label: "plain hash, 16-byte IPv4 key + IPv6 map",
        program: "packetguard_bench_hash_split",
        maps: &["BENCH_HASH4", "BENCH_HASH6"],
    },
];

/// Loads the object with the candidate maps sized, emitting flow starts as `packetguard
/// run` does with its detectors, and loads every program the benchmark runs.
pub(super) fn load_all() -> Result<DataPath> {
    let sizes: Vec<(&str, u32)> = CANDIDATES[1..]
        .iter()
        .flat_map(|c| c.maps.iter().map(|m| (*m, CANDIDATE_ENTRIES)))
        .collect();
    let cfg = DataPathConfig {
        emit_flow_starts: true,
        ..DataPathConfig::default()
    };
    let mut dp = DataPath::load_sized(&cfg, &sizes)?;
    for prog in [BASELINE, FLOOR]
        .into_iter()
        .chain(CANDIDATES[1..].iter().map(|c| c.program))
        .chain(xdp_mix::STAGES.iter().map(|s| s.1))
    {
        dp.load_program(prog)
            .with_context(|| format!("loading {prog}"))?;
    }
    dp.load_egress()?;
    Ok(dp)
}

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
#[derive(Clone, Copy, Default)]
pub(super) struct Sample {
    pub test_run: f64,
    pub kernel: f64,
}

/// Runs `prog` on each of `frames`, `repeat` times each in a row, and returns the mean cost
/// of one run over all of them.
pub(super) fn measure(
    dp: &mut DataPath,
    prog: &'static str,
    frames: &[Vec<u8>],
    repeat: u32,
) -> Result<Sample> {
    let (t0, n0) = kernel_stats(dp, prog)?;
    let mut sum = 0.0;
    for frame in frames {
        sum += test_run_ns(dp, prog, frame, repeat)?;
    }
    let (t1, n1) = kernel_stats(dp, prog)?;
    Ok(Sample {
        test_run: sum / frames.len().max(1) as f64,
        kernel: (t1 - t0) as f64 / (n1 - n0).max(1) as f64,
    })
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(super) const TR: fn(&Sample) -> f64 = |s| s.test_run;
pub(super) const KS: fn(&Sample) -> f64 = |s| s.kernel;

/// Median of `of` over `rounds`.
pub(super) fn med(rounds: &[Sample], of: fn(&Sample) -> f64) -> f64 {
    median(rounds.iter().map(of).collect())
}

/// Median over the rounds of `prog`'s figure divided by `base`'s in the same round.
pub(super) fn ratio(prog: &[Sample], base: &[Sample], of: fn(&Sample) -> f64) -> f64 {
    median(prog.iter().zip(base).map(|(p, b)| of(p) / of(b)).collect())
}

/// `  label   x ns  r.rrx | y ns  s.ssx` for one program beside the baseline, by test run
/// and by kernel statistics.
pub(super) fn row(label: &str, prog: &[Sample], base: &[Sample]) -> String {
    format!(
        "  {label:<44} {:7.1} ns {:5.2}x | {:7.1} ns {:5.2}x",
        med(prog, TR),
        ratio(prog, base, TR),
        med(prog, KS),
        ratio(prog, base, KS)
    )
}

/// Measures and prints the XDP figures: `repeat` test runs per program for one flow,
/// [`ROUNDS`] passes over the flows for many.
///
/// The many-flow cases run one packet per test run, the flows in turn as traffic would
/// bring them: a test run of more than one repeat switches the kernel's XDP dispatcher to
/// the program and back, an RCU grace period each way, which thousands of calls cannot
/// afford. Its timing then includes the test-run loop's own setup, so kernel statistics
/// are the figure to read there.
pub fn print_costs(repeat: u32) -> Result<()> {
    let mut dp = load_all()?;
    let one = [tcp_frame(40000)];
    let many: Vec<Vec<u8>> = (0..MANY_FLOWS).map(|p| tcp_frame(10_000 + p)).collect();
    let mut progs: Vec<(&str, &'static str)> = vec![("count-only baseline", BASELINE)];
    progs.push(("per-flow floor (parse, clock, one LRU update)", FLOOR));
    progs.extend(
        CANDIDATES
            .iter()
            .map(|c| (c.label, c.program))
            .chain([("egress (TC) program, production map", PROGRAM_TC_EGRESS)]),
    );
    // Warm up: every flow exists and caches are hot before the first round.
    for (_, prog) in &progs {
        measure(&mut dp, prog, &one, 10_000)?;
        measure(&mut dp, prog, &many, 1)?;
    }
    let per_round = (repeat / ROUNDS).max(1);
    let mut one_r = vec![Vec::new(); progs.len()];
    let mut many_r = vec![Vec::new(); progs.len()];
    for _ in 0..ROUNDS {
        for (i, (_, prog)) in progs.iter().enumerate() {
            one_r[i].push(measure(&mut dp, prog, &one, per_round)?);
        }
        for (i, (_, prog)) in progs.iter().enumerate() {
            many_r[i].push(measure(&mut dp, prog, &many, 1)?);
        }
    }

    println!(
        "XDP cost per packet (BPF_PROG_TEST_RUN, {repeat} repeats per program in \
         {ROUNDS} interleaved rounds, 154-byte TCP frame; medians; candidate maps \
         {CANDIDATE_ENTRIES} entries, production map {} entries)",
        DataPathConfig::default().flow_entries
    );
    for (case, rounds) in [
        ("one flow".to_string(), &one_r),
        (
            format!("{MANY_FLOWS} existing flows, one packet each in turn, one per test run"),
            &many_r,
        ),
    ] {
        println!("  {case}: test run, x baseline | kernel stats, x baseline");
        for (i, (label, _)) in progs.iter().enumerate() {
            println!("{}", row(label, &rounds[i], &rounds[0]));
        }
    }
    println!(
        "  target: with {MANY_FLOWS} flows, the full path at most 2x the count-only program \
         by test run and at most 2.5x by kernel statistics"
    );
    xdp_mix::print_mix(&mut dp)
}
