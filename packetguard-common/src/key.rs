//! The flow key: one type for IPv4 and IPv6, canonical so both directions share it.

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
/// `ping` runs are separate flows; other ICMP messages and non-first fragments use port 0.
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
        let src_is_a = endpoint_le(&src, src_port, &dst, dst_port);
        let key = if src_is_a {
            FlowKey {
                addr_a: src,
                addr_b: dst,
                port_a: src_port,
                port_b: dst_port,
                protocol,
                ip_version,
                _pad: [0; 2],
            }
        } else {
            FlowKey {
                addr_a: dst,
                addr_b: src,
                port_a: dst_port,
                port_b: src_port,
                protocol,
                ip_version,
                _pad: [0; 2],
            }
        };
        (key, src_is_a)
    }
}

/// `(a, pa) <= (b, pb)`, comparing address words in order, then ports.
///
/// Written as straight-line comparisons (no slices, no loops over lengths the verifier
/// cannot see) so it compiles to a handful of BPF instructions.
#[inline(always)]
fn endpoint_le(a: &[u32; 4], pa: u16, b: &[u32; 4], pb: u16) -> bool {
    if a[0] != b[0] {
        return a[0] < b[0];
    }
    if a[1] != b[1] {
        return a[1] < b[1];
    }
    if a[2] != b[2] {
        return a[2] < b[2];
    }
    if a[3] != b[3] {
        return a[3] < b[3];
    }
    pa <= pb
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for FlowKey {}
#[cfg(feature = "user")]
unsafe impl bytemuck::Zeroable for FlowKey {}
#[cfg(feature = "user")]
unsafe impl bytemuck::Pod for FlowKey {}
