//! Offline traffic: capture files turned into the inputs the live pipeline consumes.
//!
//! A capture read here gives exactly the flows, flow starts and per-address window totals
//! the live kernel path gives for the same packets: the parser has the kernel program's
//! rules, and flows are folded with the same `packetguard-common` arithmetic and the same
//! decisions, on capture time instead of the kernel clock.
//!
//! # Layout
//!
//! - [`reader`]: pcap and pcapng files (via `pcap-file`), packet by packet, with where a
//!   truncated file stopped; [`buffer`] is its read buffer.
//! - [`link`]: the link types read (Ethernet, Linux cooked SLL and SLL2, raw IP) and what
//!   length a packet of each counts.
//! - [`parse`]: the userspace parser, equal to the kernel's.
//! - [`flows`]: the offline flow table, the kernel's decisions on capture time.
//! - [`source`]: [`OfflineSource`], driving it all on capture time into a [`Consumer`].
//! - [`bench`]: a throughput measurement the benchmark calls.

pub mod bench;
mod buffer;
pub mod flows;
pub mod link;
pub mod parse;
pub mod reader;
pub mod source;

pub use flows::{FlowCounts, HostTotals};
pub use link::LinkType;
pub use reader::{CaptureReader, Frame, ReadError};
pub use source::{Consumer, Counts, OfflineSettings, OfflineSource, Progress};
#[cfg(test)]
mod tests;
