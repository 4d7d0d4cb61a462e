//! Every default setting, in one place. The flags' help, the example configuration
//! (`deploy/packetguard.toml`) and the README quote these; the tests check the help does.

use std::{net::SocketAddr, time::Duration};

use packetguard_common::config;

use crate::datapath::{AttachMode, Direction, TcMode};

/// Which packets to see: both directions (an end host's two-sided flows).
pub const DIRECTION: Direction = Direction::Both;
/// Native XDP, falling back to generic (skb) mode with a message.
pub const XDP_MODE: AttachMode = AttachMode::Auto;
/// A TCX link where the kernel has it (Linux 6.6+), else a clsact qdisc.
pub const TC_MODE: TcMode = TcMode::Auto;
/// A flow with no packet for this long is exported and removed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// A long-lived flow is exported (and goes on) every this long.
pub const ACTIVE_TIMEOUT: Duration = Duration::from_nanos(config::DEFAULT_ACTIVE_TIMEOUT_NS);
/// Kernel flow map entries.
pub const FLOW_ENTRIES: u32 = config::DEFAULT_FLOW_ENTRIES;
/// Packet sampling: off.
pub const SAMPLE_EVERY: u32 = 0;
/// Where `/metrics` and the live page are served: loopback only, so nothing is exposed
/// to the network by accident; the port the shipped Prometheus configuration scrapes.
pub const METRICS_ADDR: SocketAddr = crate::metrics::DEFAULT_METRICS_ADDR;
/// Anomaly events go to standard output.
pub const EVENTS: &str = "-";
/// The live page is served beside `/metrics`.
pub const UI: bool = true;
/// Anomaly events per address and detector in each rate-limit interval.
pub const EVENT_RATE_LIMIT: u32 = 5;
/// The event rate-limit interval.
pub const EVENT_RATE_INTERVAL: Duration = Duration::from_secs(10);
/// Addresses the event rate limiter tracks at once.
pub const EVENT_RATE_HOSTS: usize = 4096;
/// Events written per second over every address and detector.
pub const EVENT_BUDGET_PER_S: u32 = 100;
