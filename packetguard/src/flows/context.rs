//! The context features of flow records ([`FLOW_CONTEXT_FEATURES`]): what a flow's
//! neighbours say about it, which its own counters cannot.
//!
//! `prior_login_attempts` counts, for a TCP connection opened to a login service port,
//! the attempts its opener made to the same address and port in the
//! [`PRIOR_LOGIN_WINDOW_NS`] before its first packet. It is taken from the flow-start
//! events when the flow starts and kept with the flow, so every record of the flow (its
//! end, the tail after the close, active-timeout pieces) carries the same value, and it is
//! forgotten when the agent removes the flow. Flows with no prior attempt take no room.
//!
//! Memory is bounded: at most [`MAX_SERVICES`] (opener, address, port) histories of the
//! last [`RECENT`] attempts each (so the count stops at [`RECENT`]), and at most
//! [`MAX_FLOWS`] flows with a count. Past a bound a new history or flow is not kept and
//! its count is 0 (a lower bound). Histories idle for the whole window are dropped as the
//! flow starts' clock moves on; a flow the kernel's LRU evicted, which the agent never
//! sees removed, is dropped after [`MAX_FLOW_AGE_NS`].
//!
//! [`FLOW_CONTEXT_FEATURES`]: packetguard_common::features::FLOW_CONTEXT_FEATURES

use std::collections::HashMap;

use packetguard_common::{
    key::IPPROTO_TCP,
    login::{is_login_port, PRIOR_LOGIN_WINDOW_NS},
    FlowKey, FlowStart, HostKey,
};

/// Attempts remembered per (opener, address, port): the most `prior_login_attempts` counts.
pub const RECENT: usize = 16;
/// (opener, address, port) histories kept at once.
pub const MAX_SERVICES: usize = 1 << 15;
/// Flows with a count kept at once.
pub const MAX_FLOWS: usize = 1 << 16;
/// A flow's count is dropped this long after its start if the agent never removed it.
pub const MAX_FLOW_AGE_NS: u64 = 3_600_000_000_000;

/// One opener's login connections to one address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Service {
    opener: HostKey,
    target: HostKey,
    port: u16,
}

/// The start times of a service's last [`RECENT`] attempts, in a ring.
#[derive(Clone, Copy, Debug)]
struct Recent {
    times: [u64; RECENT],
    /// Where the next time goes.
    next: usize,
    /// Times held (at most [`RECENT`]).
    len: usize,
    newest: u64,
}

impl Recent {
    fn new() -> Self {
        Self {
            times: [0; RECENT],
            next: 0,
            len: 0,
            newest: 0,
        }
    }

    /// Attempts at or after `since` and before `until`.
    fn count(&self, since: u64, until: u64) -> u32 {
        self.times[..self.len]
            .iter()
            .filter(|&&t| t >= since && t < until)
            .count() as u32
    }

    fn push(&mut self, t: u64) {
        self.times[self.next] = t;
        self.next = (self.next + 1) % RECENT;
        self.len = (self.len + 1).min(RECENT);
        self.newest = self.newest.max(t);
    }
}

/// Login histories and the counts of the flows that have one.
#[derive(Default)]
pub struct FlowContext {
    services: HashMap<Service, Recent>,
    /// Flow key -> (its start time, its prior login attempts), for counts above 0.
    flows: HashMap<FlowKey, (u64, u32)>,
    /// The latest flow start seen: the clock histories and flows expire by.
    latest_ns: u64,
    /// When histories and flows were last swept.
    swept_ns: u64,
    /// Login attempts not kept since [`Self::take_not_kept`] last ran: a bound was reached.
    not_kept: u64,
}

impl FlowContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a flow start: a TCP connection attempt to a login port gets the number of
    /// attempts its opener made to the same address and port just before it.
    pub fn observe_start(&mut self, ev: &FlowStart) {
        self.latest_ns = self.latest_ns.max(ev.ts_ns);
        self.sweep();
        let k = &ev.key;
        if k.protocol != IPPROTO_TCP || ev.attempt == 0 {
            return;
        }
        let src_is_a = ev.fwd_is_a != 0;
        let port = if src_is_a { k.port_b } else { k.port_a };
        if !is_login_port(port) {
            return;
        }
        let service = Service {
            opener: HostKey::source(k, src_is_a),
            target: HostKey::destination(k, src_is_a),
            port,
        };
        let room = self.services.len() < MAX_SERVICES;
        let recent = match self.services.get_mut(&service) {
            Some(r) => r,
            None if room => self.services.entry(service).or_insert_with(Recent::new),
            None => {
                self.not_kept += 1;
                return;
            }
        };
        let since = ev.ts_ns.saturating_sub(PRIOR_LOGIN_WINDOW_NS);
        let prior = recent.count(since, ev.ts_ns.saturating_add(1));
        recent.push(ev.ts_ns);
        if prior == 0 {
            self.flows.remove(k);
        } else if self.flows.len() < MAX_FLOWS || self.flows.contains_key(k) {
            self.flows.insert(*k, (ev.ts_ns, prior));
        } else {
            self.not_kept += 1;
        }
    }

    /// Login attempts that a bound kept out of a history, or whose count a bound kept from
    /// their flow, since the last call: their flows' counts (or later ones') are lower
    /// bounds. The agent exports them as `packetguard_login_context_full_total`.
    pub fn take_not_kept(&mut self) -> u64 {
        std::mem::take(&mut self.not_kept)
    }

    /// `prior_login_attempts` of the flow `key` that started at `flow_start_ns`.
    pub fn prior_login_attempts(&self, key: &FlowKey, flow_start_ns: u64) -> u32 {
        match self.flows.get(key) {
            Some(&(start, prior)) if start == flow_start_ns => prior,
            _ => 0,
        }
    }

    /// Forgets the flow `key` that started at `flow_start_ns`: the agent removed it.
    pub fn forget(&mut self, key: &FlowKey, flow_start_ns: u64) {
        if self.prior_login_attempts(key, flow_start_ns) > 0 {
            self.flows.remove(key);
        }
    }

    /// Drops, at most once a second of the flow starts' clock, the histories whose last
    /// attempt is out of the window and the flows older than [`MAX_FLOW_AGE_NS`].
    fn sweep(&mut self) {
        const EVERY_NS: u64 = 1_000_000_000;
        let now = self.latest_ns;
        if now < self.swept_ns.saturating_add(EVERY_NS) {
            return;
        }
        self.swept_ns = now;
        let window_start = now.saturating_sub(PRIOR_LOGIN_WINDOW_NS);
        self.services.retain(|_, r| r.newest >= window_start);
        let oldest = now.saturating_sub(MAX_FLOW_AGE_NS);
        self.flows.retain(|_, (start, _)| *start >= oldest);
    }

    /// Histories and flows held, for tests.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        (self.services.len(), self.flows.len())
    }
}

#[cfg(test)]
mod tests;
