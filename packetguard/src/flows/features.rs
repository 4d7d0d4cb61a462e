//! Numeric flow features, in the order of [`FLOW_FEATURES`].

#[cfg(test)]
use packetguard_common::features::FLOW_FEATURES;
use packetguard_common::{
    features::{N_FLOW_FEATURES, N_FLOW_ROW_FEATURES},
    FlowStats,
};

/// The row the flow model scores ([`packetguard_common::features::FLOW_ROW_FEATURES`]):
/// every flow feature, then the context features the agent found for the flow
/// (`prior_login_attempts`, see [`super::context`]).
pub fn flow_row_features(s: &FlowStats, prior_login_attempts: u32) -> [f64; N_FLOW_ROW_FEATURES] {
    let mut row = [0.0; N_FLOW_ROW_FEATURES];
    row[..N_FLOW_FEATURES].copy_from_slice(&flow_features(s));
    row[N_FLOW_FEATURES] = f64::from(prior_login_attempts);
    row
}

/// Computes every flow feature from a flow's (merged) counters, without allocating.
pub fn flow_features(s: &FlowStats) -> [f64; N_FLOW_FEATURES] {
    let n = s.packets() as f64;
    let mean_len = if n > 0.0 { s.len_sum as f64 / n } else { 0.0 };
    let var_len = if n > 0.0 {
        (s.len_sum_sq as f64 / n - mean_len * mean_len).max(0.0)
    } else {
        0.0
    };
    let k = s.iat_count as f64;
    let (iat_mean, iat_std, iat_min) = if s.iat_count > 0 {
        let mean_ns = s.iat_sum_ns as f64 / k;
        let mean_us = mean_ns / 1000.0;
        let var_us2 = (s.iat_sum_sq_us2 as f64 / k - mean_us * mean_us).max(0.0);
        (mean_ns, var_us2.sqrt() * 1000.0, s.iat_min_ns as f64)
    } else {
        (0.0, 0.0, 0.0)
    };
    let f = &s.tcp_flag_counts;
    [
        s.last_seen_ns.saturating_sub(s.first_seen_ns) as f64,
        s.fwd_packets as f64,
        s.bwd_packets as f64,
        s.fwd_bytes as f64,
        s.bwd_bytes as f64,
        if n > 0.0 { s.len_min as f64 } else { 0.0 },
        s.len_max as f64,
        mean_len,
        var_len.sqrt(),
        iat_mean,
        iat_std,
        iat_min,
        s.iat_max_ns as f64,
        f[0] as f64,
        f[1] as f64,
        f[2] as f64,
        f[3] as f64,
        f[4] as f64,
        f[5] as f64,
        f[6] as f64,
        f[7] as f64,
        s.init_win_fwd as f64,
        s.init_win_bwd as f64,
        if n > 0.0 { s.ttl_min as f64 } else { 0.0 },
        s.ttl_max as f64,
        s.payload_packets as f64,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::PacketMeta;

    #[test]
    fn features_of_three_packets() {
        let mut s = FlowStats::new_flow(1_000, 1);
        for (ts, len, fwd) in [
            (1_000u64, 100u32, true),
            (3_000, 200, false),
            (7_000, 300, true),
        ] {
            let m = PacketMeta {
                ts_ns: ts,
                len,
                ttl: 64,
                is_tcp: 1,
                tcp_flags: 0x10,
                ..Default::default()
            };
            s.observe(&m, fwd);
            s.count(fwd, len);
        }
        let f = flow_features(&s);
        let get = |name: &str| f[FLOW_FEATURES.iter().position(|n| *n == name).unwrap()];
        assert_eq!(get("duration_ns"), 6_000.0);
        assert_eq!(get("fwd_packets"), 2.0);
        assert_eq!(get("bwd_bytes"), 200.0);
        assert_eq!(get("pkt_len_mean"), 200.0);
        assert!((get("pkt_len_std") - (20_000.0f64 / 3.0).sqrt()).abs() < 1e-9);
        assert_eq!(get("iat_mean_ns"), 3_000.0);
        assert_eq!(get("iat_std_ns"), 1_000.0);
        assert_eq!(get("iat_min_ns"), 2_000.0);
        assert_eq!(get("ack_count"), 3.0);
        assert_eq!(get("ttl_min"), 64.0);
    }
}
