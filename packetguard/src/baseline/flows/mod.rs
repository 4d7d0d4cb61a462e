//! Generated normal conversations, simulated packet by packet through
//! [`FlowStats::observe`](packetguard_common::FlowStats::observe), the arithmetic the XDP
//! and TC programs run for every packet, and cut into records where the kernel and the
//! agent cut them.
//!
//! A conversation is drawn from the profiles below and seen from one of the agent's
//! places ([`View`]): an end host in `both` mode as client or as server (its own packets
//! unsegmented at TC egress, what it receives as wire frames), a router seeing both
//! directions, or one direction only (`ingress` on a router's interface). Every record
//! the agent would score is a row: the flow up to its end, the tail after it (the last ACK
//! of a close), the pieces of long flows (active timeout) and of flows that paused longer
//! than the idle timeout.
//!
//! - [`sim`]: the flow state and where records are cut;
//! - [`tcp`]: handshakes, writes and their ACKs, closes, refused and unanswered attempts;
//! - [`apps`]: web fetches, bulk transfers, control connections, SSH;
//! - [`datagrams`]: DNS, single exchanges, streams, ping, link-local traffic, ICMP errors.

mod apps;
mod datagrams;
mod sim;
mod tcp;

use packetguard_common::features::N_FLOW_ROW_FEATURES;
use rand::{rngs::SmallRng, Rng};

use self::sim::{Sim, View};

/// One profile: draws a conversation seen from a view.
type Profile = fn(&mut SmallRng, View) -> Sim;

/// Profiles and their shares, per thousand conversations.
///
/// Connection attempts that fail are ordinary (a client trying a closed or filtered port)
/// but rare, so that each probe of a scan scores above ordinary flows. Bulk transfers are
/// one conversation in seven: each is a point in a wide space (size, rate, direction,
/// offload), and with fewer of them an ordinary transfer, such as a 5 MB iperf3 run seen
/// from both ends, scored above the half-open flows of a SYN flood.
const PROFILES: [(u32, Profile); 12] = [
    (280, apps::http),
    (140, apps::bulk),
    (45, apps::control),
    (45, apps::ssh),
    (2, tcp::refused),
    (2, tcp::unanswered),
    (190, datagrams::dns),
    (56, datagrams::exchange),
    (76, datagrams::stream),
    (76, datagrams::echo),
    (60, datagrams::link_local),
    (28, datagrams::icmp_error),
];

/// The records of one conversation drawn from the normal profiles (at least one).
pub fn generate(rng: &mut SmallRng) -> Vec<[f64; N_FLOW_ROW_FEATURES]> {
    loop {
        let view = View::draw(rng);
        let mut pick = rng.random_range(0..1000);
        let profile = PROFILES
            .iter()
            .find_map(|&(share, f)| {
                if pick < share {
                    Some(f)
                } else {
                    pick -= share;
                    None
                }
            })
            .expect("the shares add up to 1000");
        let rows = profile(rng, view).finish();
        // A one-way exchange seen from its silent side has no packets: draw again.
        if !rows.is_empty() {
            return rows;
        }
    }
}

/// The records of one generated SSH conversation, for tests of the shipped flow model.
#[cfg(test)]
pub(crate) fn ssh_conversation(rng: &mut SmallRng) -> Vec<[f64; N_FLOW_ROW_FEATURES]> {
    let view = View::draw(rng);
    apps::ssh(rng, view).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_common::features::flow_feature_index;
    use rand::SeedableRng;

    #[test]
    fn the_shares_add_up_to_a_thousand() {
        assert_eq!(PROFILES.iter().map(|p| p.0).sum::<u32>(), 1000);
    }

    #[test]
    fn generated_flows_are_consistent_and_reproducible() {
        let mut a = SmallRng::seed_from_u64(3);
        let mut b = SmallRng::seed_from_u64(3);
        let f = |name: &str| flow_feature_index(name).unwrap();
        let (fwd, bwd, syn, rst) = (
            f("fwd_packets"),
            f("bwd_packets"),
            f("syn_count"),
            f("rst_count"),
        );
        let (mut tails, mut resets) = (0, 0);
        for _ in 0..500 {
            let rows = generate(&mut a);
            assert_eq!(rows, generate(&mut b));
            for row in &rows {
                assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0), "{row:?}");
                assert!(row[fwd] + row[bwd] >= 1.0, "a record has packets: {row:?}");
                assert!(row[syn] <= row[fwd] + row[bwd]);
                tails += (row[fwd] == 0.0) as u32;
                resets += (row[rst] > 0.0) as u32;
            }
        }
        // Tails (records of the packets after a flow's end) and resets are part of normal
        // traffic: the model must know them.
        assert!(tails > 20, "{tails} tails");
        assert!(resets > 5, "{resets} resets");
    }
}
