//! Hand-built frames for the parser and capture tests, the library's and the integration
//! tests' alike (integration tests cannot share code with the library's own tests any other
//! way). Checksums are left zero: neither the XDP program nor the offline parser verifies
//! them. Not part of the agent's interface.

pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86DD;

pub struct Frame(pub Vec<u8>);

impl Frame {
    /// Ethernet header; `vlans` are (TPID, VLAN id) pairs, outermost first.
    pub fn eth(vlans: &[(u16, u16)], ethertype: u16) -> Frame {
        let mut b = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        for (tpid, vid) in vlans {
            b.extend_from_slice(&tpid.to_be_bytes());
            b.extend_from_slice(&vid.to_be_bytes());
        }
        b.extend_from_slice(&ethertype.to_be_bytes());
        Frame(b)
    }

    /// IPv4 header with `options` (a multiple of 4 bytes) and the 16-bit flags and fragment
    /// offset field `frag_off` as it goes on the wire; `l4_len` is the length of what follows.
    pub fn ipv4(
        mut self,
        proto: u8,
        src: [u8; 4],
        dst: [u8; 4],
        options: &[u8],
        frag_off: u16,
        l4_len: usize,
    ) -> Frame {
        assert_eq!(options.len() % 4, 0);
        let ihl = 5 + options.len() / 4;
        let total = (ihl * 4 + l4_len) as u16;
        self.0.push(0x40 | ihl as u8);
        self.0.push(0);
        self.0.extend_from_slice(&total.to_be_bytes());
        self.0.extend_from_slice(&[0, 1]);
        self.0.extend_from_slice(&frag_off.to_be_bytes());
        self.0.extend_from_slice(&[64, proto, 0, 0]);
        self.0.extend_from_slice(&src);
        self.0.extend_from_slice(&dst);
        self.0.extend_from_slice(options);
        self
    }

    /// IPv6 header; `payload_len` covers extension headers and L4.
    pub fn ipv6(mut self, next: u8, src: [u8; 16], dst: [u8; 16], payload_len: usize) -> Frame {
        self.0.extend_from_slice(&[0x60, 0, 0, 0]);
        self.0
            .extend_from_slice(&(payload_len as u16).to_be_bytes());
        self.0.push(next);
        self.0.push(55);
        self.0.extend_from_slice(&src);
        self.0.extend_from_slice(&dst);
        self
    }

    /// A generic IPv6 extension header (hop-by-hop, routing, destination options) of
    /// `8 * (1 + len_units)` bytes.
    pub fn ext(mut self, next: u8, len_units: u8) -> Frame {
        self.0.push(next);
        self.0.push(len_units);
        self.0
            .extend(std::iter::repeat_n(0u8, 6 + 8 * len_units as usize));
        self
    }

    /// An IPv6 fragment header.
    pub fn frag6(mut self, next: u8, offset_units: u16, more: bool) -> Frame {
        self.0.push(next);
        self.0.push(0);
        self.0
            .extend_from_slice(&((offset_units << 3) | more as u16).to_be_bytes());
        self.0.extend_from_slice(&[0, 0, 0, 7]);
        self
    }

    pub fn tcp(mut self, sport: u16, dport: u16, flags: u8, payload: usize) -> Frame {
        self.0.extend_from_slice(&sport.to_be_bytes());
        self.0.extend_from_slice(&dport.to_be_bytes());
        self.0
            .extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0x72, 0x10, 0, 0, 0, 0]);
        self.0.extend(std::iter::repeat_n(0xabu8, payload));
        self
    }

    pub fn udp(mut self, sport: u16, dport: u16, payload: usize) -> Frame {
        self.0.extend_from_slice(&sport.to_be_bytes());
        self.0.extend_from_slice(&dport.to_be_bytes());
        self.0
            .extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        self.0.extend_from_slice(&[0, 0]);
        self.0.extend(std::iter::repeat_n(0xcdu8, payload));
        self
    }

    /// An ICMP (or ICMPv6) message of `kind` with identifier `id` and `payload` bytes.
    pub fn icmp(mut self, kind: u8, id: u16, payload: usize) -> Frame {
        self.0.extend_from_slice(&[kind, 0, 0, 0]);
        self.0.extend_from_slice(&id.to_be_bytes());
        self.0.extend_from_slice(&[0, 1]);
        self.0.extend(std::iter::repeat_n(0x11, payload));
        self
    }

    pub fn bytes(mut self, b: &[u8]) -> Frame {
        self.0.extend_from_slice(b);
        self
    }

    /// `n` zero bytes.
    pub fn zeros(mut self, n: usize) -> Frame {
        self.0.extend(std::iter::repeat_n(0, n));
        self
    }
}

/// A 20-byte TCP header without options, as [`Frame::tcp`] writes it.
pub fn tcp_header(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    Frame(Vec::new()).tcp(sport, dport, flags, 0).0
}

/// An IPv4 TCP frame from `src` to `dst` with `payload` bytes.
pub fn tcp_v4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: u8,
    payload: usize,
) -> Vec<u8> {
    Frame::eth(&[], ETH_IPV4)
        .ipv4(6, src, dst, &[], 0, 20 + payload)
        .tcp(sport, dport, flags, payload)
        .0
}

pub const V4_A: [u8; 4] = [192, 0, 2, 10];
pub const V4_B: [u8; 4] = [198, 51, 100, 20];
pub const V6_A: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a,
];
pub const V6_B: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14,
];
