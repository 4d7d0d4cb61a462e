//! Helpers of the window tests: flow starts, addresses, closing a window into rows.

use std::time::Duration;

use packetguard_common::{
    host::connection_attempt, key::IPPROTO_TCP, record::RecordKind, FlowKey, FlowStart, HostKey,
};

use super::{Closed, Role, Windows};

/// The destination most tests send to.
pub const VICTIM: u32 = 0x0a00_0001;

/// An IPv4 address key.
pub fn addr(a: u32) -> HostKey {
    HostKey {
        addr: [a, 0, 0, 0],
        ip_version: 4,
        _pad: [0; 3],
    }
}

/// The start of a flow whose first packet went from `src:sport` to `dst:dport` with `flags`.
pub fn start_to(src: u32, sport: u16, dst: u32, dport: u16, proto: u8, flags: u8) -> FlowStart {
    let (key, src_is_a) =
        FlowKey::canonical(4, proto, [src, 0, 0, 0], sport, [dst, 0, 0, 0], dport);
    FlowStart {
        kind: RecordKind::FlowStart as u32,
        len: 60,
        ts_ns: 0,
        key,
        tcp_flags: flags,
        fwd_is_a: src_is_a as u8,
        attempt: connection_attempt(proto == IPPROTO_TCP, flags, false) as u8,
        _pad: [0; 5],
    }
}

/// [`start_to`] toward [`VICTIM`].
pub fn start(src: u32, sport: u16, dport: u16, proto: u8, flags: u8) -> FlowStart {
    start_to(src, sport, VICTIM, dport, proto, flags)
}

/// Closes a window of `secs` seconds: its rows sorted by address, and the summary.
pub fn close_with<R: Role>(w: &mut Windows<R>, secs: u64) -> (Vec<(HostKey, Vec<f64>)>, Closed) {
    let mut rows = Vec::new();
    let closed = w.close(Duration::from_secs(secs), |h, r| rows.push((h, r.to_vec())));
    rows.sort_by_key(|(h, _)| *h);
    assert_eq!(closed.rows, rows.len());
    (rows, closed)
}

/// [`close_with`], rows only.
pub fn close<R: Role>(w: &mut Windows<R>, secs: u64) -> Vec<(HostKey, Vec<f64>)> {
    close_with(w, secs).0
}
