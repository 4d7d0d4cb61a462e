//! Decisions of the packet parser that do not touch packet memory, shared by the kernel
//! program's parser (which reads the packet through bounds-checked loads) and the
//! userspace parser of captures (which reads a slice), so the two cannot drift apart on
//! what a header's fields mean.

use crate::key::IPPROTO_ICMP;

/// Where a packet stands among the fragments of its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented (an IPv6 atomic fragment, offset 0 without more, is whole too).
    Whole,
    /// Offset 0, more fragments follow: the L4 header starts here.
    First,
    /// A non-zero offset: no L4 header.
    Tail,
}

/// IPv4 flags and fragment offset field: more fragments, and the offset in 8-byte units.
const IP_MF: u16 = 0x2000;
const IP_OFFSET: u16 = 0x1FFF;

/// The fragment position of an IPv4 packet from its flags-and-offset field (host order).
#[inline(always)]
pub fn ipv4_fragment(field: u16) -> Fragment {
    if field & IP_OFFSET != 0 {
        Fragment::Tail
    } else if field & IP_MF != 0 {
        Fragment::First
    } else {
        Fragment::Whole
    }
}

/// `declared` bytes of a packet of which `held` are there: a length field is trusted only
/// as far as the packet goes, and 0 means "the packet's length" (BIG TCP GSO packets, IPv6
/// jumbograms).
#[inline(always)]
pub fn capped(declared: usize, held: usize) -> usize {
    if declared == 0 || declared > held {
        held
    } else {
        declared
    }
}

pub const NEXTHDR_HOP: u8 = 0;
pub const NEXTHDR_ROUTING: u8 = 43;
pub const NEXTHDR_FRAGMENT: u8 = 44;
pub const NEXTHDR_DEST: u8 = 60;

/// True for the IPv6 extension headers the parsers skip.
#[inline(always)]
pub fn is_ipv6_extension(next: u8) -> bool {
    matches!(
        next,
        NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_FRAGMENT | NEXTHDR_DEST
    )
}

/// True for an echo request or reply (ICMP types 8 and 0, ICMPv6 128 and 129), whose
/// identifier is both ports of its flow key; other ICMP messages have ports 0.
#[inline(always)]
pub fn is_echo(protocol: u8, icmp_type: u8) -> bool {
    if protocol == IPPROTO_ICMP {
        icmp_type == 0 || icmp_type == 8
    } else {
        icmp_type == 128 || icmp_type == 129
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_positions_and_capped_lengths() {
        assert_eq!(ipv4_fragment(0x4000), Fragment::Whole, "DF alone");
        assert_eq!(ipv4_fragment(0x2000), Fragment::First);
        assert_eq!(ipv4_fragment(0x000e), Fragment::Tail);
        assert_eq!(ipv4_fragment(0x200e), Fragment::Tail);
        assert_eq!(
            (capped(0, 70), capped(100, 70), capped(40, 70)),
            (70, 70, 40)
        );
        assert!(is_echo(1, 8) && is_echo(58, 129) && !is_echo(1, 3) && !is_echo(58, 8));
        assert!(is_ipv6_extension(60) && !is_ipv6_extension(6));
    }
}
