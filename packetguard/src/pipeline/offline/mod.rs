//! Offline sources: files read to their end on their own time, yielding what the live
//! source yields. The input type is told from the content, not the name: the pcap and
//! pcapng magic numbers, or the header line of a CSV.
//!
//! - [`capture_file`]: pcap and pcapng captures, through [`crate::capture`].
//! - [`flow_csv`]: the flow CSV `collect` writes.
//! - [`packet_list`]: Wireshark's packet-list CSV export.
//! - [`packets`]: listed packets folded by the capture reader's flow table on capture time.
//! - [`timeline`]: the seconds of capture time.
//! - [`csv_line`]: splitting a CSV line.

pub mod capture_file;
pub mod csv_line;
pub mod flow_csv;
pub mod packet_list;
pub mod packets;
pub mod timeline;

#[cfg(test)]
mod test_stage;

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    time::Duration,
};

pub use timeline::SECOND_NS;

use super::source::OfflineSource;

/// Errors reading an offline input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: not a pcap or pcapng capture, a flow CSV or a Wireshark packet-list CSV (its first line is {first:?}; a CSV must start with the header `collect` writes or {header})",
        header = packet_list::HEADER
    )]
    Unknown { path: PathBuf, first: String },
    #[error(transparent)]
    Capture(#[from] crate::capture::ReadError),
    #[error("{path} line {line}: bad row: {what}")]
    Row {
        path: PathBuf,
        line: u64,
        what: String,
    },
}

/// What a file holds, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Pcap,
    PcapNg,
    FlowCsv,
    PacketList,
}

/// pcap magic numbers (microsecond and nanosecond, either byte order) and pcapng's
/// section header block type.
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Tells what `head` (the file's first bytes, at least its first line when it is text)
/// holds.
pub fn detect(head: &[u8]) -> Option<InputKind> {
    let magic: Option<[u8; 4]> = head.get(..4).and_then(|m| m.try_into().ok());
    match magic {
        Some(m) if PCAP_MAGICS.contains(&m) => return Some(InputKind::Pcap),
        Some(m) if m == PCAPNG_MAGIC => return Some(InputKind::PcapNg),
        _ => {}
    }
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    if line == crate::flows::csv::header() {
        Some(InputKind::FlowCsv)
    } else if line == packet_list::HEADER {
        Some(InputKind::PacketList)
    } else {
        None
    }
}

/// How offline inputs fold packets into flows: the live agent's settings, so a capture
/// gives the flows the agent would.
#[derive(Clone, Copy, Debug)]
pub struct FoldSettings {
    pub idle_timeout: Duration,
    pub active_timeout: Duration,
    /// The flow table's cap (the kernel flow map's size).
    pub flow_entries: u32,
}

/// Opens `path` as the source its content says it is.
pub fn open(path: &Path, fold: FoldSettings) -> Result<Box<dyn OfflineSource>, InputError> {
    let read = |source| InputError::Read {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(read)?);
    let head = reader.fill_buf().map_err(read)?.to_vec();
    let kind = detect(&head).ok_or_else(|| InputError::Unknown {
        path: path.to_owned(),
        first: String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or(&[]))
            .chars()
            .take(80)
            .collect(),
    })?;
    match kind {
        InputKind::Pcap | InputKind::PcapNg => {
            drop(reader);
            Ok(Box::new(capture_file::CaptureFile::open(
                path,
                crate::capture::OfflineSettings {
                    flow_entries: fold.flow_entries,
                    active_timeout: fold.active_timeout,
                    idle_timeout: fold.idle_timeout,
                },
            )?))
        }
        InputKind::FlowCsv | InputKind::PacketList => {
            let mut header = String::new();
            reader.read_line(&mut header).map_err(read)?;
            Ok(match kind {
                InputKind::FlowCsv => Box::new(flow_csv::FlowCsv::new(path, reader)),
                _ => Box::new(packet_list::PacketList::new(
                    path,
                    reader,
                    packets::PacketFolder::new(
                        fold.idle_timeout,
                        fold.active_timeout,
                        fold.flow_entries,
                    ),
                )),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_told_by_content() {
        assert_eq!(
            detect(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
            Some(InputKind::Pcap)
        );
        assert_eq!(detect(&[0xa1, 0xb2, 0x3c, 0x4d]), Some(InputKind::Pcap));
        assert_eq!(
            detect(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0]),
            Some(InputKind::PcapNg)
        );
        let flow = format!("{}\r\n1,2", crate::flows::csv::header());
        assert_eq!(detect(flow.as_bytes()), Some(InputKind::FlowCsv));
        let list = format!("\u{feff}{}\n\"1\"", packet_list::HEADER);
        assert_eq!(detect(list.as_bytes()), Some(InputKind::PacketList));
        assert_eq!(detect(b"No.,Time,Source\n"), None);
        assert_eq!(detect(b""), None);
    }
}
