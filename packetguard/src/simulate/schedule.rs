//! Turns an attack's bursts into one packet stream in time order.
//!
//! A burst's later packets (answers, the rest of a connection) may fall after the next
//! burst's first packet; they wait in a small heap until every packet before them is out.
//! The heap holds what one burst's span overlaps, never the whole attack.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::packet::Synth;
use super::script::Script;

/// An attack's packets in time order, timestamps cut to the output's resolution.
pub struct Schedule {
    script: Script,
    /// Nanoseconds per tick of the output file's clock (1000 for microsecond pcap).
    quantum_ns: u64,
    pending: BinaryHeap<Reverse<(u64, u64)>>,
    packets: Vec<Option<Synth>>,
    free: Vec<usize>,
    burst: Vec<Synth>,
    lookahead_ns: Option<u64>,
    order: u64,
    done: bool,
}

impl Schedule {
    pub fn new(script: Script, quantum_ns: u64) -> Self {
        let mut s = Self {
            script,
            quantum_ns: quantum_ns.max(1),
            pending: BinaryHeap::new(),
            packets: Vec::new(),
            free: Vec::new(),
            burst: Vec::new(),
            lookahead_ns: None,
            order: 0,
            done: false,
        };
        s.load();
        s
    }

    /// Generates the next burst into `burst` and notes its first time.
    fn load(&mut self) {
        if self.done {
            return;
        }
        if self.script.next_burst(&mut self.burst) {
            self.lookahead_ns = self.burst.first().map(|p| p.ts_ns);
        } else {
            self.done = true;
            self.lookahead_ns = None;
        }
    }

    /// Moves the loaded burst into the heap and loads the next.
    fn admit(&mut self) {
        for p in self.burst.drain(..) {
            let slot = match self.free.pop() {
                Some(i) => {
                    self.packets[i] = Some(p);
                    i
                }
                None => {
                    self.packets.push(Some(p));
                    self.packets.len() - 1
                }
            };
            // Ties keep generation order; the slot index rides in the low bits' place.
            self.pending
                .push(Reverse((p.ts_ns, self.order << 32 | slot as u64)));
            self.order += 1;
        }
        self.load();
    }

    /// The time of the next packet without taking it, or `None` when the attack is over.
    pub fn peek_ns(&mut self) -> Option<u64> {
        loop {
            let head = self.pending.peek().map(|Reverse((t, _))| *t);
            match (head, self.lookahead_ns) {
                (Some(h), Some(l)) if h > l => self.admit(),
                (None, Some(_)) => self.admit(),
                (Some(h), _) => return Some(h / self.quantum_ns * self.quantum_ns),
                (None, None) => return None,
            }
        }
    }

    /// The next packet in time order.
    pub fn next_packet(&mut self) -> Option<Synth> {
        self.peek_ns()?;
        let Reverse((_, key)) = self.pending.pop()?;
        let slot = (key & 0xffff_ffff) as usize;
        let mut p = self.packets[slot].take()?;
        self.free.push(slot);
        p.ts_ns = p.ts_ns / self.quantum_ns * self.quantum_ns;
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::spec::{AttackKind, Attacker, Plan};
    use crate::simulate::{rng::Rng, BRUTE_FORCE_PACKETS};

    #[test]
    fn overlapping_connections_come_out_in_time_order() {
        // 1000 connections/s of about 35 ms each: some 35 are open at any time.
        let plan = Plan {
            kind: AttackKind::BruteForce,
            attacker: Attacker::Host("203.0.113.1".parse().unwrap()),
            victim: "192.0.2.1".parse().unwrap(),
            start_ns: 1_000_000_000,
            duration_ns: 100_000_000,
            rate: 1000.0,
            port: Some(22),
        };
        let mut s = Schedule::new(Script::new(plan, Rng::new(1), Vec::new()), 1000);
        let mut times = Vec::new();
        while let Some(p) = s.next_packet() {
            times.push(p.ts_ns);
        }
        assert_eq!(times.len() as u64, 100 * BRUTE_FORCE_PACKETS);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times.iter().all(|t| t % 1000 == 0));
        assert!(s.pending.is_empty() && s.packets.len() < 1000);
    }
}
