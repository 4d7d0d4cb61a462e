//! Wireshark's packet-list CSV export (File > Export Packet Dissections > As CSV), header
//! exactly `"No.","Time","Source","Destination","Protocol","Length","Info"`.
//!
//! A row gives a packet's time, addresses, protocol and frame length. Ports, TCP flags, the
//! TCP window and the payload length come from `Info` where Wireshark prints the transport
//! header (`443 → 51234 [SYN, ACK] Seq=0 Win=65535 Len=0`, `51234 → 53 Len=32`); a row of
//! an application protocol (`TLSv1.3`, `DNS`, ...) has none, and takes the ports its
//! conversation last showed. TTLs are never there. Rows whose addresses are not IP (ARP,
//! resolved names) are skipped and counted.

use std::{
    collections::HashMap,
    io::BufRead,
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::Result;
use packetguard_common::{
    host::connection_attempt,
    key::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP},
    record::{TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG},
    PacketMeta,
};

use super::{
    csv_line::fields,
    packets::{Packet, PacketFolder},
    InputError,
};
use crate::pipeline::source::{OfflineSource, SourceStats, Stage};

/// The header line of the export.
pub const HEADER: &str = r#""No.","Time","Source","Destination","Protocol","Length","Info""#;

/// Rows of one export.
pub struct PacketList<R> {
    path: PathBuf,
    lines: R,
    folder: PacketFolder,
    /// Ports each (source, destination, protocol) last showed, for rows without them.
    ports: HashMap<(IpAddr, IpAddr, u8), (u16, u16)>,
    /// Rows without a transport header in `Info` (flags, window and payload unknown).
    pub without_header: u64,
    /// Rows that are not IP packets.
    pub skipped: u64,
}

impl<R: BufRead> PacketList<R> {
    /// `lines` positioned after the header.
    pub fn new(path: &Path, lines: R, folder: PacketFolder) -> Self {
        Self {
            path: path.to_owned(),
            lines,
            folder,
            ports: HashMap::new(),
            without_header: 0,
            skipped: 0,
        }
    }

    fn bad(&self, line: u64, what: impl Into<String>) -> InputError {
        InputError::Row {
            path: self.path.clone(),
            line,
            what: what.into(),
        }
    }
}

/// The transport protocol behind a `Protocol` column value.
fn transport(protocol: &str) -> Option<u8> {
    const UDP_APPS: &[&str] = &[
        "UDP",
        "DNS",
        "MDNS",
        "LLMNR",
        "NBNS",
        "QUIC",
        "NTP",
        "SNMP",
        "SSDP",
        "DHCP",
        "DHCPv6",
        "TFTP",
        "RTP",
        "RTCP",
        "SYSLOG",
        "CLDAP",
        "STUN",
        "WireGuard",
        "OpenVPN",
        "GQUIC",
    ];
    match protocol {
        "TCP" => Some(IPPROTO_TCP),
        "ICMP" => Some(IPPROTO_ICMP),
        "ICMPv6" => Some(IPPROTO_ICMPV6),
        p if UDP_APPS.contains(&p) => Some(IPPROTO_UDP),
        "ARP" | "LLC" | "STP" | "LLDP" | "CDP" | "EAPOL" => None,
        // Everything else Wireshark names over IP is a TCP application (HTTP, TLS, SSH...).
        _ => Some(IPPROTO_TCP),
    }
}

/// What `Info` says of the transport header: ports, flags, window, payload length.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InfoHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub flags: u8,
    pub window: Option<u16>,
    pub payload: Option<u32>,
}

/// Reads `443 → 51234 [SYN, ACK] Seq=0 Win=65535 Len=0` (or `>` for the arrow).
pub fn parse_info(info: &str) -> Option<InfoHeader> {
    let info = info.trim_start();
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = digits(info);
    let src_port: u16 = info[..n].parse().ok()?;
    let rest = info[n..].trim_start();
    let rest = rest
        .strip_prefix('→')
        .or_else(|| rest.strip_prefix('>'))?
        .trim_start();
    let n = digits(rest);
    let dst_port: u16 = rest[..n].parse().ok()?;
    let mut rest = rest[n..].trim_start();
    let mut flags = 0;
    if let Some(inner) = rest.strip_prefix('[') {
        let end = inner.find(']')?;
        for name in inner[..end].split(',').map(str::trim) {
            flags |= match name {
                "FIN" => TCP_FIN,
                "SYN" => TCP_SYN,
                "RST" => TCP_RST,
                "PSH" => TCP_PSH,
                "ACK" => TCP_ACK,
                "URG" => TCP_URG,
                "ECE" => TCP_ECE,
                "CWR" => TCP_CWR,
                _ => 0,
            };
        }
        rest = &inner[end + 1..];
    }
    let value = |key: &str| {
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
    };
    Some(InfoHeader {
        src_port,
        dst_port,
        flags,
        window: value("Win=").and_then(|w: u32| u16::try_from(w).ok()),
        payload: value("Len="),
    })
}

/// Plain seconds from this value on are seconds since the epoch (2001-09-09 on); below it,
/// seconds since the capture's start (Wireshark's default `Time` column).
const EPOCH_SECONDS_FROM: f64 = 1e9;

/// Where a capture timed from its start is placed: one second after the epoch, since a
/// time of 0 means "no packet yet" to the flow arithmetic.
const RELATIVE_BASE_NS: u64 = 1_000_000_000;

/// Reads the `Time` column: seconds since the capture's start (placed at
/// [`RELATIVE_BASE_NS`]) or since the epoch, or `YYYY-MM-DD HH:MM:SS[.fraction]` in UTC.
/// Nanoseconds since the Unix epoch.
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        let ns = (secs * 1e9).round() as u64;
        return Some(if secs < EPOCH_SECONDS_FROM {
            ns + RELATIVE_BASE_NS
        } else {
            ns
        });
    }
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let frac_ns = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32)
    };
    // Days since the epoch (Howard Hinnant's civil-from-days inverse).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(((days * 86_400 + h * 3600 + min * 60 + s) * 1_000_000_000) + frac_ns)
}

impl<R: BufRead> OfflineSource for PacketList<R> {
    fn kind(&self) -> &'static str {
        "packet list"
    }

    fn missing_features(&self) -> Vec<&'static str> {
        let mut missing = vec!["ttl_min", "ttl_max"];
        if self.without_header > 0 {
            // Rows without a transport header in Info count no flags, window or payload.
            missing.extend(["tcp flag counts (partly)", "init_win (partly)"]);
            missing.push("payload_packets (partly)");
        }
        missing
    }

    fn run(
        &mut self,
        stage: &mut dyn Stage,
        progress: &mut dyn FnMut(SourceStats),
    ) -> Result<SourceStats> {
        let mut stats = SourceStats::default();
        let mut line_no = 1u64;
        let mut line = String::new();
        loop {
            line.clear();
            if self
                .lines
                .read_line(&mut line)
                .map_err(|source| InputError::Read {
                    path: self.path.clone(),
                    source,
                })?
                == 0
            {
                break;
            }
            line_no += 1;
            let text = line.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                continue;
            }
            let f = fields(text).ok_or_else(|| self.bad(line_no, "an unterminated quote"))?;
            if f.len() != 7 {
                return Err(self
                    .bad(line_no, format!("{} fields, not 7", f.len()))
                    .into());
            }
            let ts =
                parse_time(&f[1]).ok_or_else(|| self.bad(line_no, format!("time {:?}", f[1])))?;
            let len: u32 = f[5]
                .trim()
                .parse()
                .map_err(|_| self.bad(line_no, format!("length {:?}", f[5])))?;
            // Every listed packet is traffic, IP or not (ARP), as a capture's frames are.
            stage.traffic(ts, 1, u64::from(len));
            let (Ok(src), Ok(dst), Some(protocol)) = (
                f[2].trim().parse::<IpAddr>(),
                f[3].trim().parse::<IpAddr>(),
                transport(f[4].trim()),
            ) else {
                self.skipped += 1;
                continue;
            };
            if src.is_ipv4() != dst.is_ipv4() {
                self.skipped += 1;
                continue;
            }
            let has_ports = matches!(protocol, IPPROTO_TCP | IPPROTO_UDP);
            let header = has_ports.then(|| parse_info(&f[6])).flatten();
            let (src_port, dst_port) = match &header {
                Some(h) => {
                    self.ports
                        .insert((src, dst, protocol), (h.src_port, h.dst_port));
                    (h.src_port, h.dst_port)
                }
                None if has_ports => {
                    self.without_header += 1;
                    self.ports
                        .get(&(src, dst, protocol))
                        .copied()
                        .unwrap_or((0, 0))
                }
                None => (0, 0),
            };
            let is_tcp = protocol == IPPROTO_TCP && header.is_some();
            let tcp_flags = header.as_ref().map_or(0, |h| h.flags);
            // Packet lists carry no fragment offsets: no first fragment is cut short.
            let attempt = connection_attempt(is_tcp, tcp_flags, false);
            let meta = PacketMeta {
                ts_ns: ts,
                len,
                payload_len: header.as_ref().and_then(|h| h.payload).unwrap_or(0),
                window: header.as_ref().and_then(|h| h.window).unwrap_or(0),
                tcp_flags,
                ttl: 0,
                is_tcp: u8::from(is_tcp),
                attempt: u8::from(attempt),
                _pad: [0; 2],
            };
            self.folder.packet(
                stage,
                &Packet {
                    src,
                    dst,
                    protocol,
                    src_port,
                    dst_port,
                    meta,
                },
            )?;
            stats.read += 1;
            stats.flows = self.folder.flows();
            progress(stats);
        }
        self.folder.finish(stage)?;
        stats.flows = self.folder.flows();
        Ok(stats)
    }
}

#[cfg(test)]
#[path = "packet_list_tests.rs"]
mod tests;
