//! Reading a pcap or pcapng file one packet at a time, timestamps in nanoseconds.
//!
//! A file that ends inside a packet, or holds a damaged record, stops the stream there:
//! what came before is still used, and [`CaptureReader::stopped`] says where and why.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{PcapError, TsResolution};

use super::link::Link;
use super::SimulateError;

/// The pcapng section header block type, the first four bytes of a pcapng file.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// A larger captured length than this is a damaged record, not a frame.
const MAX_FRAME: usize = 262_144;

/// One captured packet.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: &'a [u8],
}

enum Inner {
    Pcap(PcapReader<BufReader<File>>),
    /// With each interface's tick length in nanoseconds and offset in seconds.
    PcapNg(PcapNgReader<BufReader<File>>, Vec<(u64, u64)>),
}

/// A capture file being read.
pub struct CaptureReader {
    path: PathBuf,
    inner: Inner,
    pub linktype: u32,
    pub link: Link,
    /// True when the file's timestamps have nanosecond resolution (pcapng always keeps
    /// them as such here).
    pub nanosecond: bool,
    pub snaplen: u32,
    /// Little-endian file (pcap's byte order is kept in the output).
    pub little_endian: bool,
    packets: u64,
    stopped: Option<String>,
    /// The current pcapng packet's bytes.
    ng_data: Vec<u8>,
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<Self, SimulateError> {
        let open_err = |source| SimulateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic).map_err(open_err)?;
        drop(file);
        let file = BufReader::new(File::open(path).map_err(open_err)?);
        let format = |source| SimulateError::Format {
            path: path.to_path_buf(),
            source,
        };
        let (inner, linktype, nanosecond, snaplen, little_endian) = if magic == PCAPNG_MAGIC {
            let mut r = PcapNgReader::new(file).map_err(format)?;
            // Read up to the first interface: its link type is the file's.
            while r.interfaces().is_empty() {
                match r.next_block() {
                    Some(Ok(
                        Block::EnhancedPacket(_) | Block::SimplePacket(_) | Block::Packet(_),
                    )) => return Err(SimulateError::NoInterface(path.to_path_buf())),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format(e)),
                    None => return Err(SimulateError::NoInterface(path.to_path_buf())),
                }
            }
            let idb = &r.interfaces()[0];
            let (linktype, snaplen) = (u32::from(idb.linktype), idb.snaplen);
            (Inner::PcapNg(r, Vec::new()), linktype, true, snaplen, true)
        } else {
            let r = PcapReader::new(file).map_err(format)?;
            let h = r.header();
            let nano = h.ts_resolution == TsResolution::NanoSecond;
            let le = h.endianness == pcap_file::Endianness::Little;
            (Inner::Pcap(r), u32::from(h.datalink), nano, h.snaplen, le)
        };
        let link = Link::from_linktype(linktype).ok_or_else(|| SimulateError::UnsupportedLink {
            path: path.to_path_buf(),
            linktype,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            linktype,
            link,
            nanosecond,
            snaplen,
            little_endian,
            packets: 0,
            stopped: None,
            ng_data: Vec::new(),
        })
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Why reading stopped before the end of the file, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// The next packet; `Ok(None)` at the end of the file or where it stops being
    /// readable. An error only for a pcapng interface of another link type.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SimulateError> {
        if self.stopped.is_some() {
            return Ok(None);
        }
        let at = self.packets;
        let result = match &mut self.inner {
            Inner::Pcap(r) => match r.next_raw_packet() {
                None => return Ok(None),
                Some(Err(e)) => Err(e),
                Some(Ok(p)) => {
                    let frac = p.ts_frac as u64 * if self.nanosecond { 1 } else { 1000 };
                    let ts_ns = p.ts_sec as u64 * 1_000_000_000 + frac;
                    match p.data {
                        std::borrow::Cow::Borrowed(data) if data.len() <= MAX_FRAME => Ok(Frame {
                            ts_ns,
                            orig_len: p.orig_len,
                            data,
                        }),
                        _ => Err(PcapError::InvalidField("captured length above 256 KiB")),
                    }
                }
            },
            Inner::PcapNg(r, clocks) => {
                loop {
                    // The block borrows the reader: take what is needed and let it go.
                    let (interface, ticks, orig_len) = match r.next_block() {
                    None => return Ok(None),
                    Some(Err(e)) => break Err(e),
                    Some(Ok(Block::EnhancedPacket(epb))) => {
                        self.ng_data.clear();
                        self.ng_data.extend_from_slice(&epb.data);
                        // pcap-file hands the raw tick count over as nanoseconds.
                        (epb.interface_id, epb.timestamp.as_nanos() as u64, epb.original_len)
                    }
                    Some(Ok(Block::SimplePacket(_) | Block::Packet(_))) => {
                        break Err(PcapError::InvalidField(
                            "a packet block without a timestamp (simple or obsolete packet block)",
                        ))
                    }
                    Some(Ok(_)) => continue,
                };
                    let Some(idb) = r.interfaces().get(interface as usize) else {
                        break Err(PcapError::InvalidInterfaceId(interface));
                    };
                    let lt = u32::from(idb.linktype);
                    if lt != self.linktype {
                        return Err(SimulateError::MixedLinks {
                            path: self.path.clone(),
                            first: self.linktype,
                            other: lt,
                        });
                    }
                    while clocks.len() < r.interfaces().len() {
                        clocks.push(interface_clock(&r.interfaces()[clocks.len()].options));
                    }
                    let (tick_ns, offset_s) = clocks[interface as usize];
                    let ts_ns = ticks
                        .saturating_mul(tick_ns)
                        .saturating_add(offset_s.saturating_mul(1_000_000_000));
                    if self.ng_data.len() > MAX_FRAME {
                        break Err(PcapError::InvalidField("captured length above 256 KiB"));
                    }
                    break Ok(Frame {
                        ts_ns,
                        orig_len,
                        data: &self.ng_data,
                    });
                }
            }
        };
        match result {
            Ok(f) => {
                self.packets += 1;
                Ok(Some(f))
            }
            Err(e) => {
                let why = match &e {
                    PcapError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
                        "the file ends inside a packet".to_string()
                    }
                    PcapError::IncompleteBuffer => "the file ends inside a packet".to_string(),
                    other => format!("damaged record ({other})"),
                };
                self.stopped = Some(format!(
                    "{} stops after packet {at}: {why}",
                    self.path.display()
                ));
                Ok(None)
            }
        }
    }
}

/// An interface's tick in nanoseconds (if_tsresol, default microseconds) and its
/// if_tsoffset in seconds.
fn interface_clock(options: &[InterfaceDescriptionOption<'_>]) -> (u64, u64) {
    let mut tick_ns = 1000;
    let mut offset = 0;
    for o in options {
        match *o {
            InterfaceDescriptionOption::IfTsResol(r) if r & 0x80 == 0 && r <= 9 => {
                tick_ns = 10u64.pow(9 - r as u32);
            }
            InterfaceDescriptionOption::IfTsResol(r) if r & 0x80 != 0 => {
                // Power-of-two ticks: nanoseconds lose the fraction, at most 1 ns.
                tick_ns = (1_000_000_000u64 >> (r & 0x7f).min(30)).max(1);
            }
            InterfaceDescriptionOption::IfTsOffset(s) => offset = s,
            _ => {}
        }
    }
    (tick_ns, offset)
}
