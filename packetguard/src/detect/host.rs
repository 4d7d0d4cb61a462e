//! The host detector: each destination's one-second window (see
//! [`super::window::DestinationWindows`]) is scored with the host model. This is what
//! catches a SYN flood from many sources or a port scan, where every single flow looks
//! small. It keeps the name `host` (metrics, events, `host.pgm`) from before the source
//! detector existed; its rows are destination windows.

use packetguard_common::{features::HOST_FEATURES, HostKey};

use super::scorer::{Scorer, Tag};
use crate::{
    events::{Detector, Subject},
    flows::addr,
};

/// Batch scorer for destination (host) windows.
pub type HostDetector = Scorer<HostKey>;

impl Tag for HostKey {
    const DETECTOR: Detector = Detector::Host;
    fn subject(&self) -> Subject {
        Subject::Host(addr(&self.addr, self.ip_version))
    }
}

/// The feature names host rows are pushed with.
pub const NAMES: &[&str] = &HOST_FEATURES;
