//! `packetguard simulate`: injects synthetic attacks into a capture or a flow CSV, and
//! writes their ground truth.
//!
//! # Layout
//!
//! - `spec`: attack kinds, their options and defaults, and the [`Plan`] each resolves to.
//! - `script`: what each attack sends, burst by burst; `conversation` keeps TCP sequence
//!   numbers consistent; `schedule` puts an attack's packets in time order.
//! - `packet`: a synthetic packet and its IP bytes; `link`: link-layer headers; `rng`: the
//!   seeded generator behind every choice.
//! - `capture` reads pcap and pcapng; `survey` is the first pass over it; `output`
//!   writes the labelled pcap; `run` merges the two streams.
//! - `flows`: the flow CSV input, where attacks become flow rows.
//!
//! The output is a function of the input, the options and the seed alone: no clock, no
//! hash order and no library generator goes into it.

mod capture;
mod conversation;
mod flows;
mod link;
mod output;
mod packet;
mod progress;
mod rng;
mod run;
mod schedule;
mod script;
mod spec;
mod survey;

use std::io;
use std::path::PathBuf;

pub use run::{simulate, Outcome, Request};
pub use script::{BRUTE_FORCE_PACKETS, EXFIL_SEGMENT, UDP_FLOOD_PAYLOAD};
pub use spec::{
    AttackKind, AttackOptions, AttackSpec, Attacker, Plan, StartAt, DEFAULT_DURATION_S,
    DEFAULT_START_PERCENT,
};

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("unknown attack '{0}' (syn-flood, udp-flood, vertical-scan, horizontal-scan, brute-force, exfiltration)")]
    UnknownAttack(String),
    #[error("{0}")]
    BadOption(String),
    #[error("the input shows no IP destination to attack: give --victim")]
    NoVictim,
    #[error("cannot read {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The capture cannot be opened or read (the reader names the file).
    #[error(transparent)]
    Read(crate::capture::ReadError),
    #[error("{0}: pcapng packets without an interface description before them")]
    NoInterface(PathBuf),
    #[error("{path}: link type {linktype} ({}) is not supported; Ethernet (1), raw IP (101, 228, 229) and Linux cooked captures (113, 276) are", link_name(.linktype))]
    UnsupportedLink { path: PathBuf, linktype: u32 },
    #[error("{path}: interfaces of link types {first} and {other} in one file; split it first (editcap)")]
    MixedLinks {
        path: PathBuf,
        first: u32,
        other: u32,
    },
    #[error("victim {victim} cannot be written in link type {linktype} (another IP version)")]
    LinkFamily {
        victim: std::net::IpAddr,
        linktype: u32,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("timestamp {0} ns is past what a pcap file can hold (2106)")]
    TimeRange(u64),
    #[error("{0} is neither a pcap/pcapng capture nor a packetguard flow CSV (its first line is not the flow header)")]
    NotAnInput(PathBuf),
    #[error("--out and --labels must not name the input {0}")]
    SameFile(PathBuf),
    #[error("{path} line {line}: {what}")]
    FlowCsv {
        path: PathBuf,
        line: u64,
        what: String,
    },
}

/// A link type's libpcap name (`IEEE802_11_RADIO`).
fn link_name(linktype: &u32) -> String {
    format!("{:?}", pcap_file::DataLink::from(*linktype))
}
