//! The two roles of a window: which address a flow start counts for, and the features of
//! a row. The feature functions are also what the generated training data goes through
//! (`crate::baseline`), so the default models see rows built exactly as live ones.

use std::time::Duration;

use packetguard_common::{
    features::{N_HOST_FEATURES, N_SOURCE_FEATURES},
    HostKey, HostStats,
};

use super::{Role, StartCounts, WindowRole};

/// Per destination address: what it received, the flows opened toward it and their
/// sources.
pub enum Destination {}

/// Per source address: what it sent, the flows it opened and their destinations.
pub enum Source {}

/// The window length in seconds, never zero.
fn seconds(window: Duration) -> f64 {
    window.as_secs_f64().max(1e-3)
}

/// `a / b`, 0 when `b` is 0.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The destination features of one window, in
/// [`packetguard_common::features::HOST_FEATURES`] order: packets/s, bytes/s, new flows/s,
/// distinct sources, distinct destination ports, SYN-without-ACK share of TCP packets,
/// mean frame size, login attempts received per second, and of those the repeated ones
/// (from a source that had already made one in the window) per second. `s` counts the flows opened toward
/// the address (`peers` are their sources).
pub fn destination_features(
    d: &HostStats,
    s: &StartCounts,
    window: Duration,
) -> [f64; N_HOST_FEATURES] {
    let secs = seconds(window);
    [
        d.packets as f64 / secs,
        d.bytes as f64 / secs,
        s.new_flows as f64 / secs,
        s.peers as f64,
        s.ports as f64,
        ratio(d.syn_without_ack, d.tcp_packets),
        ratio(d.bytes, d.packets),
        s.logins as f64 / secs,
        s.repeated_logins as f64 / secs,
    ]
}

/// The source features of one window, in
/// [`packetguard_common::features::SOURCE_FEATURES`] order: packets/s and bytes/s sent,
/// flows opened per second (`s.new_flows`, the attempts), distinct destinations (`s.peers`),
/// distinct destination ports, SYN-without-ACK share of TCP packets sent, failed share of
/// the attempts, failed attempts per second, non-TCP packets sent per second, login
/// attempts made per second, and of those the repeated ones (to a destination already
/// tried in the window) per second.
///
/// An attempt failed unless it was answered (`d.answered`, from the source map); answers
/// that arrive in the window after their attempt can make `answered` exceed the attempts,
/// so the failed count is clamped at zero.
pub fn source_features(
    d: &HostStats,
    s: &StartCounts,
    window: Duration,
) -> [f64; N_SOURCE_FEATURES] {
    let secs = seconds(window);
    let attempts = s.new_flows;
    let failed = attempts.saturating_sub(d.answered);
    [
        d.packets as f64 / secs,
        d.bytes as f64 / secs,
        attempts as f64 / secs,
        s.peers as f64,
        s.ports as f64,
        ratio(d.syn_without_ack, d.tcp_packets),
        ratio(failed, attempts),
        failed as f64 / secs,
        d.packets.saturating_sub(d.tcp_packets) as f64 / secs,
        s.logins as f64 / secs,
        s.repeated_logins as f64 / secs,
    ]
}

impl Role for Destination {
    const ROLE: WindowRole = WindowRole::Destination;
    type Row = [f64; N_HOST_FEATURES];

    fn sides(opener: HostKey, target: HostKey) -> (HostKey, HostKey) {
        (target, opener)
    }

    fn features(traffic: &HostStats, s: &StartCounts, window: Duration) -> Self::Row {
        destination_features(traffic, s, window)
    }
}

impl Role for Source {
    const ROLE: WindowRole = WindowRole::Source;
    type Row = [f64; N_SOURCE_FEATURES];

    fn sides(opener: HostKey, target: HostKey) -> (HostKey, HostKey) {
        (opener, target)
    }

    fn features(traffic: &HostStats, s: &StartCounts, window: Duration) -> Self::Row {
        source_features(traffic, s, window)
    }
}
