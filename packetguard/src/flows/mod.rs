//! Flows in userspace: orientation, merging records into rows, features, CSV.
//!
//! # Layout
//!
//! - this file: [`Endpoints`], a flow key oriented by who sent first, and clock helpers.
//! - [`merge`]: folding a flow's records into one row per flow.
//! - [`features`]: the numeric features of [`packetguard_common::features::FLOW_FEATURES`].
//! - [`context`]: the context features of flow records (prior login attempts).
//! - [`csv`]: the flow CSV written by `packetguard collect`.

pub mod context;
pub mod csv;
pub mod features;
pub mod merge;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use packetguard_common::FlowKey;

/// A flow's endpoints oriented source -> destination, the source being the endpoint that
/// sent the flow's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
}

/// The address stored in a key's four wire-order words.
pub fn addr(words: &[u32; 4], ip_version: u8) -> IpAddr {
    if ip_version == 4 {
        IpAddr::V4(Ipv4Addr::from(words[0].to_ne_bytes()))
    } else {
        let mut b = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(b))
    }
}

/// The four wire-order words of an address (the inverse of [`addr`]).
pub fn words(ip: IpAddr) -> [u32; 4] {
    match ip {
        IpAddr::V4(v4) => [u32::from_ne_bytes(v4.octets()), 0, 0, 0],
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let w = |i: usize| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        }
    }
}

impl Endpoints {
    /// Orients `key` with `fwd_is_a` from the flow's state.
    pub fn of(key: &FlowKey, fwd_is_a: u8) -> Self {
        let a = addr(&key.addr_a, key.ip_version);
        let b = addr(&key.addr_b, key.ip_version);
        if fwd_is_a != 0 {
            Self {
                src: a,
                dst: b,
                src_port: key.port_a,
                dst_port: key.port_b,
                protocol: key.protocol,
            }
        } else {
            Self {
                src: b,
                dst: a,
                src_port: key.port_b,
                dst_port: key.port_a,
                protocol: key.protocol,
            }
        }
    }
}

/// Converts `CLOCK_MONOTONIC` nanoseconds to Unix milliseconds using the current offset
/// between the two clocks.
pub fn monotonic_to_unix_ms(ts_ns: u64) -> u64 {
    let now_mono = crate::datapath::flow_table::monotonic_ns();
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    now_unix.saturating_sub(now_mono.saturating_sub(ts_ns)) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_key_words() {
        for ip in ["192.0.2.7", "2001:db8::1:2"] {
            let ip: IpAddr = ip.parse().unwrap();
            let v = if ip.is_ipv4() { 4 } else { 6 };
            assert_eq!(addr(&words(ip), v), ip);
        }
    }

    #[test]
    fn endpoints_follow_who_sent_first() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let (key, src_is_a) = FlowKey::canonical(4, 6, words(b), 80, words(a), 40000);
        assert!(!src_is_a, "192.0.2.2 sorts after 192.0.2.1");
        let e = Endpoints::of(&key, src_is_a as u8);
        assert_eq!((e.src, e.src_port, e.dst, e.dst_port), (b, 80, a, 40000));
    }
}
