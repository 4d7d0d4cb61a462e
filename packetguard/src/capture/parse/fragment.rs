//! IP fragments, by the rules of the kernel's `parse/fragment.rs`: a tail counts toward the
//! L3 flow with ports 0; a first fragment cut inside its L4 header counts by its ports when
//! the 4 port bytes of a TCP or UDP header are there (a TCP one as a connection attempt),
//! otherwise toward the L3 flow, and carries no L4 payload.

use packetguard_common::key::{IPPROTO_TCP, IPPROTO_UDP};

use super::{
    at,
    l4::{be16, L4},
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    Whole,
    First,
    Tail,
}

/// The L4 view of a first fragment at `off` whose `avail` payload bytes do not hold its
/// whole L4 header.
pub fn short_first(data: &[u8], off: usize, protocol: u8, avail: u32) -> L4 {
    let mut l4 = L4::none(0);
    if (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP)
        && avail >= 4
        && at(data, off, 4).is_ok()
    {
        l4 = L4::ports(be16(data, off), be16(data, off + 2), 0);
        l4.ports_only = true;
    }
    l4
}
