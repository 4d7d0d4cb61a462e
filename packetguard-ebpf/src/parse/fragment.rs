//! IP fragments: how fragmented traffic reaches its flow and its destination's window.
//!
//! A fragmented packet carries its L4 header in the first fragment only, so a parser that
//! needs ports and flags could be blinded by fragmenting: tails have no header, and a
//! first fragment may be cut inside its header on purpose (the tiny-fragment attack of
//! RFC 1858: ports in the first fragment, flags in the second). A SYN flood sent that way
//! would otherwise read as parse errors, or as flows without flags, and its destination's
//! window would show about 0 new flows and 0 connection attempts. Instead:
//!
//! - a **tail** (IPv4 offset non-zero, or an IPv6 fragment header with a non-zero offset)
//!   counts toward the L3 flow of its addresses and protocol with ports 0, no flags, all
//!   of it payload (`Counter::Fragments`);
//! - a **first fragment** (offset 0, more fragments set) whose L4 header is whole is
//!   parsed like a whole packet;
//! - a first fragment whose L4 header is **cut short** ([`short_first`],
//!   `Counter::ShortFirstFragments`) is never a parse error. With at least the 4 port
//!   bytes of a TCP or UDP header it is a packet of the flow of its ports; with fewer
//!   (or for another protocol) a packet of the L3 flow with ports 0, like a tail. A TCP
//!   one with ports is a **connection attempt** toward its destination
//!   (`packetguard_common::host::connection_attempt`): its flags are unknowable, no TCP
//!   stack splits its header, and once the destination reassembles it the flood is a SYN
//!   flood. Its flow therefore starts as a flow the sender opened, its destination's
//!   `syn_without_ack` total counts it at once, and its flags and window count as unknown
//!   (`is_tcp` 0), never as zero.
//!
//! So 100 tiny first fragments with their tails toward one address are, in that
//! address's window, 200 packets, 100 connection attempts and 100 new flows (plus one flow
//! of the tails, which no one opened).
//!
//! The same rules hold on both hooks, for IPv4 and IPv6. Fragments are not reassembled:
//! the kernel keeps no state per datagram.

pub use packetguard_common::wire::Fragment;
use packetguard_common::{
    key::{IPPROTO_TCP, IPPROTO_UDP},
    Counter,
};

use super::{at, be16, l4::L4};

/// The L4 view of a fragment tail: ports 0, all of it payload.
#[inline(always)]
pub fn tail(ip_payload: u32) -> L4 {
    crate::count(Counter::Fragments, 1);
    L4::none(ip_payload)
}

/// The L4 view of a first fragment at `off` whose `avail` payload bytes do not hold its
/// whole L4 header: its ports when the 4 port bytes are there (TCP and UDP), otherwise
/// ports 0. It carries no L4 payload.
#[inline(always)]
pub fn short_first(start: usize, end: usize, off: usize, protocol: u8, avail: u32) -> L4 {
    crate::count(Counter::ShortFirstFragments, 1);
    let mut l4 = L4::none(0);
    if (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP) && avail >= 4 {
        if let Ok(ports) = at(start, end, off, 4) {
            l4 = L4::ports(be16::<0>(ports), be16::<2>(ports), 0);
            l4.ports_only = true;
        }
    }
    l4
}
