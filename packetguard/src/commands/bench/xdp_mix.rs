//! XDP cost on traffic where most packets open flows: [`MIX_FLOWS`] new flows of
//! [`MIX_PACKETS`] packets each, with flow starts emitted as `packetguard run` does with its
//! detectors. Beside the full path over each candidate map, programs that stop after each
//! stage of the production path show where a packet's time goes: counters, parse and
//! clock; finding or creating the flow's entry; the flow start event; folding the packet
//! in; and the rest (claim, host and source credit, records).
//!
//! Each round runs every program once over the whole mix, starting from empty flow maps
//! (the maps the program uses are cleared first, and the ring buffer drained), one packet
//! per test run: a first pass in which every packet creates its flow, then passes in which
//! every packet finds it. Kernel statistics are the main figure here: a single test run's
//! timing includes the test-run loop's own setup.

use anyhow::{Context, Result};
use aya::{
    maps::{HashMap, MapData},
    Pod,
};
use packetguard_common::{config::MAP_FLOWS, FlowEntry, FlowKey};

use super::{
    tcp_frame_from,
    xdp::{measure, med, ratio, Sample, BASELINE, CANDIDATES, KS, TR},
};
use crate::datapath::DataPath;

/// Flows in the mix.
const MIX_FLOWS: u32 = 16_384;
/// Packets per flow.
const MIX_PACKETS: u32 = 4;
/// Interleaved rounds.
const MIX_ROUNDS: usize = 5;
/// Distinct source addresses of the mix (192.0.2.1 up), each with `MIX_FLOWS / SOURCES`
/// source ports, all to one destination.
const SOURCES: u32 = 64;

/// The stage programs over the production map, in the order of the path.
pub(super) const STAGES: [(&str, &str); 4] = [
    (
        "stop after counters, parse, clock",
        "packetguard_stage_parsed",
    ),
    (
        "stop after flow entry found or created",
        "packetguard_stage_entry",
    ),
    ("stop after flow start event", "packetguard_stage_start"),
    ("stop after packet folded in", "packetguard_stage_folded"),
];

/// One program's figures in one round: a creating packet, a later packet, and the mix.
#[derive(Clone, Copy)]
struct MixSample {
    create: Sample,
    later: Sample,
    mix: Sample,
}

/// Removes every entry of flow map `name` (keys of type `K`).
fn clear_typed<K: Pod>(dp: &mut DataPath, name: &str) -> Result<()> {
    let map = dp
        .ebpf_mut()
        .map_mut(name)
        .with_context(|| format!("no map {name}"))?;
    let mut h: HashMap<&mut MapData, K, FlowEntry> = HashMap::try_from(map)?;
    let keys: Vec<K> = h.keys().collect::<Result<_, _>>()?;
    for k in keys {
        h.remove(&k)?;
    }
    Ok(())
}

/// Empties the flow maps `names`; the 16-byte-key maps end in `4`.
fn clear(dp: &mut DataPath, names: &[&str]) -> Result<()> {
    for name in names {
        if name.ends_with('4') {
            clear_typed::<[u32; 4]>(dp, name)?;
        } else {
            clear_typed::<FlowKey>(dp, name)?;
        }
    }
    Ok(())
}

/// Runs the mix once through `prog` on empty `maps`.
fn run_mix(
    dp: &mut DataPath,
    events: &mut aya::maps::RingBuf<MapData>,
    prog: &'static str,
    maps: &[&str],
    frames: &[Vec<u8>],
) -> Result<MixSample> {
    clear(dp, maps)?;
    while events.next().is_some() {}
    let create = measure(dp, prog, frames, 1)?;
    let mut later = Sample::default();
    for _ in 1..MIX_PACKETS {
        let s = measure(dp, prog, frames, 1)?;
        later.test_run += s.test_run / (MIX_PACKETS - 1) as f64;
        later.kernel += s.kernel / (MIX_PACKETS - 1) as f64;
    }
    let n = MIX_PACKETS as f64;
    let mean = |c: f64, l: f64| (c + (n - 1.0) * l) / n;
    Ok(MixSample {
        create,
        later,
        mix: Sample {
            test_run: mean(create.test_run, later.test_run),
            kernel: mean(create.kernel, later.kernel),
        },
    })
}

/// Measures and prints the many-flow mix.
pub(super) fn print_mix(dp: &mut DataPath) -> Result<()> {
    let mut events = dp.take_events()?;
    let frames: Vec<Vec<u8>> = (0..MIX_FLOWS)
        .map(|i| tcp_frame_from(1 + (i % SOURCES) as u8, 20_000 + (i / SOURCES) as u16))
        .collect();
    let mut progs: Vec<(&str, &'static str, &[&str])> =
        vec![("count-only baseline", BASELINE, &[])];
    progs.extend(STAGES.iter().map(|(l, p)| (*l, *p, &[MAP_FLOWS][..])));
    progs.extend(CANDIDATES.iter().map(|c| (c.label, c.program, c.maps)));
    let mut rounds: Vec<Vec<MixSample>> = vec![Vec::new(); progs.len()];
    for _ in 0..MIX_ROUNDS {
        for (i, (_, prog, maps)) in progs.iter().enumerate() {
            rounds[i].push(run_mix(dp, &mut events, prog, maps, &frames)?);
        }
    }

    println!(
        "XDP cost with {MIX_FLOWS} new flows of {MIX_PACKETS} packets each from {SOURCES} \
         sources, flow starts on (one packet per test run, {MIX_ROUNDS} interleaved rounds \
         from empty flow maps; medians; kernel stats unless marked)"
    );
    println!(
        "  {:<44} {:>10} {:>10} {:>10} {:>7} {:>14}",
        "", "creating", "later", "mix", "x base", "test-run mix"
    );
    let base: Vec<Sample> = rounds[0].iter().map(|s| s.mix).collect();
    for (i, (label, _, _)) in progs.iter().enumerate() {
        let pick =
            |f: fn(&MixSample) -> Sample| -> Vec<Sample> { rounds[i].iter().map(f).collect() };
        let mix = pick(|s| s.mix);
        println!(
            "  {label:<44} {:7.1} ns {:7.1} ns {:7.1} ns {:6.2}x {:9.1} ns",
            med(&pick(|s| s.create), KS),
            med(&pick(|s| s.later), KS),
            med(&mix, KS),
            ratio(&mix, &base, KS),
            med(&mix, TR),
        );
    }
    Ok(())
}
