//! A seeded generator of structured, often malformed frames: what the fuzz test feeds the
//! kernel parser. Frames are built layer by layer with valid-looking values most of the
//! time and hostile ones often enough that every rule of the parser is exercised: 0 to 3
//! VLAN tags, any IHL, total length and fragment field, 0 to 8 IPv6 extension headers
//! (fragment headers included), any TCP data offset, first fragments cut inside their L4
//! header, Ethernet padding, then truncation at any offset and random byte flips.
//!
//! The same seed gives the same frames, so a failure names the seed and the frame's index.

use rand::{rngs::SmallRng, Rng, SeedableRng};

/// The largest frame generated: well inside what `BPF_PROG_TEST_RUN` accepts.
pub const MAX_FRAME: usize = 1514;
/// The smallest: the kernel refuses test runs on less than an Ethernet header.
pub const MIN_FRAME: usize = 14;

/// What a frame was built as (before truncation and flips), for coverage counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    pub vlans: u8,
    pub ipv6_exts: u8,
    /// An IPv4 or IPv6 fragment with a non-zero offset.
    pub tail: bool,
    /// A first fragment whose L4 header was cut on purpose.
    pub short_first: bool,
    pub truncated: bool,
    pub flipped: bool,
}

pub struct Generator {
    rng: SmallRng,
}

/// Protocol numbers the parser reads an L4 header for, and some it does not (IGMP, GRE,
/// ESP, AH, SCTP, no next header).
const PROTOCOLS: [u8; 10] = [6, 6, 17, 17, 1, 58, 2, 47, 51, 132];

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.rng.random()).collect()
    }

    /// An address from a few documentation prefixes, so keys repeat across frames.
    fn addr4(&mut self) -> [u8; 4] {
        match self.rng.random_range(0..3) {
            0 => [192, 0, 2, self.rng.random_range(1..8)],
            1 => [198, 51, 100, self.rng.random_range(1..8)],
            _ => self.rng.random(),
        }
    }

    fn addr6(&mut self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        if self.chance(0.8) {
            a[15] = self.rng.random_range(1..8);
        } else {
            a[4..].copy_from_slice(&self.bytes(12));
        }
        a
    }

    fn protocol(&mut self) -> u8 {
        if self.chance(0.05) {
            return self.rng.random();
        }
        PROTOCOLS[self.rng.random_range(0..PROTOCOLS.len())]
    }

    /// One frame and what it was built as.
    pub fn frame(&mut self) -> (Vec<u8>, Shape) {
        let mut shape = Shape::default();
        let mut f = self.bytes(12);
        shape.vlans = *[0, 0, 0, 1, 1, 2, 2, 3]
            .get(self.rng.random_range(0..8))
            .unwrap();
        for _ in 0..shape.vlans {
            let tpid: u16 = match self.rng.random_range(0..10) {
                0..=5 => 0x8100,
                6..=8 => 0x88A8,
                _ => 0x9100,
            };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&self.rng.random_range(0u16..4096).to_be_bytes());
        }
        let kind = self.rng.random_range(0..20);
        let ethertype: u16 = match kind {
            0..=8 => 0x0800,
            9..=17 => 0x86DD,
            18 => 0x0806,
            _ => self.rng.random(),
        };
        f.extend_from_slice(&ethertype.to_be_bytes());
        // A wrong IP version now and then: IPv6 behind the IPv4 EtherType, and back.
        let swap = self.chance(0.02);
        match (kind, swap) {
            (0..=8, false) | (9..=17, true) => self.ipv4(&mut f, &mut shape),
            (0..=17, _) => self.ipv6(&mut f, &mut shape),
            _ => {
                let n = self.rng.random_range(0..64);
                f.extend(self.bytes(n));
            }
        }
        if self.chance(0.15) {
            f.resize(f.len().max(60), 0);
        }
        if self.chance(0.2) {
            shape.truncated = true;
            let cut = self.rng.random_range(MIN_FRAME..=f.len().max(MIN_FRAME));
            f.truncate(cut);
        }
        if self.chance(0.2) {
            shape.flipped = true;
            for _ in 0..self.rng.random_range(1..=4) {
                let i = self.rng.random_range(0..f.len());
                f[i] ^= self.rng.random_range(1..=255u8);
            }
        }
        f.resize(f.len().max(MIN_FRAME), 0);
        f.truncate(MAX_FRAME);
        (f, shape)
    }

    fn ipv4(&mut self, f: &mut Vec<u8>, shape: &mut Shape) {
        let ihl: u8 = if self.chance(0.8) {
            5
        } else {
            self.rng.random_range(0..16)
        };
        let protocol = self.protocol();
        let frag: u16 = match self.rng.random_range(0..10) {
            0..=4 => 0,
            5 => 0x4000,
            6 | 7 => 0x2000,
            8 => self.rng.random_range(1..0x2000) | (self.rng.random::<u16>() & 0x2000),
            _ => self.rng.random(),
        };
        let tail = frag & 0x1FFF != 0;
        let first = !tail && frag & 0x2000 != 0;
        shape.tail = tail;
        let l4 = if tail {
            let n = self.rng.random_range(0..64);
            self.bytes(n)
        } else {
            self.l4(protocol, first, shape)
        };
        let header_len = (ihl as usize * 4).max(20);
        let real = (header_len + l4.len()) as u16;
        let total = self.length(real);
        f.push(0x40 | ihl);
        f.push(self.rng.random());
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&self.bytes(2));
        f.extend_from_slice(&frag.to_be_bytes());
        f.push(self.rng.random());
        f.push(protocol);
        f.extend_from_slice(&[0, 0]);
        let (src, dst) = (self.addr4(), self.addr4());
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend(self.bytes(header_len - 20));
        f.extend(l4);
    }

    /// A length field for a packet whose headers and payload are `real` bytes: mostly
    /// right, sometimes 0, shorter or longer.
    fn length(&mut self, real: u16) -> u16 {
        match self.rng.random_range(0..20) {
            0..=13 => real,
            14 => 0,
            15 => real.saturating_sub(self.rng.random_range(1..24)),
            16 => real.saturating_add(self.rng.random_range(1..24)),
            _ => self.rng.random(),
        }
    }

    fn ipv6(&mut self, f: &mut Vec<u8>, shape: &mut Shape) {
        let n_ext = *[0, 0, 1, 1, 2, 3, 4, 5, 6, 6, 7, 8]
            .get(self.rng.random_range(0..12))
            .unwrap();
        shape.ipv6_exts = n_ext;
        // Hop-by-hop belongs first (RFC 8200); now and then it is elsewhere.
        let kinds: Vec<u8> = (0..n_ext)
            .map(|i| {
                if (i == 0 && self.chance(0.3)) || self.chance(0.03) {
                    0
                } else {
                    [43u8, 60, 44][self.rng.random_range(0..3)]
                }
            })
            .collect();
        let protocol = self.protocol();
        let mut chain = Vec::new();
        let mut first = false;
        let mut tail = false;
        for (i, kind) in kinds.iter().enumerate() {
            let next = kinds.get(i + 1).copied().unwrap_or(protocol);
            if *kind == 44 {
                let offset: u16 = if self.chance(0.5) {
                    0
                } else {
                    self.rng.random_range(1..0x2000)
                };
                let more = self.chance(0.6);
                tail |= offset != 0;
                first |= offset == 0 && more;
                chain.push(next);
                chain.push(0);
                chain.extend_from_slice(&((offset << 3) | more as u16).to_be_bytes());
                chain.extend_from_slice(&self.bytes(4));
            } else {
                let units = self.rng.random_range(0..3u8);
                chain.push(next);
                chain.push(units);
                chain.extend(self.bytes(6 + 8 * units as usize));
            }
        }
        shape.tail = tail;
        let l4 = if tail {
            let n = self.rng.random_range(0..64);
            self.bytes(n)
        } else {
            self.l4(protocol, first, shape)
        };
        let real = (chain.len() + l4.len()) as u16;
        let payload = self.length(real);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&payload.to_be_bytes());
        f.push(kinds.first().copied().unwrap_or(protocol));
        f.push(self.rng.random());
        let (src, dst) = (self.addr6(), self.addr6());
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend(chain);
        f.extend(l4);
    }

    /// An L4 header and payload; a first fragment's header is sometimes cut short.
    fn l4(&mut self, protocol: u8, first_fragment: bool, shape: &mut Shape) -> Vec<u8> {
        let mut l4 = match protocol {
            6 => {
                let doff: u8 = if self.chance(0.8) {
                    self.rng.random_range(5..16)
                } else {
                    self.rng.random_range(0..5)
                };
                let mut h = self.bytes(12);
                h.push(doff << 4 | (self.rng.random::<u8>() & 0x0F));
                h.push(self.rng.random());
                h.extend(self.bytes(6));
                h.extend(self.bytes((doff as usize * 4).saturating_sub(20)));
                h
            }
            17 => {
                let mut h = self.bytes(4);
                let n = self.rng.random_range(0..64u16);
                h.extend_from_slice(&(8 + n).to_be_bytes());
                h.extend(self.bytes(2 + n as usize));
                return self.cut(h, first_fragment, shape);
            }
            1 | 58 => {
                let t = [0u8, 8, 128, 129, 3, 11, 1, 135][self.rng.random_range(0..8)];
                let mut h = vec![t];
                h.extend(self.bytes(7));
                h
            }
            _ => Vec::new(),
        };
        let n = self.rng.random_range(0..48);
        l4.extend(self.bytes(n));
        self.cut(l4, first_fragment, shape)
    }

    /// Cuts a first fragment's L4 bytes to a few, as a tiny-fragment attack does.
    fn cut(&mut self, mut l4: Vec<u8>, first_fragment: bool, shape: &mut Shape) -> Vec<u8> {
        if first_fragment && self.chance(0.5) {
            shape.short_first = true;
            let keep = [0, 2, 4, 8, 8, 8, 12, 16][self.rng.random_range(0..8)];
            l4.truncate(keep);
        }
        l4
    }
}
