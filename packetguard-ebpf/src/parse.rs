//! Bounds-checked packet parsing.
//!
//! Every read goes through [`load`], which checks the read against `data_end` first, so the
//! verifier accepts the program and a truncated frame becomes an `Err(())` (counted as a
//! parse error by the caller), never an out-of-bounds read.

use aya_ebpf::{helpers::bpf_ktime_get_ns, programs::XdpContext};
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
    Flow(Packet),
    NonIp,
}

/// One IP packet, ready to fold into its flow.
pub struct Packet {
    pub key: FlowKey,
    /// The packet's source is endpoint `a` of the canonical key.
    pub src_is_a: bool,
    pub meta: PacketMeta,
}

/// Reads a `T` at `offset` from the start of the frame, or `Err` if the frame is too short.
#[inline(always)]
fn load<T: Copy>(ctx: &XdpContext, offset: usize) -> Result<T, ()> {
    let start = ctx.data();
    let end = ctx.data_end();
    let len = core::mem::size_of::<T>();
    if start + offset + len > end {
        return Err(());
    }
    Ok(unsafe { core::ptr::read_unaligned((start + offset) as *const T) })
}

#[inline(always)]
fn load_be16(ctx: &XdpContext, offset: usize) -> Result<u16, ()> {
    Ok(u16::from_be(load::<u16>(ctx, offset)?))
}

/// Parses one frame.
#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Result<Parsed, ()> {
    let frame_len = (ctx.data_end() - ctx.data()) as u32;
    let mut offset = ETH_HLEN;
    let mut ethertype = load_be16(ctx, 12)?;
    for _ in 0..MAX_VLAN {
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            ethertype = load_be16(ctx, offset + 2)?;
            offset += 4;
        }
    }
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    let l3 = match ethertype {
        ETH_P_IP => ipv4(ctx, offset)?,
        ETH_P_IPV6 => ipv6(ctx, offset)?,
        _ => return Ok(Parsed::NonIp),
    };
    let mut meta = PacketMeta {
        ts_ns,
        len: frame_len,
        ttl: l3.ttl,
        ..PacketMeta::default()
    };
    let (mut src_port, mut dst_port) = (0u16, 0u16);
    if l3.fragment_tail {
        crate::count(Counter::Fragments, 1);
        meta.payload_len = l3.payload_len;
    } else {
        let l4 = l4(ctx, l3.l4_offset, l3.protocol, l3.payload_len)?;
        src_port = l4.src_port;
        dst_port = l4.dst_port;
        meta.payload_len = l4.payload_len;
        meta.tcp_flags = l4.tcp_flags;
        meta.window = l4.window;
        meta.is_tcp = (l3.protocol == IPPROTO_TCP) as u8;
    }
    let (key, src_is_a) =
        FlowKey::canonical(l3.version, l3.protocol, l3.src, src_port, l3.dst, dst_port);
    Ok(Parsed::Flow(Packet {
        key,
        src_is_a,
        meta,
    }))
}

struct L3 {
    version: u8,
    protocol: u8,
    ttl: u8,
    /// A non-first fragment: no L4 header, counted toward the L3 flow with ports 0.
    fragment_tail: bool,
    src: [u32; 4],
    dst: [u32; 4],
    l4_offset: usize,
    /// Bytes after the IP header(s) according to the IP length fields.
    payload_len: u32,
}

#[inline(always)]
fn ipv4(ctx: &XdpContext, off: usize) -> Result<L3, ()> {
    let vihl: u8 = load(ctx, off)?;
    if vihl >> 4 != 4 {
        return Err(());
    }
    let ihl = ((vihl & 0x0F) as usize) * 4;
    if ihl < 20 {
        return Err(());
    }
    let total_len = load_be16(ctx, off + 2)? as usize;
    let frag = load_be16(ctx, off + 6)?;
    let ttl: u8 = load(ctx, off + 8)?;
    let protocol: u8 = load(ctx, off + 9)?;
    let src: u32 = load(ctx, off + 12)?;
    let dst: u32 = load(ctx, off + 16)?;
    // Options are skipped, but the whole header must be in the frame.
    if off + ihl > ctx.data_end() - ctx.data() {
        return Err(());
    }
    if total_len < ihl {
        return Err(());
    }
    Ok(L3 {
        version: 4,
        protocol,
        ttl,
        fragment_tail: frag & 0x1FFF != 0,
        src: [src, 0, 0, 0],
        dst: [dst, 0, 0, 0],
        l4_offset: off + ihl,
        payload_len: (total_len - ihl) as u32,
    })
}

#[inline(always)]
fn ipv6(ctx: &XdpContext, off: usize) -> Result<L3, ()> {
    let vtc: u8 = load(ctx, off)?;
    if vtc >> 4 != 6 {
        return Err(());
    }
    let payload_len = load_be16(ctx, off + 4)? as u32;
    let mut next: u8 = load(ctx, off + 6)?;
    let ttl: u8 = load(ctx, off + 7)?;
    let src: [u32; 4] = load(ctx, off + 8)?;
    let dst: [u32; 4] = load(ctx, off + 24)?;
    let mut l4_offset = off + IPV6_HLEN;
    let mut ext_len: u32 = 0;
    let mut fragment_tail = false;
    let mut done = false;
    for _ in 0..MAX_IPV6_EXT {
        match next {
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let hdr: [u8; 2] = load(ctx, l4_offset)?;
                let len = (hdr[1] as usize + 1) * 8;
                next = hdr[0];
                l4_offset += len;
                ext_len += len as u32;
            }
            NEXTHDR_FRAGMENT => {
                let hdr: [u8; 4] = load(ctx, l4_offset)?;
                next = hdr[0];
                let frag_off = u16::from_be_bytes([hdr[2], hdr[3]]) >> 3;
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
        version: 6,
        protocol: next,
        ttl,
        fragment_tail,
        src,
        dst,
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
fn l4(ctx: &XdpContext, off: usize, protocol: u8, ip_payload: u32) -> Result<L4, ()> {
    match protocol {
        IPPROTO_TCP => {
            let ports: [u16; 2] = load(ctx, off)?;
            let doff_byte: u8 = load(ctx, off + 12)?;
            let flags: u8 = load(ctx, off + 13)?;
            let window = load_be16(ctx, off + 14)?;
            let doff = ((doff_byte >> 4) as u32) * 4;
            if doff < 20 {
                return Err(());
            }
            // The header with its options must be in the frame.
            if off + doff as usize > ctx.data_end() - ctx.data() {
                return Err(());
            }
            Ok(L4 {
                src_port: u16::from_be(ports[0]),
                dst_port: u16::from_be(ports[1]),
                payload_len: ip_payload.saturating_sub(doff),
                tcp_flags: flags,
                window,
            })
        }
        IPPROTO_UDP => {
            let ports: [u16; 2] = load(ctx, off)?;
            let _len_csum: [u16; 2] = load(ctx, off + 4)?;
            Ok(L4 {
                src_port: u16::from_be(ports[0]),
                dst_port: u16::from_be(ports[1]),
                payload_len: ip_payload.saturating_sub(8),
                tcp_flags: 0,
                window: 0,
            })
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            let hdr: [u8; 4] = load(ctx, off)?;
            let icmp_type = hdr[0];
            let echo = if protocol == IPPROTO_ICMP {
                icmp_type == 0 || icmp_type == 8
            } else {
                icmp_type == 128 || icmp_type == 129
            };
            // Echo request and reply share the identifier: use it as both ports so a ping
            // run is one flow and separate runs are separate flows.
            let id = if echo { load_be16(ctx, off + 4)? } else { 0 };
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
