//! Per-address one-second windows: the rows of the host (destination) and source detectors.
//!
//! One window type, [`Windows`], serves two roles ([`Role`], in `roles`):
//! - [`DestinationWindows`]: what each address *received*, from the kernel's destination map
//!   (`HOSTS`), scored by the host detector. This is the window the host detector always
//!   had; it was called `HostWindows` before the source role existed, and keeps the
//!   detector name `host` (metrics, events, `host.pgm`) for compatibility;
//! - [`SourceWindows`]: what each address *sent*, from the kernel's source map (`SOURCES`),
//!   scored by the source detector.
//!
//! Two inputs feed a window:
//! - the kernel's per-address totals (packets, bytes, TCP packets, SYN-without-ACK packets,
//!   and for sources the flows answered), read once per window; the window gets the
//!   difference from the last reading, plus what flows the agent removed had counted
//!   without crediting it to the kernel's totals (a flow direction credits at most a tenth
//!   of a second late, see `packetguard_common::entry`);
//! - flow-start events from the ring buffer, for new flows, distinct peers and distinct
//!   destination ports. Only flows *opened* count: a TCP flow whose first packet is a
//!   connection attempt (a SYN without ACK, or a first fragment cut inside its TCP header,
//!   see `packetguard_common::host::connection_attempt`), or any UDP or ICMP flow. A TCP flow first seen mid-stream predates the
//!   agent, and one first seen at its SYN-ACK was opened by a host whose SYN the agent did
//!   not see; neither is a connection attempt. A destination window counts the flows opened
//!   toward its address and their distinct sources; a source window counts the flows its
//!   address opened and their distinct destinations. Of those, the TCP flows to a login
//!   service port ([`packetguard_common::login::LOGIN_PORTS`]) are also counted as login
//!   attempts, received or made, and those to or from a peer that already had one in the
//!   window as repeated ones: a password guesser's short connections are otherwise those
//!   of any client fetching pages from one server, and its logins those of an Ansible run
//!   reaching as many hosts.
//!
//! Memory stays bounded under a flood of spoofed addresses, and every bound reached is
//! reported by [`Closed::saturated`] (and exported per role as
//! `packetguard_window_saturated_total`):
//! - at most [`MAX_PAIRS`] distinct (address, peer), (address, port) and (address, peer)
//!   login pairs per window, together; past that, every further flow start counts as new
//!   (distinct counts are upper bounds) and a login to a peer not yet remembered as not
//!   repeated (repeated logins are lower bounds; login counts stay exact);
//! - at most [`MAX_ADDRESSES`] addresses per window, of which flow starts alone may add
//!   half, so a flood of spoofed flow starts cannot crowd out the addresses the kernel map
//!   reports; an address past the bound gets no row this window;
//! - at most [`MAX_ADDRESSES`] kernel readings remembered. An address whose previous
//!   reading was not remembered has no known baseline and adds nothing to the window (its
//!   totals whole could be everything it ever sent): its counts are lower bounds.

mod roles;

use std::collections::{hash_map::Entry, HashMap, HashSet};
use std::marker::PhantomData;
use std::time::Duration;

use packetguard_common::{
    key::{IPPROTO_TCP, IPPROTO_UDP},
    login::is_login_port,
    FlowStart, HostKey, HostStats,
};

pub use roles::{destination_features, source_features, Destination, Source};

/// Distinct (address, peer) and (address, port) pairs remembered per window.
pub const MAX_PAIRS: usize = 1 << 18;
/// Addresses one window holds, and kernel readings remembered between windows: four times
/// the kernel maps' default size, about 10 MiB per role when full.
pub const MAX_ADDRESSES: usize = 1 << 16;
/// Addresses flow starts alone may add to a window; the rest is kept for the addresses the
/// kernel map reports.
const MAX_STARTED: usize = MAX_ADDRESSES / 2;

/// Destination windows: the host detector's rows.
pub type DestinationWindows = Windows<Destination>;
/// Source windows: the source detector's rows.
pub type SourceWindows = Windows<Source>;
/// The name of [`DestinationWindows`] before the source role existed.
pub type HostWindows = DestinationWindows;

/// Which role a window plays; the `window` label of `packetguard_window_saturated_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowRole {
    /// Per destination address (the host detector).
    Destination,
    /// Per source address (the source detector).
    Source,
}

impl WindowRole {
    /// Both roles, in label order.
    pub const ALL: [WindowRole; 2] = [WindowRole::Destination, WindowRole::Source];

    /// The metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            WindowRole::Destination => "destination",
            WindowRole::Source => "source",
        }
    }

    /// Position in [`WindowRole::ALL`], for per-role arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What flow starts added to one address in the current window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartCounts {
    /// Flows opened (toward the address, or by it).
    pub new_flows: u64,
    /// Distinct peers of those flows: their sources, or their destinations.
    pub peers: u64,
    /// Distinct destination ports of those flows (TCP and UDP only).
    pub ports: u64,
    /// Of those flows, the TCP ones to a login service port: login attempts.
    pub logins: u64,
    /// Of those login attempts, the ones to or from a peer that already had one in the
    /// window: a client trying one server again and again.
    pub repeated_logins: u64,
}

impl StartCounts {
    /// `new_flows` flows opened, to or from `peers` peers, on `ports` destination ports;
    /// none of them a login attempt.
    pub const fn new(new_flows: u64, peers: u64, ports: u64) -> Self {
        Self {
            new_flows,
            peers,
            ports,
            logins: 0,
            repeated_logins: 0,
        }
    }

    /// The same flows, `logins` of them login attempts, `repeated` of those to or from a
    /// peer that already had one.
    pub const fn with_logins(self, logins: u64, repeated: u64) -> Self {
        Self {
            logins,
            repeated_logins: repeated,
            ..self
        }
    }
}

/// How one role reads a flow start and turns a window into a row.
pub trait Role {
    /// Which role this is.
    const ROLE: WindowRole;
    /// One row of features, in the role's feature order.
    type Row: AsRef<[f64]>;

    /// The address whose window counts a flow opened by `opener` toward `target`, then
    /// that flow's peer.
    fn sides(opener: HostKey, target: HostKey) -> (HostKey, HostKey);

    /// The row of one address for a window of length `window`.
    fn features(traffic: &HostStats, starts: &StartCounts, window: Duration) -> Self::Row;
}

/// What one address did in the current window, from both inputs.
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    /// Kernel totals since the last reading, plus late credits of removed flows.
    traffic: HostStats,
    starts: StartCounts,
}

/// Accumulates the current window and keeps the last kernel reading per address.
pub struct Windows<R: Role> {
    window: HashMap<HostKey, Pending>,
    peer_pairs: HashSet<(HostKey, HostKey)>,
    port_pairs: HashSet<(HostKey, u16)>,
    /// (address, peer) pairs with a login attempt, for the repeated ones.
    login_pairs: HashSet<(HostKey, HostKey)>,
    saturated: bool,
    /// Kernel totals at the previous reading, and the one being taken.
    previous: HashMap<HostKey, HostStats>,
    current: HashMap<HostKey, HostStats>,
    /// Whether every address of the previous (and of the current) reading was remembered:
    /// only then is an address missing from `previous` new rather than forgotten.
    previous_complete: bool,
    current_complete: bool,
    role: PhantomData<R>,
}

/// Summary of a closed window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Closed {
    /// Rows produced (addresses that sent or received packets or flows in the window).
    pub rows: usize,
    /// A bound was reached (pairs, addresses or readings): some counts are bounds, some
    /// addresses may have no row.
    pub saturated: bool,
}

/// A flow start as the windows count it: who opened the flow, toward whom, which port.
struct Opened {
    opener: HostKey,
    target: HostKey,
    /// The destination port, for TCP and UDP.
    port: Option<u16>,
    /// A TCP connection to a login service port.
    login: bool,
}

impl Opened {
    /// The flow `ev` starts, if it is one somebody opened (see the module doc).
    fn of(ev: &FlowStart) -> Option<Opened> {
        let k = &ev.key;
        if k.protocol == IPPROTO_TCP && ev.attempt == 0 {
            return None;
        }
        let src_is_a = ev.fwd_is_a != 0;
        let has_ports = matches!(k.protocol, IPPROTO_TCP | IPPROTO_UDP);
        let port = if src_is_a { k.port_b } else { k.port_a };
        Some(Opened {
            opener: HostKey::source(k, src_is_a),
            target: HostKey::destination(k, src_is_a),
            port: has_ports.then_some(port),
            login: k.protocol == IPPROTO_TCP && is_login_port(port),
        })
    }
}

impl<R: Role> Default for Windows<R> {
    fn default() -> Self {
        Self {
            window: HashMap::new(),
            peer_pairs: HashSet::new(),
            port_pairs: HashSet::new(),
            login_pairs: HashSet::new(),
            saturated: false,
            previous: HashMap::new(),
            current: HashMap::new(),
            previous_complete: true,
            current_complete: true,
            role: PhantomData,
        }
    }
}

impl<R: Role> Windows<R> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Which role these windows play, e.g. for the saturation metric.
    pub fn role(&self) -> WindowRole {
        R::ROLE
    }

    /// Counts a flow start, if it is a flow somebody opened, toward the address of this
    /// role (its destination, or its source).
    pub fn observe_start(&mut self, ev: &FlowStart) {
        let Some(opened) = Opened::of(ev) else {
            return;
        };
        let (addr, peer) = R::sides(opened.opener, opened.target);
        let Some(p) = slot(&mut self.window, &mut self.saturated, addr, MAX_STARTED) else {
            return;
        };
        let room =
            self.peer_pairs.len() + self.port_pairs.len() + self.login_pairs.len() < MAX_PAIRS;
        self.saturated |= !room;
        p.starts.new_flows += 1;
        if opened.login {
            p.starts.logins += 1;
            // Past the bound a pair not yet seen is not remembered, and its next login
            // does not count as repeated: a lower bound.
            if self.login_pairs.contains(&(addr, peer)) {
                p.starts.repeated_logins += 1;
            } else if room {
                self.login_pairs.insert((addr, peer));
            }
        }
        if !room || self.peer_pairs.insert((addr, peer)) {
            p.starts.peers += 1;
        }
        if let Some(port) = opened.port {
            if !room || self.port_pairs.insert((addr, port)) {
                p.starts.ports += 1;
            }
        }
    }

    /// Adds what a removed flow counted for `addr` without crediting the kernel's totals.
    pub fn credit_late(&mut self, addr: HostKey, d: &HostStats) {
        self.add_traffic(addr, d);
    }

    /// Records one address's kernel totals (summed over CPUs) for the window being closed:
    /// the window gets the difference from the previous reading. Call once per address and
    /// window.
    pub fn reading(&mut self, addr: HostKey, totals: HostStats) {
        let d = match self.previous.get(&addr) {
            Some(before) => Some(totals.since(before)),
            // Not read last time: a new entry (or one the LRU evicted and created again),
            // counted whole. Unless the last reading was cut short: then the address may
            // have been forgotten, and its totals whole would be a burst that never was.
            None if self.previous_complete => Some(totals),
            None => {
                self.saturated = true;
                None
            }
        };
        if self.current.len() < MAX_ADDRESSES || self.current.contains_key(&addr) {
            self.current.insert(addr, totals);
        } else {
            self.current_complete = false;
            self.saturated = true;
        }
        if let Some(d) = d {
            self.add_traffic(addr, &d);
        }
    }

    /// Adds `d` to the window of `addr`; nothing at all (no packet, no answer) takes no
    /// room, so idle addresses of a reading do not fill the window.
    fn add_traffic(&mut self, addr: HostKey, d: &HostStats) {
        if d.packets == 0 && d.answered == 0 {
            return;
        }
        if let Some(p) = slot(&mut self.window, &mut self.saturated, addr, MAX_ADDRESSES) {
            p.traffic = p.traffic.plus(d);
        }
    }

    /// Closes the window that lasted `window`: calls `row` with every address that sent or
    /// received packets or flows in it and its features (in the role's feature order), then
    /// starts the next window. Call after the readings.
    pub fn close(&mut self, window: Duration, mut row: impl FnMut(HostKey, &[f64])) -> Closed {
        self.try_close(window, |a, r| {
            row(a, r);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {})
    }

    /// [`Self::close`] with a handler that may fail: the first error stops the rows (the
    /// window is closed all the same, so the next one starts clean) and is returned.
    pub fn try_close<E>(
        &mut self,
        window: Duration,
        mut row: impl FnMut(HostKey, &[f64]) -> Result<(), E>,
    ) -> Result<Closed, E> {
        let mut rows = 0;
        let mut failed = Ok(());
        // An address the kernel map no longer holds (evicted between an event and the
        // reading) still gets a row for its flow starts and late credits: the window saw
        // them.
        for (addr, p) in self.window.drain() {
            if p.traffic.packets == 0 && p.starts.new_flows == 0 {
                continue;
            }
            if let Err(e) = row(addr, R::features(&p.traffic, &p.starts, window).as_ref()) {
                failed = Err(e);
                break;
            }
            rows += 1;
        }
        self.window.clear();
        // Addresses missing from this reading were evicted from the kernel map; forget them.
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
        self.previous_complete = std::mem::replace(&mut self.current_complete, true);
        self.peer_pairs.clear();
        self.port_pairs.clear();
        self.login_pairs.clear();
        let saturated = std::mem::take(&mut self.saturated);
        failed.map(|()| Closed { rows, saturated })
    }
}

/// The pending entry of `addr`, added if the window holds fewer than `cap` addresses;
/// otherwise none, and the window is saturated.
fn slot<'a>(
    window: &'a mut HashMap<HostKey, Pending>,
    saturated: &mut bool,
    addr: HostKey,
    cap: usize,
) -> Option<&'a mut Pending> {
    let len = window.len();
    match window.entry(addr) {
        Entry::Occupied(e) => Some(e.into_mut()),
        Entry::Vacant(e) if len < cap => Some(e.insert(Pending::default())),
        Entry::Vacant(_) => {
            *saturated = true;
            None
        }
    }
}

#[cfg(test)]
mod destination_tests;
#[cfg(test)]
mod login_tests;
#[cfg(test)]
mod source_tests;
#[cfg(test)]
mod support;
