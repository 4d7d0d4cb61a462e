//! The first pass over a capture: its span, its busiest destination, and what synthetic
//! packets to a victim should look like (its Ethernet addresses, its listening ports).
//!
//! Only counts are kept, never packets; the tables are bounded so a capture of a spoofed
//! flood (an address per packet) cannot grow them without end.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use super::capture::{CaptureReader, Frame};
use super::link::{summarize, Link, Macs};
use super::packet::{TCP_ACK, TCP_SYN};
use super::progress::Progress;
use super::spec::CaptureFacts;
use super::SimulateError;

/// Addresses tracked per table; later new ones are not counted.
const MAX_ADDRESSES: usize = 1 << 20;
/// Listening ports remembered per server.
const MAX_PORTS: usize = 4096;

/// What the first pass learned.
#[derive(Debug, Default)]
pub struct Survey {
    pub first_ns: Option<u64>,
    pub last_ns: Option<u64>,
    pub packets: u64,
    destinations: HashMap<IpAddr, u64>,
    /// Per destination: (source MAC, destination MAC) of the first Ethernet frame to it.
    macs: HashMap<IpAddr, ([u8; 6], [u8; 6])>,
    /// Per server: the ports it answered a SYN from (SYN-ACK sources).
    listening: HashMap<IpAddr, BTreeSet<u16>>,
}

impl Survey {
    /// Reads `reader` to its end (or where it stops).
    pub fn run(
        reader: &mut CaptureReader,
        progress: &mut Progress,
    ) -> Result<Survey, SimulateError> {
        let link = reader.link;
        let mut s = Survey::default();
        while let Some(frame) = reader.next_frame()? {
            s.add(link, &frame);
            progress.tick("surveyed", s.packets, 0);
        }
        Ok(s)
    }

    fn add(&mut self, link: Link, f: &Frame<'_>) {
        self.packets += 1;
        self.first_ns = Some(self.first_ns.map_or(f.ts_ns, |t| t.min(f.ts_ns)));
        self.last_ns = Some(self.last_ns.map_or(f.ts_ns, |t| t.max(f.ts_ns)));
        let Some(ip) = link.ip_payload(f.data).and_then(summarize) else {
            return;
        };
        let room = self.destinations.len() < MAX_ADDRESSES;
        if let Some(n) = self.destinations.get_mut(&ip.dst) {
            *n += 1;
        } else if room {
            self.destinations.insert(ip.dst, 1);
        }
        if link == Link::Ethernet && f.data.len() >= 12 && room {
            let dst: [u8; 6] = f.data[0..6].try_into().unwrap_or_default();
            let src: [u8; 6] = f.data[6..12].try_into().unwrap_or_default();
            self.macs.entry(ip.dst).or_insert((src, dst));
        }
        let syn_ack = ip.protocol == 6 && ip.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK;
        let listen_room =
            self.listening.len() < MAX_ADDRESSES || self.listening.contains_key(&ip.src);
        if syn_ack && listen_room {
            let ports = self.listening.entry(ip.src).or_default();
            if ports.len() < MAX_PORTS {
                ports.insert(ip.src_port);
            }
        }
    }

    /// The capture's span and busiest destination (most packets; ties to the lower
    /// address, so the choice does not depend on hashing).
    pub fn facts(&self) -> CaptureFacts {
        let busiest = self
            .destinations
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(ip, _)| *ip);
        CaptureFacts {
            first_ns: self.first_ns.unwrap_or(0),
            last_ns: self.last_ns.unwrap_or(0),
            busiest_destination: busiest,
        }
    }

    /// The Ethernet addresses frames to `victim` carry in the capture, or made-up ones.
    pub fn macs_of(&self, victim: IpAddr) -> Macs {
        match self.macs.get(&victim) {
            Some(&(outside, victim)) => Macs { victim, outside },
            None => Macs::default(),
        }
    }

    /// The ports `host` answered SYNs from in the capture, sorted.
    pub fn listening_ports(&self, host: IpAddr) -> Vec<u16> {
        self.listening
            .get(&host)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }
}
