//! The packet sample CSV of `collect --samples-out`.

use std::io::{self, Write};

use packetguard_common::PacketSample;

use crate::flows::Endpoints;

/// The header line of the samples CSV.
pub const HEADER: &str =
    "ts_unix_ms,src_ip,dst_ip,src_port,dst_port,protocol,direction,len,payload_len,tcp_flags,ttl";

/// Writes packet samples as CSV rows.
pub struct SampleCsv<W: Write> {
    out: W,
}

impl<W: Write> SampleCsv<W> {
    /// Writes the header.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{HEADER}")?;
        Ok(Self { out })
    }

    /// One sample; `ts_unix_ms` is its time on the source's clock.
    pub fn write(&mut self, s: &PacketSample, ts_unix_ms: u64) -> io::Result<()> {
        let e = Endpoints::of(&s.key, s.src_is_a);
        writeln!(
            self.out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            ts_unix_ms,
            e.src,
            e.dst,
            e.src_port,
            e.dst_port,
            e.protocol,
            if s.direction == 0 { "fwd" } else { "bwd" },
            s.len,
            s.payload_len,
            s.tcp_flags,
            s.ttl
        )
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
