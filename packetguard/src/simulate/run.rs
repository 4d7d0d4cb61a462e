//! One simulation from request to files: survey the input, plan the attacks, merge their
//! packets into the capture in time order, write the labels.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::capture::CaptureReader;
use super::link::Macs;
use super::output::PcapOut;
use super::packet::Synth;
use super::progress::Progress;
use super::rng::Rng;
use super::schedule::Schedule;
use super::script::Script;
use super::spec::{AttackKind, AttackOptions, AttackSpec, Attacker, Plan};
use super::survey::Survey;
use super::{flows, SimulateError};
use crate::evaluate::labels::{write_labels, AttackLabel};
use crate::evaluate::net::IpNet;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Request {
    /// A pcap or pcapng capture, or a flow CSV.
    pub input: PathBuf,
    pub out: PathBuf,
    pub labels: PathBuf,
    pub attacks: Vec<AttackSpec>,
    /// The global flags, under each attack's own options.
    pub global: AttackOptions,
    pub seed: u64,
    /// Progress lines on stderr.
    pub progress: bool,
}

/// What a simulation did.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub labels: Vec<AttackLabel>,
    /// Packets (or flow rows) read from the input and written unchanged.
    pub input_records: u64,
    /// Where the input stopped being readable, if it did before its end.
    pub warning: Option<String>,
}

/// Runs `req`: writes `req.out` and `req.labels`.
pub fn simulate(req: &Request) -> Result<Outcome, SimulateError> {
    for p in [&req.out, &req.labels] {
        if same_file(p, &req.input) {
            return Err(SimulateError::SameFile(req.input.clone()));
        }
    }
    let outcome = if is_capture(&req.input)? {
        simulate_capture(req)?
    } else if flows::is_flow_csv(&req.input)? {
        flows::simulate_flows(req)?
    } else {
        return Err(SimulateError::NotAnInput(req.input.clone()));
    };
    let write_err = |source| SimulateError::Write {
        path: req.labels.clone(),
        source,
    };
    let mut out = BufWriter::new(File::create(&req.labels).map_err(write_err)?);
    write_labels(&mut out, &outcome.labels).map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(outcome)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// True for a pcap or pcapng file (by its first four bytes).
fn is_capture(path: &Path) -> Result<bool, SimulateError> {
    let mut magic = [0u8; 4];
    let mut f = File::open(path).map_err(|source| SimulateError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let n = f.read(&mut magic).map_err(|source| SimulateError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(n == 4
        && matches!(
            u32::from_be_bytes(magic),
            0x0a0d_0d0a | 0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1
        ))
}

/// Resolves every requested attack against what the input showed.
pub(super) fn plans(
    req: &Request,
    facts: &super::spec::CaptureFacts,
) -> Result<Vec<Plan>, SimulateError> {
    if req.attacks.is_empty() {
        return Err(SimulateError::BadOption("no --attack given".into()));
    }
    req.attacks
        .iter()
        .enumerate()
        .map(|(i, spec)| Plan::resolve(spec, req.global, facts, i))
        .collect()
}

/// Counts of what one attack wrote.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tally {
    pub packets: u64,
    pub bytes: u64,
    pub first_ns: Option<u64>,
    pub last_ns: u64,
}

impl Tally {
    pub fn add(&mut self, ts_ns: u64, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
        self.first_ns.get_or_insert(ts_ns);
        self.last_ns = self.last_ns.max(ts_ns);
    }
}

/// The label of an attack that wrote `tally`.
pub(super) fn label(plan: &Plan, tally: &Tally) -> AttackLabel {
    let attacker = match plan.attacker {
        Attacker::Host(a) => IpNet::host(a),
        Attacker::Spoofed if plan.victim.is_ipv4() => IpNet {
            addr: Ipv4Addr::new(198, 18, 0, 0).into(),
            prefix: 15,
        },
        Attacker::Spoofed => IpNet {
            addr: Ipv6Addr::new(0x2001, 0xdb8, 0x5900, 0, 0, 0, 0, 0).into(),
            prefix: 40,
        },
    };
    let victim = if plan.kind == AttackKind::HorizontalScan {
        let (addr, prefix): (IpAddr, u8) = match plan.victim {
            IpAddr::V4(_) => (super::script::in_same_24(plan.victim, 0), 24),
            IpAddr::V6(_) => (super::script::in_same_24(plan.victim, 0), 120),
        };
        IpNet { addr, prefix }
    } else {
        IpNet::host(plan.victim)
    };
    AttackLabel {
        file: None,
        attack: plan.kind.as_str().to_string(),
        attacker: Some(attacker),
        victim,
        start_ns: tally.first_ns.unwrap_or(plan.start_ns),
        end_ns: tally.last_ns.max(tally.first_ns.unwrap_or(plan.start_ns)),
        packets: Some(tally.packets),
        bytes: Some(tally.bytes),
        spoofed: plan.attacker == Attacker::Spoofed,
    }
}

/// The attacks' packet streams, one per plan, from one seed.
pub(super) fn schedules(
    plans: &[Plan],
    seed: u64,
    quantum_ns: u64,
    survey: Option<&Survey>,
) -> Vec<Schedule> {
    let mut rng = Rng::new(seed);
    plans
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            let open = survey
                .map(|s| s.listening_ports(plan.victim))
                .unwrap_or_default();
            Schedule::new(Script::new(*plan, rng.fork(i as u64), open), quantum_ns)
        })
        .collect()
}

/// The attack whose next packet is earliest and earlier than `before` (ties to the
/// first attack).
pub(super) fn earliest(schedules: &mut [Schedule], before: u64) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (i, s) in schedules.iter_mut().enumerate() {
        if let Some(t) = s.peek_ns() {
            if t < before && best.is_none_or(|(bt, _)| t < bt) {
                best = Some((t, i));
            }
        }
    }
    best.map(|(_, i)| i)
}

fn simulate_capture(req: &Request) -> Result<Outcome, SimulateError> {
    let mut first = CaptureReader::open(&req.input)?;
    let survey = Survey::run(&mut first, &mut Progress::new(req.progress))?;
    drop(first);
    let plans = plans(req, &survey.facts())?;
    let mut reader = CaptureReader::open(&req.input)?;
    for p in &plans {
        if !reader.link.carries(p.victim) {
            return Err(SimulateError::LinkFamily {
                victim: p.victim,
                linktype: reader.linktype,
            });
        }
    }
    let link = reader.link;
    let macs: Vec<Macs> = plans.iter().map(|p| survey.macs_of(p.victim)).collect();
    let mut out = PcapOut::create(&req.out, &reader)?;
    let mut schedules = schedules(&plans, req.seed, out.quantum_ns(), Some(&survey));
    let mut tallies = vec![Tally::default(); plans.len()];
    let mut buf = Vec::with_capacity(2048);
    let mut progress = Progress::new(req.progress);
    let mut inject = |i: usize, p: Synth, out: &mut PcapOut| -> Result<(), SimulateError> {
        link.write_frame(&p, &macs[i], &mut buf);
        out.write(p.ts_ns, buf.len() as u32, &buf)?;
        tallies[i].add(p.ts_ns, buf.len());
        Ok(())
    };
    let mut injected = 0u64;
    while let Some(frame) = reader.next_frame()? {
        while let Some(i) = earliest(&mut schedules, frame.ts_ns) {
            if let Some(p) = schedules[i].next_packet() {
                inject(i, p, &mut out)?;
                injected += 1;
            }
        }
        out.write_frame(&frame)?;
        progress.tick("merged", reader.packets(), injected);
    }
    while let Some(i) = earliest(&mut schedules, u64::MAX) {
        if let Some(p) = schedules[i].next_packet() {
            inject(i, p, &mut out)?;
        }
    }
    out.finish()?;
    Ok(Outcome {
        labels: plans
            .iter()
            .zip(&tallies)
            .map(|(p, t)| label(p, t))
            .collect(),
        input_records: reader.packets(),
        warning: reader.stopped().map(str::to_string),
    })
}
