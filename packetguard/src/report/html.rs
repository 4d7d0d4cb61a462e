//! Escaping and the small text formats of the page: everything that comes from data (file
//! names, rule names, feature names, addresses) goes through [`esc`].

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::events::Subject;

/// `s` safe in HTML text and in a double- or single-quoted attribute.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An integer with thin groups of three: `1 234 567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A rate or size with an SI prefix and three significant digits: `12.3 k`, `4.56 M`.
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (scaled, prefix) = match a {
        _ if a >= 1e12 => (v / 1e12, " T"),
        _ if a >= 1e9 => (v / 1e9, " G"),
        _ if a >= 1e6 => (v / 1e6, " M"),
        _ if a >= 1e3 => (v / 1e3, " k"),
        _ => (v, ""),
    };
    let digits = match scaled.abs() {
        s if s >= 100.0 || s == 0.0 => 0,
        s if s >= 10.0 => 1,
        _ => 2,
    };
    let mut s = format!("{scaled:.digits$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s + prefix
}

/// A feature value: integers as integers, others with up to four significant digits.
pub fn value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let n = count(v.abs() as u64);
        return if v < 0.0 { format!("-{n}") } else { n };
    }
    let mut s = format!("{v:.4}");
    while s.ends_with('0') {
        s.pop();
    }
    s
}

/// A timestamp in nanoseconds since the Unix epoch as UTC, to the millisecond.
pub fn utc(ts_ns: u64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(ts_ns);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A time in seconds since the Unix epoch as UTC, to the second.
pub fn utc_seconds(unix: u64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(unix);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A span of nanoseconds as seconds, minutes or hours.
pub fn span(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    match s {
        _ if s < 120.0 => format!("{s:.1} s"),
        _ if s < 7200.0 => format!("{:.1} min", s / 60.0),
        _ => format!("{:.1} h", s / 3600.0),
    }
}

/// An IANA protocol number by name, where it has a common one.
pub fn protocol(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        p => format!("protocol {p}"),
    }
}

/// What a verdict is about, as the table shows it (not yet escaped).
pub fn subject(s: &Subject) -> String {
    let mut out = String::new();
    match *s {
        Subject::Flow {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            protocol: p,
        } => {
            let port = |ip: std::net::IpAddr, port: u16| match ip {
                std::net::IpAddr::V6(_) => format!("[{ip}]:{port}"),
                std::net::IpAddr::V4(_) => format!("{ip}:{port}"),
            };
            let _ = write!(
                out,
                "{} → {} {}",
                port(src_ip, src_port),
                port(dst_ip, dst_port),
                protocol(p)
            );
        }
        Subject::Host(ip) => {
            let _ = write!(out, "destination {ip}");
        }
        Subject::Source(ip) => {
            let _ = write!(out, "source {ip}");
        }
    }
    out
}
