//! The record and block layouts of pcap and pcapng that the reader reads in place: block
//! lengths (to know a block is whole before parsing it), packet blocks (read without
//! `pcap-file`'s option parsing, which allocates) and what a packet needs from its
//! interface description (link type, timestamp unit and offset).

use pcap_file::{
    pcap::PcapParser,
    pcapng::blocks::interface_description::{
        InterfaceDescriptionBlock, InterfaceDescriptionOption,
    },
    Endianness,
};

use super::link::LinkType;

pub const PCAPNG_SHB: u32 = 0x0A0D_0D0A;

/// Per pcapng interface: what its packets need.
#[derive(Clone, Copy)]
pub struct Interface {
    /// `None` for a link type the parser does not read.
    pub link: Option<LinkType>,
    pub number: u32,
    /// The interface's snapshot length (0: none given).
    pub snaplen: u32,
    /// Timestamp unit: `10^-exp` seconds, or `2^-exp` with `binary`.
    exp: u8,
    binary: bool,
    offset_s: u64,
}

impl Interface {
    pub fn ts_ns(&self, units: u64) -> u64 {
        let ns = if self.binary {
            ((units as u128 * 1_000_000_000) >> self.exp.min(127)) as u64
        } else if self.exp <= 9 {
            units.saturating_mul(10u64.pow(9 - self.exp as u32))
        } else {
            (units as u128 / 10u128.pow((self.exp - 9).min(38) as u32)) as u64
        };
        ns.saturating_add(self.offset_s.saturating_mul(1_000_000_000))
    }
}

pub const PCAPNG_IDB: u32 = 1;
pub const PCAPNG_PB: u32 = 2;
pub const PCAPNG_SPB: u32 = 3;
pub const PCAPNG_EPB: u32 = 6;

pub fn u32_at(data: &[u8], off: usize, order: Endianness) -> u32 {
    let b = [data[off], data[off + 1], data[off + 2], data[off + 3]];
    match order {
        Endianness::Big => u32::from_be_bytes(b),
        Endianness::Little => u32::from_le_bytes(b),
    }
}

pub fn u16_at(data: &[u8], off: usize, order: Endianness) -> u16 {
    let b = [data[off], data[off + 1]];
    match order {
        Endianness::Big => u16::from_be_bytes(b),
        Endianness::Little => u16::from_le_bytes(b),
    }
}

/// Bytes of the pcapng block at the front of `data`: `None` while its header is not all
/// there. A section header gives its own byte order (in the byte-order magic after the
/// length); every other block uses its section's.
pub fn block_len(data: &[u8], order: Endianness) -> Option<usize> {
    if data.len() < 12 {
        return None;
    }
    let order = if data[..4] == PCAPNG_SHB.to_be_bytes() {
        if data[8..12] == [0x1a, 0x2b, 0x3c, 0x4d] {
            Endianness::Big
        } else {
            Endianness::Little
        }
    } else {
        order
    };
    Some(u32_at(data, 4, order) as usize)
}

/// Bytes of the pcap record at the front of `data` (16-byte header and captured bytes).
pub fn pcap_record_len(data: &[u8], parser: &PcapParser) -> Option<usize> {
    if data.len() < 16 {
        return None;
    }
    Some(16 + u32_at(data, 8, parser.header().endianness) as usize)
}

/// A packet block's fields, read in place.
pub struct PacketBlock<'a> {
    pub interface: u32,
    /// Timestamp in its interface's units; `None` for a simple packet block.
    pub units: Option<u64>,
    pub orig_len: u32,
    pub data: &'a [u8],
    pub block_len: usize,
}

/// Reads an enhanced, simple or (obsolete) packet block; `None` when its lengths do not fit.
pub fn packet_block(data: &[u8], order: Endianness) -> Option<PacketBlock<'_>> {
    let block_len = u32_at(data, 4, order) as usize;
    let body = data.get(8..block_len.checked_sub(4)?)?;
    let ts = |hi: usize| {
        (u64::from(u32_at(body, hi, order)) << 32) | u64::from(u32_at(body, hi + 4, order))
    };
    let (interface, units, caplen, orig_len, start): (u32, Option<u64>, usize, u32, usize) =
        match u32_at(data, 0, order) {
            PCAPNG_EPB if body.len() >= 20 => (
                u32_at(body, 0, order),
                Some(ts(4)),
                u32_at(body, 12, order) as usize,
                u32_at(body, 16, order),
                20,
            ),
            PCAPNG_PB if body.len() >= 20 => (
                u16_at(body, 0, order) as u32,
                Some(ts(4)),
                u32_at(body, 12, order) as usize,
                u32_at(body, 16, order),
                20,
            ),
            PCAPNG_SPB if body.len() >= 4 => {
                let orig = u32_at(body, 0, order);
                // The captured length is the original one cut to the block (and its padding).
                let caplen = (orig as usize).min(body.len() - 4);
                (0, None, caplen, orig, 4)
            }
            _ => return None,
        };
    let data = body.get(start..start.checked_add(caplen)?)?;
    Some(PacketBlock {
        interface,
        units,
        orig_len,
        data,
        block_len,
    })
}

/// What a packet needs from its interface description.
pub fn interface(idb: &InterfaceDescriptionBlock<'_>) -> Interface {
    let number: u32 = idb.linktype.into();
    let mut iface = Interface {
        link: LinkType::from_number(number),
        number,
        snaplen: idb.snaplen,
        exp: 6,
        binary: false,
        offset_s: 0,
    };
    for opt in &idb.options {
        match opt {
            InterfaceDescriptionOption::IfTsResol(r) => {
                iface.binary = r & 0x80 != 0;
                iface.exp = r & 0x7f;
            }
            InterfaceDescriptionOption::IfTsOffset(s) => iface.offset_s = *s,
            _ => {}
        }
    }
    iface
}
