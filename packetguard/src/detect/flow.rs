//! The flow detector: every flow record the kernel (or idle expiry) produces is scored with
//! the flow model.

use packetguard_common::{
    features::{FLOW_ROW_FEATURES, N_FLOW_ROW_FEATURES},
    FlowRecord,
};

use super::scorer::{Scorer, Tag};
use crate::{
    events::{Detector, Subject},
    flows::{features::flow_row_features, Endpoints},
};

/// Batch scorer for flow records.
pub type FlowDetector = Scorer<Endpoints>;

impl Tag for Endpoints {
    const DETECTOR: Detector = Detector::Flow;
    fn subject(&self) -> Subject {
        Subject::Flow {
            src_ip: self.src,
            dst_ip: self.dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            protocol: self.protocol,
        }
    }
}

/// The feature names flow rows are pushed with: every flow feature, then the context
/// features. A model may name any of them.
pub const NAMES: &[&str] = &FLOW_ROW_FEATURES;

/// A flow record's endpoints and its row (every flow feature, then the context the agent
/// found for it: `prior_login_attempts`), ready for [`Scorer::push`].
pub fn flow_row(
    rec: &FlowRecord,
    prior_login_attempts: u32,
) -> (Endpoints, [f64; N_FLOW_ROW_FEATURES]) {
    (
        Endpoints::of(&rec.key, rec.stats.fwd_is_a),
        flow_row_features(&rec.stats, prior_login_attempts),
    )
}
