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

use core::{cmp::Ordering, mem::MaybeUninit, ptr::addr_of_mut};

use packetguard_common::{
    key::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP},
    Counter, FlowKey, PacketMeta,
};

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

const IPV6_HLEN: usize = 40;
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;
/// Extension headers skipped at most; a chain longer than this is a parse error.
const MAX_IPV6_EXT: usize = 6;
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
        ETH_P_IP => ipv4(start, end, offset, key)?,
        ETH_P_IPV6 => ipv6(start, end, offset, key)?,
        _ => return Ok(Parsed::NonIp),
    };
    let l4 = if l3.fragment_tail {
        crate::count(Counter::Fragments, 1);
        L4 {
            src_port: 0,
            dst_port: 0,
            payload_len: l3.payload_len,
            tcp_flags: 0,
            window: 0,
        }
    } else {
        l4(start, end, l3.l4_offset, l3.protocol, l3.payload_len)?
    };
    let is_tcp = (l3.protocol == IPPROTO_TCP && !l3.fragment_tail) as u8;
    let (port_a, port_b, src_is_a) =
        FlowKey::canonical_ports(l3.src_addr_order, l4.src_port, l4.dst_port);
    unsafe {
        addr_of_mut!((*key).port_a).write(port_a);
        addr_of_mut!((*key).port_b).write(port_b);
        addr_of_mut!((*key).protocol).write(l3.protocol);
        addr_of_mut!((*key)._pad).write([0; 2]);
        addr_of_mut!((*pkt).src_is_a).write(src_is_a);
        addr_of_mut!((*pkt).meta).write(meta(
            len,
            l4.payload_len,
            l4.window,
            l4.tcp_flags,
            l3.ttl,
            is_tcp,
        ));
    }
    Ok(Parsed::Flow)
}

/// A [`PacketMeta`] with `ts_ns` 0, built as three words: a field-by-field build zeroes the
/// three padding bytes with a call to the byte-wise `memset` subprogram.
#[inline(always)]
fn meta(len: u32, payload_len: u32, window: u16, tcp_flags: u8, ttl: u8, is_tcp: u8) -> PacketMeta {
    const _: () =
        assert!(core::mem::size_of::<PacketMeta>() == 24 && cfg!(target_endian = "little"));
    let words: [u64; 3] = [
        0,
        len as u64 | (payload_len as u64) << 32,
        window as u64 | (tcp_flags as u64) << 16 | (ttl as u64) << 24 | (is_tcp as u64) << 32,
    ];
    // SAFETY: `PacketMeta` is `repr(C)`, 24 bytes of integers: `ts_ns`, then `len` and
    // `payload_len`, then `window`, `tcp_flags`, `ttl`, `is_tcp` and three padding bytes.
    unsafe { core::mem::transmute::<[u64; 3], PacketMeta>(words) }
}

struct L3 {
    protocol: u8,
    ttl: u8,
    /// A non-first fragment: no L4 header, counted toward the L3 flow with ports 0.
    fragment_tail: bool,
    /// How the source address compares with the destination; the key's addresses are
    /// already in canonical order (see [`FlowKey::canonical_ports`]).
    src_addr_order: Ordering,
    l4_offset: usize,
    /// Bytes after the IP header(s) according to the IP length fields.
    payload_len: u32,
}

/// Parses the IPv4 header at `off` and writes the addresses into `key`, smaller first.
#[inline(always)]
fn ipv4(start: usize, end: usize, off: usize, key: *mut FlowKey) -> Result<L3, ()> {
    let ip = at(start, end, off, 20)?;
    let vihl = ld8::<0>(ip);
    if vihl >> 4 != 4 {
        return Err(());
    }
    let ihl = ((vihl & 0x0F) as usize) * 4;
    if ihl < 20 {
        return Err(());
    }
    // Options are skipped, but the whole header must be in the frame.
    if off + ihl > end - start {
        return Err(());
    }
    let total_len = be16::<2>(ip) as usize;
    if total_len < ihl {
        return Err(());
    }
    let frag = be16::<6>(ip);
    let src = ld32::<12>(ip);
    let dst = ld32::<16>(ip);
    let order = src.cmp(&dst);
    let (a, b) = FlowKey::canonical_addrs(order, src, dst);
    unsafe {
        addr_of_mut!((*key).addr_a).write([a, 0, 0, 0]);
        addr_of_mut!((*key).addr_b).write([b, 0, 0, 0]);
        addr_of_mut!((*key).ip_version).write(4);
    }
    Ok(L3 {
        protocol: ld8::<9>(ip),
        ttl: ld8::<8>(ip),
        fragment_tail: frag & 0x1FFF != 0,
        src_addr_order: order,
        l4_offset: off + ihl,
        payload_len: (total_len - ihl) as u32,
    })
}

/// Parses the IPv6 header and extension headers at `off` and writes the addresses into
/// `key`, smaller first.
#[inline(always)]
fn ipv6(start: usize, end: usize, off: usize, key: *mut FlowKey) -> Result<L3, ()> {
    let ip = at(start, end, off, IPV6_HLEN)?;
    if ld8::<0>(ip) >> 4 != 6 {
        return Err(());
    }
    let payload_len = be16::<4>(ip) as u32;
    let mut next = ld8::<6>(ip);
    let ttl = ld8::<7>(ip);
    let src = [
        ld32::<8>(ip),
        ld32::<12>(ip),
        ld32::<16>(ip),
        ld32::<20>(ip),
    ];
    let dst = [
        ld32::<24>(ip),
        ld32::<28>(ip),
        ld32::<32>(ip),
        ld32::<36>(ip),
    ];
    let order = FlowKey::compare_addrs(&src, &dst);
    let (a, b) = FlowKey::canonical_addrs(order, src, dst);
    unsafe {
        addr_of_mut!((*key).addr_a).write(a);
        addr_of_mut!((*key).addr_b).write(b);
        addr_of_mut!((*key).ip_version).write(6);
    }
    let mut l4_offset = off + IPV6_HLEN;
    let mut ext_len: u32 = 0;
    let mut fragment_tail = false;
    let mut done = false;
    for _ in 0..MAX_IPV6_EXT {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let hdr = at(start, end, l4_offset, 2)?;
                let len = (ld8::<1>(hdr) as usize + 1) * 8;
                next = ld8::<0>(hdr);
                l4_offset += len;
                ext_len += len as u32;
            }
            NEXTHDR_FRAGMENT => {
                let hdr = at(start, end, l4_offset, 4)?;
                next = ld8::<0>(hdr);
                let frag_off = be16::<2>(hdr) >> 3;
                l4_offset += 8;
                ext_len += 8;
                if frag_off != 0 {
                    fragment_tail = true;
                    done = true;
                    break;
                }
            }
            _ => {
                done = true;
                break;
            }
        }
    }
    if !done {
        return Err(());
    }
    if ext_len > payload_len {
        return Err(());
    }
    Ok(L3 {
        protocol: next,
        ttl,
        fragment_tail,
        src_addr_order: order,
        l4_offset,
        payload_len: payload_len - ext_len,
    })
}

struct L4 {
    src_port: u16,
    dst_port: u16,
    payload_len: u32,
    tcp_flags: u8,
    window: u16,
}

#[inline(always)]
fn l4(start: usize, end: usize, off: usize, protocol: u8, ip_payload: u32) -> Result<L4, ()> {
    match protocol {
        IPPROTO_TCP => {
            // Ports, offset, flags and window; options are checked below.
            let tcp = at(start, end, off, 16)?;
            let doff = ((ld8::<12>(tcp) >> 4) as u32) * 4;
            if doff < 20 {
                return Err(());
            }
            // The header with its options must be in the frame.
            if off + doff as usize > end - start {
                return Err(());
            }
            Ok(L4 {
                src_port: be16::<0>(tcp),
                dst_port: be16::<2>(tcp),
                payload_len: ip_payload.saturating_sub(doff),
                tcp_flags: ld8::<13>(tcp),
                window: be16::<14>(tcp),
            })
        }
        IPPROTO_UDP => {
            let udp = at(start, end, off, 8)?;
            Ok(L4 {
                src_port: be16::<0>(udp),
                dst_port: be16::<2>(udp),
                payload_len: ip_payload.saturating_sub(8),
                tcp_flags: 0,
                window: 0,
            })
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let icmp = at(start, end, off, 4)?;
            let icmp_type = ld8::<0>(icmp);
            let echo = if protocol == IPPROTO_ICMP {
                icmp_type == 0 || icmp_type == 8
            } else {
                icmp_type == 128 || icmp_type == 129
            };
            // Echo request and reply share the identifier: use it as both ports so a ping
            // run is one flow and separate runs are separate flows.
            let id = if echo {
                be16::<4>(at(start, end, off, 6)?)
            } else {
                0
            };
            Ok(L4 {
                src_port: id,
                dst_port: id,
                payload_len: ip_payload.saturating_sub(8),
                tcp_flags: 0,
                window: 0,
            })
        }
        // Other protocols (GRE, ESP, SCTP, ...): an L3 flow with ports 0.
        _ => Ok(L4 {
            src_port: 0,
            dst_port: 0,
            payload_len: ip_payload,
            tcp_flags: 0,
            window: 0,
        }),
    }
}
