//! Feature names and their order, defined once for the live path, pcap replay and CSV files.
//!
//! The flow CSV written by `packetguard collect` has [`FLOW_KEY_COLUMNS`], then
//! [`FLOW_META_COLUMNS`], then [`FLOW_FEATURES`]. Models name the features they were trained
//! on (a subset of these, in a stored order) so a CSV only needs those columns.

/// Identify the flow; never used as model features.
pub const FLOW_KEY_COLUMNS: [&str; 5] = ["src_ip", "dst_ip", "src_port", "dst_port", "protocol"];

/// Describe the row rather than the traffic: when the flow started, why its last record was
/// emitted and how many kernel records were merged into it.
/// `start_unix_ms` is the wall-clock time of the flow's first packet (milliseconds since
/// the Unix epoch), which is what labels attack windows in generated data.
pub const FLOW_META_COLUMNS: [&str; 3] = ["start_unix_ms", "end_reason", "records"];

/// Numeric per-flow features. All are non-negative. Lengths and bytes are frame bytes as
/// XDP sees them (Ethernet header included). `fwd` is the direction of the flow's first
/// packet.
pub const FLOW_FEATURES: [&str; 26] = [
    "duration_ns",
    "fwd_packets",
    "bwd_packets",
    "fwd_bytes",
    "bwd_bytes",
    "pkt_len_min",
    "pkt_len_max",
    "pkt_len_mean",
    "pkt_len_std",
    "iat_mean_ns",
    "iat_std_ns",
    "iat_min_ns",
    "iat_max_ns",
    "fin_count",
    "syn_count",
    "rst_count",
    "psh_count",
    "ack_count",
    "urg_count",
    "ece_count",
    "cwr_count",
    "init_win_fwd",
    "init_win_bwd",
    "ttl_min",
    "ttl_max",
    "payload_packets",
];

/// Number of flow features.
pub const N_FLOW_FEATURES: usize = FLOW_FEATURES.len();

/// Features of a flow record that come from the flows around it rather than from its own
/// counters; the agent adds them, appended after [`FLOW_FEATURES`], to the rows the flow
/// model scores ([`FLOW_ROW_FEATURES`]).
///
/// `prior_login_attempts`: for a TCP connection opened to a login service port
/// ([`crate::login::LOGIN_PORTS`]), the connection attempts its opener made to the same
/// address and port in the [`crate::login::PRIOR_LOGIN_WINDOW_NS`] before it (0 for every
/// other flow, and for every record of a flow the same value). One failed password is a
/// short connection like any other; a password guesser's is one of many to one server.
pub const FLOW_CONTEXT_FEATURES: [&str; 1] = ["prior_login_attempts"];

/// Number of flow features and context features together.
pub const N_FLOW_ROW_FEATURES: usize = N_FLOW_FEATURES + FLOW_CONTEXT_FEATURES.len();

/// The rows the flow detector scores: [`FLOW_FEATURES`], then [`FLOW_CONTEXT_FEATURES`].
pub const FLOW_ROW_FEATURES: [&str; N_FLOW_ROW_FEATURES] = {
    let mut all = [""; N_FLOW_ROW_FEATURES];
    let mut i = 0;
    while i < N_FLOW_FEATURES {
        all[i] = FLOW_FEATURES[i];
        i += 1;
    }
    while i < N_FLOW_ROW_FEATURES {
        all[i] = FLOW_CONTEXT_FEATURES[i - N_FLOW_FEATURES];
        i += 1;
    }
    all
};

/// Per-destination features over one-second windows, scored by the host model.
///
/// Appended after the first seven: `login_attempts_per_s`, the TCP connections opened
/// toward the address to a login service port ([`crate::login::LOGIN_PORTS`]), per
/// second, and `repeated_login_attempts_per_s`, those of them from a source that had
/// already made one in the window. A password guesser's connections are otherwise those
/// of any client making short connections to one server.
pub const HOST_FEATURES: [&str; 9] = [
    "packets_per_s",
    "bytes_per_s",
    "new_flows_per_s",
    "distinct_sources",
    "distinct_dst_ports",
    "syn_without_ack_ratio",
    "mean_packet_size",
    "login_attempts_per_s",
    "repeated_login_attempts_per_s",
];

/// Number of host features.
pub const N_HOST_FEATURES: usize = HOST_FEATURES.len();

/// Per-source features over one-second windows, scored by the source model: what one
/// address sent (packets, bytes, connection attempts) and how those attempts fared.
/// `failed_attempt_ratio` is the share of the flows it opened in the window that got no
/// answer other than a reset (RST back, ICMP unreachable, or silence).
///
/// Appended after the first seven (stored models name their features, so the order of
/// existing ones never changes): `failed_attempts_per_s`, the same failures as a rate, so
/// that many failed attempts (a scan) stand apart from a few (a client retrying a closed
/// port) on one axis; and `non_tcp_packets_per_s` (packets minus TCP packets), so that a
/// UDP or ICMP stream sent at a rate only TCP bulk transfers reach stands apart too.
/// Then `login_attempts_per_s`: the TCP connections the address opened to a login
/// service port ([`crate::login::LOGIN_PORTS`]), per second; and
/// `repeated_login_attempts_per_s`: those of them to a destination it had already logged
/// in to in the window. A password guesser opens as many short connections to one server
/// as a web client does, and as many logins as an Ansible run reaching that many hosts;
/// only repeating them to one server sets it apart.
pub const SOURCE_FEATURES: [&str; 11] = [
    "packets_per_s",
    "bytes_per_s",
    "new_flows_per_s",
    "distinct_destinations",
    "distinct_dst_ports",
    "syn_without_ack_ratio",
    "failed_attempt_ratio",
    "failed_attempts_per_s",
    "non_tcp_packets_per_s",
    "login_attempts_per_s",
    "repeated_login_attempts_per_s",
];

/// Number of source features.
pub const N_SOURCE_FEATURES: usize = SOURCE_FEATURES.len();

/// Position of a flow feature by name.
pub fn flow_feature_index(name: &str) -> Option<usize> {
    FLOW_FEATURES.iter().position(|f| *f == name)
}

/// Position of a flow row feature (a flow feature or a context feature) by name.
pub fn flow_row_feature_index(name: &str) -> Option<usize> {
    FLOW_ROW_FEATURES.iter().position(|f| *f == name)
}

/// Position of a host feature by name.
pub fn host_feature_index(name: &str) -> Option<usize> {
    HOST_FEATURES.iter().position(|f| *f == name)
}

/// Position of a source feature by name.
pub fn source_feature_index(name: &str) -> Option<usize> {
    SOURCE_FEATURES.iter().position(|f| *f == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_rows_are_the_flow_features_then_the_context_features() {
        assert_eq!(FLOW_ROW_FEATURES[..N_FLOW_FEATURES], FLOW_FEATURES);
        assert_eq!(FLOW_ROW_FEATURES[N_FLOW_FEATURES..], FLOW_CONTEXT_FEATURES);
        assert_eq!(flow_row_feature_index("duration_ns"), Some(0));
        assert_eq!(
            flow_row_feature_index("prior_login_attempts"),
            Some(N_FLOW_FEATURES)
        );
        assert_eq!(flow_feature_index("prior_login_attempts"), None);
    }
}
