//! The flow key: one type for IPv4 and IPv6, canonical so both directions share it.

use core::cmp::Ordering;

/// IP protocol numbers the parser understands.
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// A bidirectional flow key.
///
/// The two endpoints are stored in canonical order, `(addr_a, port_a) <= (addr_b, port_b)`
/// comparing the address words first, so a packet and its reply produce the same key. Which
/// endpoint sent first is kept in [`crate::FlowStats::fwd_is_a`], not in the key.
///
/// Addresses are four 32-bit words exactly as they appear on the wire (network byte order);
/// an IPv4 address occupies word 0 and the other words are zero. Ports are in host byte
/// order. For ICMP and ICMPv6 echo messages both ports hold the echo identifier, so separate
/// `ping` runs are separate flows; other ICMP messages, non-first fragments and first
/// fragments too short to hold their ports use port 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowKey {
    pub addr_a: [u32; 4],
    pub addr_b: [u32; 4],
    pub port_a: u16,
    pub port_b: u16,
    pub protocol: u8,
    /// 4 or 6.
    pub ip_version: u8,
    pub _pad: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<FlowKey>() == 40);

impl FlowKey {
    /// Builds the canonical key for a packet from `src` to `dst`.
    ///
    /// Returns the key and whether the packet's source is endpoint `a`.
    #[inline(always)]
    pub fn canonical(
        ip_version: u8,
        protocol: u8,
        src: [u32; 4],
        src_port: u16,
        dst: [u32; 4],
        dst_port: u16,
    ) -> (Self, bool) {
        let order = Self::compare_addrs(&src, &dst);
        let (addr_a, addr_b) = Self::canonical_addrs(order, src, dst);
        let (port_a, port_b, src_is_a) = Self::canonical_ports(order, src_port, dst_port);
        let key = FlowKey {
            addr_a,
            addr_b,
            port_a,
            port_b,
            protocol,
            ip_version,
            _pad: [0; 2],
        };
        (key, src_is_a)
    }

    /// Compares two addresses word by word, in order (the canonical order of endpoints
    /// before their ports).
    ///
    /// Written as straight-line comparisons (no slices, no loops over lengths the verifier
    /// cannot see) so it compiles to a handful of BPF instructions.
    #[inline(always)]
    pub fn compare_addrs(a: &[u32; 4], b: &[u32; 4]) -> Ordering {
        if a[0] != b[0] {
            return a[0].cmp(&b[0]);
        }
        if a[1] != b[1] {
            return a[1].cmp(&b[1]);
        }
        if a[2] != b[2] {
            return a[2].cmp(&b[2]);
        }
        a[3].cmp(&b[3])
    }

    /// `(addr_a, addr_b)` for a packet from `src` to `dst` whose addresses compare as
    /// `order` (from [`Self::compare_addrs`]): the smaller first, the source when equal.
    /// Generic so the XDP program can order an IPv4 address as one word.
    #[inline(always)]
    pub fn canonical_addrs<T>(order: Ordering, src: T, dst: T) -> (T, T) {
        if order == Ordering::Greater {
            (dst, src)
        } else {
            (src, dst)
        }
    }

    /// Second half of [`Self::canonical`], once the addresses are in place (`addr_a` the
    /// smaller address, the source when both are equal): given how the packet's source
    /// address compared with its destination, returns `(port_a, port_b, src_is_a)`.
    ///
    /// The XDP program writes the addresses straight from the packet and the rest of the
    /// key once the ports are known, so the key is built in place, once.
    #[inline(always)]
    pub fn canonical_ports(addr_order: Ordering, src_port: u16, dst_port: u16) -> (u16, u16, bool) {
        let src_is_a = match addr_order {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => src_port <= dst_port,
        };
        if src_is_a {
            (src_port, dst_port, true)
        } else {
            (dst_port, src_port, false)
        }
    }
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for FlowKey {}
#[cfg(feature = "user")]
unsafe impl bytemuck::Zeroable for FlowKey {}
#[cfg(feature = "user")]
unsafe impl bytemuck::Pod for FlowKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_orders_by_address_words_then_ports() {
        let lo = [1, 0, 0, 9];
        let hi = [1, 0, 1, 0];
        let (k, src_is_a) = FlowKey::canonical(6, 6, hi, 80, lo, 4000);
        assert!(!src_is_a);
        assert_eq!((k.addr_a, k.port_a, k.addr_b, k.port_b), (lo, 4000, hi, 80));
        let (k2, src_is_a) = FlowKey::canonical(6, 6, lo, 4000, hi, 80);
        assert!(src_is_a);
        assert_eq!(k, k2);
        // Same address: the ports decide.
        let (k, src_is_a) = FlowKey::canonical(4, 17, lo, 53, lo, 40000);
        assert!(src_is_a);
        assert_eq!((k.port_a, k.port_b), (53, 40000));
        let (k2, src_is_a) = FlowKey::canonical(4, 17, lo, 40000, lo, 53);
        assert!(!src_is_a);
        assert_eq!(k, k2);
        assert_eq!((k.protocol, k.ip_version, k._pad), (17, 4, [0, 0]));
    }
}
