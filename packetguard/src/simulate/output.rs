//! The labelled capture: a classic pcap in the input's link type, byte order and
//! timestamp resolution (nanoseconds for a pcapng input).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use pcap_file::pcap::{PcapHeader, PcapWriter, RawPcapPacket};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::capture::{CaptureReader, Frame};
use super::SimulateError;

/// A pcap file being written.
pub struct PcapOut {
    path: PathBuf,
    writer: PcapWriter<BufWriter<File>>,
    nanosecond: bool,
}

impl PcapOut {
    /// Creates `path` with a header matching `input`.
    pub fn create(path: &Path, input: &CaptureReader) -> Result<Self, SimulateError> {
        let file = File::create(path).map_err(|source| SimulateError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let header = PcapHeader {
            datalink: DataLink::from(input.linktype),
            ts_resolution: if input.nanosecond {
                TsResolution::NanoSecond
            } else {
                TsResolution::MicroSecond
            },
            endianness: if input.little_endian {
                Endianness::Little
            } else {
                Endianness::Big
            },
            snaplen: input.snaplen.max(65535),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(BufWriter::new(file), header)
            .map_err(|e| pcap_write(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            nanosecond: input.nanosecond,
        })
    }

    /// Nanoseconds per tick of the file's clock.
    pub fn quantum_ns(&self) -> u64 {
        if self.nanosecond {
            1
        } else {
            1000
        }
    }

    /// Writes a captured frame as it was.
    pub fn write_frame(&mut self, f: &Frame<'_>) -> Result<(), SimulateError> {
        self.write(f.ts_ns, f.orig_len, f.data)
    }

    /// Writes a frame; its captured length is its whole length.
    pub fn write(&mut self, ts_ns: u64, orig_len: u32, data: &[u8]) -> Result<(), SimulateError> {
        let secs = ts_ns / 1_000_000_000;
        let ns = (ts_ns % 1_000_000_000) as u32;
        let packet = RawPcapPacket {
            ts_sec: u32::try_from(secs).map_err(|_| SimulateError::TimeRange(ts_ns))?,
            ts_frac: if self.nanosecond { ns } else { ns / 1000 },
            incl_len: data.len() as u32,
            orig_len,
            data: std::borrow::Cow::Borrowed(data),
        };
        self.writer
            .write_raw_packet(&packet)
            .map_err(|e| pcap_write(&self.path, e))?;
        Ok(())
    }

    pub fn finish(self) -> Result<(), SimulateError> {
        let path = self.path;
        self.writer
            .into_writer()
            .flush()
            .map_err(|source| SimulateError::Write { path, source })
    }
}

fn pcap_write(path: &Path, e: pcap_file::PcapError) -> SimulateError {
    let source = match e {
        pcap_file::PcapError::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    };
    SimulateError::Write {
        path: path.to_path_buf(),
        source,
    }
}
