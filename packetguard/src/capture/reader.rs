//! Reading pcap and pcapng captures: each packet as its capture time, link type, frame
//! bytes and original length.
//!
//! Parsing is `pcap-file`'s (both formats, both byte orders, microsecond and nanosecond
//! pcap); this module feeds its parsers from [`ReadBuffer`], so packets are parsed in place
//! (no copy, no allocation per packet) and the byte offset where a file stops is exact.
//!
//! - pcapng timestamps are in the units of their interface's `if_tsresol` (microseconds
//!   unless it says otherwise, a power of 10 or of 2) plus its `if_tsoffset` seconds;
//!   `pcap-file` hands over the raw count, which is converted here. A simple packet block
//!   has no timestamp and takes the previous packet's.
//! - A link type the parser does not read ([`LinkType`]) is an error naming it: for pcap
//!   when the file is opened, for pcapng at the first packet of such an interface.
//! - A file that ends inside a packet, or whose next block cannot be parsed, yields every
//!   packet before it and then [`ReadError::Truncated`], saying at which packet and byte
//!   offset it stopped; the reader yields nothing after that.

use std::{
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
};

use pcap_file::{
    pcap::PcapParser,
    pcapng::{Block, PcapNgParser},
    Endianness, PcapError,
};

use super::{
    blocks::{
        block_len, interface, packet_block, pcap_record_len, u32_at, Interface, PCAPNG_EPB,
        PCAPNG_IDB, PCAPNG_PB, PCAPNG_SHB, PCAPNG_SPB,
    },
    buffer::ReadBuffer,
    link::{describe, LinkType},
};

/// One captured packet, borrowed from the reader until the next one is read.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub link: LinkType,
    /// The bytes captured (at most the snapshot length).
    pub data: &'a [u8],
    /// The packet's length on the wire, at least `data.len()`.
    pub orig_len: u32,
}

/// What a capture's header says beyond its packets: what a tool writing a capture like it
/// (`simulate`) copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// The `LINKTYPE_*` number of the file (pcap) or of its first interface (pcapng).
    pub linktype: u32,
    pub snaplen: u32,
    /// For pcap, whether timestamps have nanosecond resolution and whether the file is
    /// little-endian; `None` for pcapng, whose resolution is per interface.
    pub pcap: Option<(bool, bool)>,
}

/// Why a capture could not be read, or where it stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a pcap or pcapng capture (it starts with {magic:02x?})", path.display())]
    NotACapture { path: PathBuf, magic: Vec<u8> },
    #[error("{}: bad capture header: {source}", path.display())]
    Header {
        path: PathBuf,
        #[source]
        source: PcapError,
    },
    #[error(
        "{}: link type {} is not supported (Ethernet, Linux cooked SLL/SLL2 and raw IP are)",
        path.display(),
        describe(*number)
    )]
    UnsupportedLink { path: PathBuf, number: u32 },
    #[error(
        "{}: stopped at packet {packet} (byte offset {offset}): {cause}; the {read} packets before it were read",
        path.display(),
        read = packet - 1
    )]
    Truncated {
        path: PathBuf,
        /// The packet that could not be read, counting from 1.
        packet: u64,
        /// Where in the file it starts.
        offset: u64,
        cause: String,
    },
}

enum Format {
    Pcap {
        parser: PcapParser,
        link: LinkType,
    },
    PcapNg {
        parser: PcapNgParser,
        interfaces: Vec<Interface>,
        last_ts_ns: u64,
    },
}

/// A capture file being read.
pub struct CaptureReader {
    path: PathBuf,
    buf: ReadBuffer,
    format: Format,
    /// Packets yielded so far.
    packets: u64,
    /// Bytes of the packet yielded last, consumed at the next read.
    pending: usize,
    done: bool,
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];

impl CaptureReader {
    /// Opens a capture file.
    pub fn open(path: &Path) -> Result<CaptureReader, ReadError> {
        let file = File::open(path).map_err(|source| ReadError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(path, Box::new(file))
    }

    /// Reads a capture from `reader`; `name` is what errors call it.
    pub fn from_reader(
        name: &Path,
        reader: Box<dyn Read + Send>,
    ) -> Result<CaptureReader, ReadError> {
        let path = name.to_path_buf();
        let mut buf = ReadBuffer::new(reader);
        let header_err = |path: &PathBuf, source| ReadError::Header {
            path: path.clone(),
            source,
        };
        let io_err = |path: &PathBuf, e: io::Error| ReadError::Open {
            path: path.clone(),
            source: e,
        };
        while buf.data().len() < 4 && buf.fill().map_err(|e| io_err(&path, e))? > 0 {}
        let magic: Vec<u8> = buf.data().iter().take(4).copied().collect();
        let format = if magic == PCAPNG_SHB.to_be_bytes() {
            let need = block_len(buf.data(), Endianness::Big);
            ensure(&mut buf, need).map_err(|e| io_err(&path, e))?;
            let data = buf.data();
            let (rem, parser) = PcapNgParser::new(data).map_err(|e| header_err(&path, e))?;
            let used = data.len() - rem.len();
            buf.consume(used);
            Format::PcapNg {
                parser,
                interfaces: Vec::new(),
                last_ts_ns: 0,
            }
        } else if PCAP_MAGICS.iter().any(|m| magic == m) {
            ensure(&mut buf, Some(24)).map_err(|e| io_err(&path, e))?;
            let data = buf.data();
            let (rem, parser) = PcapParser::new(data).map_err(|e| header_err(&path, e))?;
            let used = data.len() - rem.len();
            let number: u32 = parser.header().datalink.into();
            let link = LinkType::from_number(number).ok_or(ReadError::UnsupportedLink {
                path: path.clone(),
                number,
            })?;
            buf.consume(used);
            Format::Pcap { parser, link }
        } else {
            return Err(ReadError::NotACapture { path, magic });
        };
        Ok(CaptureReader {
            path,
            buf,
            format,
            packets: 0,
            pending: 0,
            done: false,
        })
    }

    /// The file's header: at once for pcap; for pcapng once its first interface block has
    /// been read (after the first packet at the latest), `None` before.
    pub fn header(&self) -> Option<FileHeader> {
        match &self.format {
            Format::Pcap { parser, .. } => {
                let h = parser.header();
                Some(FileHeader {
                    linktype: h.datalink.into(),
                    snaplen: h.snaplen,
                    pcap: Some((
                        h.ts_resolution == pcap_file::TsResolution::NanoSecond,
                        h.endianness == Endianness::Little,
                    )),
                })
            }
            Format::PcapNg { interfaces, .. } => interfaces.first().map(|i| FileHeader {
                linktype: i.number,
                snaplen: i.snaplen,
                pcap: None,
            }),
        }
    }

    /// The file's name as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Byte offset of the next unread packet or block.
    pub fn offset(&self) -> u64 {
        self.buf.offset() + self.pending as u64
    }

    /// The next packet; `None` at the end of the file or after an error.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, ReadError>> {
        if self.done {
            return None;
        }
        self.buf.consume(std::mem::take(&mut self.pending));
        // Stays set unless a packet is read: nothing follows the end or an error.
        self.done = true;
        match self.next_inner() {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn stopped(&self, cause: impl std::fmt::Display) -> ReadError {
        ReadError::Truncated {
            path: self.path.clone(),
            packet: self.packets + 1,
            offset: self.buf.offset(),
            cause: cause.to_string(),
        }
    }

    fn next_inner(&mut self) -> Result<Option<Frame<'_>>, ReadError> {
        // Skip to the next complete packet record or block; what it skips (section and
        // interface descriptions, statistics, name resolution) is consumed here.
        loop {
            match self.buf.at_end() {
                Ok(true) => return Ok(None),
                Ok(false) => {}
                Err(e) => return Err(self.stopped(e)),
            }
            let need = match &self.format {
                Format::Pcap { parser, .. } => pcap_record_len(self.buf.data(), parser),
                Format::PcapNg { parser, .. } => {
                    block_len(self.buf.data(), parser.section().endianness)
                }
            };
            match ensure(&mut self.buf, need) {
                Ok(true) => {}
                Ok(false) => return Err(self.stopped("the file ends inside it")),
                Err(e) => return Err(self.stopped(e)),
            }
            let Format::PcapNg {
                parser, interfaces, ..
            } = &mut self.format
            else {
                break;
            };
            let data = self.buf.data();
            let order = parser.section().endianness;
            let block_type = u32_at(data, 0, order);
            if block_type == PCAPNG_SHB || block_type == PCAPNG_IDB {
                let used = match parser.next_block(data) {
                    Ok((rem, block)) => {
                        match block {
                            Block::SectionHeader(_) => interfaces.clear(),
                            Block::InterfaceDescription(idb) => interfaces.push(interface(&idb)),
                            _ => {}
                        }
                        data.len() - rem.len()
                    }
                    Err(e) => return Err(self.stopped(e)),
                };
                self.buf.consume(used);
                continue;
            }
            if matches!(block_type, PCAPNG_EPB | PCAPNG_SPB | PCAPNG_PB) {
                break;
            }
            // Any other block holds no packet.
            let used = need.unwrap_or(0);
            self.buf.consume(used);
        }
        let packet = self.packets + 1;
        let offset = self.buf.offset();
        let stopped = |cause: &dyn std::fmt::Display| ReadError::Truncated {
            path: self.path.clone(),
            packet,
            offset,
            cause: cause.to_string(),
        };
        let data = self.buf.data();
        let (frame, used) = match &mut self.format {
            Format::Pcap { parser, link } => {
                // `pcap-file` rejects a record longer on the wire than the file's snapshot
                // length, which is every cut packet of `tcpdump -s 96`: the snapshot length
                // bounds what was kept, not the packet. Only that check is lifted.
                let (rem, raw) = parser.next_raw_packet(data).map_err(|e| stopped(&e))?;
                let header = parser.header();
                let snap_len = header.snaplen.max(raw.orig_len);
                let p = raw
                    .try_into_pcap_packet(header.ts_resolution, snap_len)
                    .map_err(|e| stopped(&e))?;
                let ts_ns = p.timestamp.as_nanos().min(u64::MAX as u128) as u64;
                let std::borrow::Cow::Borrowed(bytes) = p.data else {
                    unreachable!("the pcap parser borrows packet data")
                };
                let frame = Frame {
                    ts_ns,
                    link: *link,
                    data: bytes,
                    orig_len: p.orig_len.max(bytes.len() as u32),
                };
                (frame, data.len() - rem.len())
            }
            Format::PcapNg {
                parser,
                interfaces,
                last_ts_ns,
            } => {
                let order = parser.section().endianness;
                let p = packet_block(data, order)
                    .ok_or_else(|| stopped(&"a packet block that does not parse"))?;
                let info = interfaces
                    .get(p.interface as usize)
                    .copied()
                    .ok_or_else(|| {
                        stopped(&format_args!(
                            "a packet of interface {}, which no interface block describes",
                            p.interface
                        ))
                    })?;
                let Some(link) = info.link else {
                    return Err(ReadError::UnsupportedLink {
                        path: self.path.clone(),
                        number: info.number,
                    });
                };
                let ts_ns = p.units.map_or(*last_ts_ns, |u| info.ts_ns(u));
                *last_ts_ns = ts_ns;
                let frame = Frame {
                    ts_ns,
                    link,
                    data: p.data,
                    orig_len: p.orig_len.max(p.data.len() as u32),
                };
                (frame, p.block_len)
            }
        };
        self.pending = used;
        self.packets += 1;
        self.done = false;
        Ok(Some(frame))
    }
}

/// Makes sure `need` bytes are buffered (`None`: at least the next header's worth).
/// `Ok(false)` when the file ends first.
fn ensure(buf: &mut ReadBuffer, need: Option<usize>) -> io::Result<bool> {
    let need = need.unwrap_or(16).max(1);
    if need > super::buffer::MAX_BLOCK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a record of {need} bytes, more than any packet"),
        ));
    }
    while buf.data().len() < need {
        if buf.fill()? == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
