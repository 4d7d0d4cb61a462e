//! Types shared by the PacketGuard XDP program and the userspace agent.
//!
//! # Layout
//!
//! - [`key`]: the canonical, bidirectional [`FlowKey`] for IPv4 and IPv6.
//! - [`record`]: per-flow state kept in the kernel ([`FlowStats`]) and what crosses the ring
//!   buffer ([`FlowRecord`], [`PacketSample`], [`FlowStart`]).
//! - [`update`]: the pure arithmetic that folds one packet into a flow, used by the kernel
//!   and by offline replay so the two cannot drift apart.
//! - [`host`]: per-destination totals the kernel keeps for the host detector.
//! - [`entry`]: the flow map's value, [`FlowEntry`]: a flow's statistics and how much of
//!   them was credited to the host map.
//! - [`wire`]: what header fields mean, for the kernel parser and the capture parser alike.
//! - [`counters`]: indices and names of the per-CPU counters.
//! - [`features`]: feature names and their order, defined once for every source.
//! - [`login`]: the login service ports the `login_attempts_per_s` feature counts.
//! - [`config`]: names of the load-time settings the agent writes into the program.
//!
//! Everything is `#[repr(C)]`, `Copy`, fixed width, without `bool` and without implicit
//! padding (checked by the size assertions in each module), so the bytes the kernel writes
//! are exactly the bytes userspace reads.
#![no_std]

pub mod config;
pub mod counters;
pub mod entry;
pub mod features;
pub mod host;
pub mod key;
pub mod login;
pub mod record;
pub mod update;
pub mod wire;

pub use counters::Counter;
pub use entry::FlowEntry;
pub use host::{HostKey, HostStats};
pub use key::FlowKey;
pub use record::{FlowRecord, FlowStart, FlowStats, PacketSample, RecordKind, RecordReason};
pub use update::PacketMeta;
