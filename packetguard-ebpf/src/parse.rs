//! Bounds-checked packet parsing, shared by the XDP (ingress) and TC (egress) programs.
//!
//! Both program types reach the packet the same way, as a linear byte range from `data` to
//! `data_end`, so [`parse`] takes those two addresses (plus the frame length, which on TC
//! can exceed the linear part) and knows nothing of the program type: one parser, one set
//! of rules for what counts as a parse error, whichever hook saw the packet.
//!
//! Each header is checked whole against `data_end` (with [`at`]) before its fields are read,
//! so the verifier accepts the program and a truncated frame becomes an `Err(())` (counted
//! as a parse error by the caller), never an out-of-bounds read.
//!
//! What is parsed, and what a malformed frame becomes:
//!
//! - Ethernet, then up to [`MAX_VLAN`] VLAN tags (802.1Q / 802.1ad); a frame with more
//!   tags, or whose innermost EtherType is neither IPv4 nor IPv6, is not IP (passed and
//!   counted as such, not an error).
//! - IPv4 with options, IPv6 with up to [`l3::MAX_IPV6_EXT`] extension headers. Length
//!   fields are trusted only as far as the frame goes: a packet whose IP length promises
//!   more than the frame holds is a packet of what the frame holds, one whose length is
//!   shorter than its own headers is a parse error ([`l3`] says why).
//! - TCP, UDP, ICMP and ICMPv6 headers must lie whole inside the IP payload; other
//!   protocols are L3 flows with ports 0 ([`l4`]).
//! - Fragments never hide a flow: tails count toward the L3 flow with ports 0, and a
//!   first fragment cut inside its L4 header still counts, by its ports when it has them,
//!   a TCP one as a connection attempt ([`fragment`]).

mod fragment;
mod l3;
mod l4;

use core::{mem::MaybeUninit, ptr::addr_of_mut};

use packetguard_common::{host::connection_attempt, key::IPPROTO_TCP, FlowKey, PacketMeta};

use self::{fragment::Fragment, l4::L4};

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

/// VLAN tags parsed at most (802.1ad outer + 802.1Q inner).
const MAX_VLAN: usize = 2;

/// What the parser found in a frame.
pub enum Parsed {
    /// An IP packet, written into the caller's [`Packet`].
    Flow,
    NonIp,
}

/// One IP packet, ready to fold into its flow.
pub struct Packet {
    pub key: FlowKey,
    /// The packet's source is endpoint `a` of the canonical key.
    pub src_is_a: bool,
    pub meta: PacketMeta,
}

/// Loads from the packet. Each caller has checked the whole header it reads against
/// `data_end` first, so the verifier accepts the access and a truncated frame is an `Err`.
///
/// 16- and 32-bit fields are read with one BPF load each (inline assembly): packet headers
/// are not aligned, and a Rust unaligned read compiles to byte loads and shifts. The kernel
/// accepts unaligned packet loads where the CPU handles them (x86-64, arm64), which is where
/// PacketGuard runs; stack accesses stay aligned.
#[inline(always)]
fn ld8<const OFF: usize>(p: usize) -> u8 {
    unsafe { *((p + OFF) as *const u8) }
}

#[inline(always)]
fn ld16<const OFF: usize>(p: usize) -> u16 {
    let v: u64;
    unsafe {
        core::arch::asm!(
            "{v} = *(u16 *)({p} + {off})",
            p = in(reg) p,
            off = const OFF,
            v = lateout(reg) v,
            options(pure, readonly, nostack, preserves_flags)
        )
    };
    v as u16
}

#[inline(always)]
fn ld32<const OFF: usize>(p: usize) -> u32 {
    let v: u64;
    unsafe {
        core::arch::asm!(
            "{v} = *(u32 *)({p} + {off})",
            p = in(reg) p,
            off = const OFF,
            v = lateout(reg) v,
            options(pure, readonly, nostack, preserves_flags)
        )
    };
    v as u32
}

/// A big-endian 16-bit field.
#[inline(always)]
fn be16<const OFF: usize>(p: usize) -> u16 {
    u16::from_be(ld16::<OFF>(p))
}

/// `Ok(start + off)` if `len` bytes from there are in the frame.
#[inline(always)]
fn at(start: usize, end: usize, off: usize, len: usize) -> Result<usize, ()> {
    let p = start + off;
    if p + len > end {
        return Err(());
    }
    Ok(p)
}

/// Parses the frame whose headers lie between `start` and `end` (the program's `data` and
/// `data_end`) into `pkt`; `len` is the whole frame's length in bytes, what the packet
/// counts. On `Ok(Parsed::Flow)` every field of `pkt` is written and `meta.ts_ns` is 0: the
/// caller stamps it after parsing, so no parsed value has to survive the helper call.
/// Nothing is zeroed first: the fields are written once each.
#[inline(always)]
pub fn parse(
    start: usize,
    end: usize,
    len: u32,
    pkt: &mut MaybeUninit<Packet>,
) -> Result<Parsed, ()> {
    let pkt = pkt.as_mut_ptr();
    // SAFETY (all writes below): raw pointer writes of plain integer fields into the
    // caller's stack slot; nothing is read before it is written.
    let key = unsafe { addr_of_mut!((*pkt).key) };
    let mut offset = ETH_HLEN;
    let mut ethertype = be16::<12>(at(start, end, 0, ETH_HLEN)?);
    for _ in 0..MAX_VLAN {
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            ethertype = be16::<2>(at(start, end, offset, 4)?);
            offset += 4;
        }
    }
    let l3 = match ethertype {
        ETH_P_IP => l3::ipv4(start, end, len, offset, key)?,
        ETH_P_IPV6 => l3::ipv6(start, end, len, offset, key)?,
        _ => return Ok(Parsed::NonIp),
    };
    let l4 = if l3.fragment == Fragment::Tail {
        fragment::tail(l3.payload_len)
    } else {
        match l4::l4(start, end, l3.l4_offset, l3.protocol, l3.payload_len) {
            Ok(l4) => l4,
            Err(()) if l3.fragment == Fragment::First => {
                fragment::short_first(start, end, l3.l4_offset, l3.protocol, l3.payload_len)
            }
            Err(()) => return Err(()),
        }
    };
    let attempt = connection_attempt(
        l4.tcp_flags_known,
        l4.tcp_flags,
        l4.ports_only && l3.protocol == IPPROTO_TCP,
    );
    let (port_a, port_b, src_is_a) =
        FlowKey::canonical_ports(l3.src_addr_order, l4.src_port, l4.dst_port);
    unsafe {
        addr_of_mut!((*key).port_a).write(port_a);
        addr_of_mut!((*key).port_b).write(port_b);
        addr_of_mut!((*key).protocol).write(l3.protocol);
        addr_of_mut!((*key)._pad).write([0; 2]);
        addr_of_mut!((*pkt).src_is_a).write(src_is_a);
        addr_of_mut!((*pkt).meta).write(meta(len, &l4, l3.ttl, attempt));
    }
    Ok(Parsed::Flow)
}

/// A [`PacketMeta`] with `ts_ns` 0, built as three words: a field-by-field build zeroes the
/// two padding bytes with a call to the byte-wise `memset` subprogram.
#[inline(always)]
fn meta(len: u32, l4: &L4, ttl: u8, attempt: bool) -> PacketMeta {
    const _: () =
        assert!(core::mem::size_of::<PacketMeta>() == 24 && cfg!(target_endian = "little"));
    let words: [u64; 3] = [
        0,
        len as u64 | (l4.payload_len as u64) << 32,
        l4.window as u64
            | (l4.tcp_flags as u64) << 16
            | (ttl as u64) << 24
            | (l4.tcp_flags_known as u64) << 32
            | (attempt as u64) << 40,
    ];
    // SAFETY: `PacketMeta` is `repr(C)`, 24 bytes of integers: `ts_ns`, then `len` and
    // `payload_len`, then `window`, `tcp_flags`, `ttl`, `is_tcp`, `attempt` and two padding
    // bytes.
    unsafe { core::mem::transmute::<[u64; 3], PacketMeta>(words) }
}
