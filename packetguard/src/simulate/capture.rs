//! The input capture as `simulate` reads it: the packets of [`crate::capture::CaptureReader`]
//! (the one reader of pcap and pcapng files, which `analyze` uses too), with what the
//! labelled output copies from the input's header: one link type for the whole file, the
//! timestamp resolution, the snapshot length and the byte order.
//!
//! A file that ends inside a packet, or holds a damaged record, stops the stream there:
//! what came before is still used, and [`CaptureReader::stopped`] says where and why.

use std::path::{Path, PathBuf};

use crate::capture::{CaptureReader as Reader, LinkType, ReadError};

use super::link::Link;
use super::SimulateError;

/// One captured packet.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// A capture file being read.
pub struct CaptureReader {
    path: PathBuf,
    inner: Reader,
    /// The file's link type, the first interface's for pcapng.
    first_link: LinkType,
    pub linktype: u32,
    pub link: Link,
    /// True when the file's timestamps have nanosecond resolution (pcapng always keeps
    /// them as such here).
    pub nanosecond: bool,
    pub snaplen: u32,
    /// Little-endian file (pcap's byte order is kept in the output; pcapng is written
    /// little-endian).
    pub little_endian: bool,
    /// A pcapng file's first packet, read at open to learn its interface; handed out first.
    first: Option<(u64, u32, Vec<u8>)>,
    first_pending: bool,
    stopped: Option<String>,
}

/// The simulate error for a reader error met while opening or at the first packet.
fn open_error(e: ReadError) -> SimulateError {
    match e {
        ReadError::UnsupportedLink { path, number } => SimulateError::UnsupportedLink {
            path,
            linktype: number,
        },
        other => SimulateError::Read(other),
    }
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<Self, SimulateError> {
        let mut inner = Reader::open(path).map_err(open_error)?;
        let mut first = None;
        let mut stopped = None;
        if inner.header().is_none() {
            // pcapng: the first interface block comes before the first packet.
            match inner.next_frame() {
                Some(Ok(f)) => first = Some((f.ts_ns, f.orig_len, f.data.to_vec(), f.link)),
                Some(Err(e @ ReadError::Truncated { .. })) => stopped = Some(e.to_string()),
                Some(Err(e)) => return Err(open_error(e)),
                None => {}
            }
        }
        let header = inner
            .header()
            .ok_or_else(|| SimulateError::NoInterface(path.to_path_buf()))?;
        let unsupported = || SimulateError::UnsupportedLink {
            path: path.to_path_buf(),
            linktype: header.linktype,
        };
        let link = Link::from_linktype(header.linktype).ok_or_else(unsupported)?;
        let first_link = match &first {
            Some((.., l)) => *l,
            None => LinkType::from_number(header.linktype).ok_or_else(unsupported)?,
        };
        let (nanosecond, little_endian) = header.pcap.unwrap_or((true, true));
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            first_link,
            linktype: header.linktype,
            link,
            nanosecond,
            snaplen: header.snaplen,
            little_endian,
            first_pending: first.is_some(),
            first: first.map(|(ts, len, data, _)| (ts, len, data)),
            stopped,
        })
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.inner.packets() - u64::from(self.first_pending)
    }

    /// Why reading stopped before the end of the file, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// The next packet; `Ok(None)` at the end of the file or where it stops being
    /// readable. An error only for a pcapng interface of another link type.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SimulateError> {
        if std::mem::take(&mut self.first_pending) {
            let (ts_ns, orig_len, data) = self.first.as_ref().expect("a first packet");
            return Ok(Some(Frame {
                ts_ns: *ts_ns,
                orig_len: *orig_len,
                data,
            }));
        }
        if self.stopped.is_some() {
            return Ok(None);
        }
        let mixed = |other: u32| SimulateError::MixedLinks {
            path: self.path.clone(),
            first: self.linktype,
            other,
        };
        match self.inner.next_frame() {
            None => Ok(None),
            Some(Ok(f)) if f.link != self.first_link => Err(mixed(f.link.number())),
            Some(Ok(f)) => Ok(Some(Frame {
                ts_ns: f.ts_ns,
                orig_len: f.orig_len,
                data: f.data,
            })),
            Some(Err(ReadError::UnsupportedLink { number, .. })) => Err(mixed(number)),
            Some(Err(e)) => {
                self.stopped = Some(e.to_string());
                Ok(None)
            }
        }
    }
}
