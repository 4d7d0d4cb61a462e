//! The source detector: each source address's one-second window (see
//! [`super::window::SourceWindows`]) is scored with the source model. This is what catches
//! one address scanning ports or hosts, hammering a service, or flooding with UDP, whether
//! the address is a remote attacker or this host itself, from what it sends rather than
//! from what each of its victims receives.

use packetguard_common::{features::SOURCE_FEATURES, HostKey};

use super::scorer::{Scorer, Tag};
use crate::{
    events::{Detector, Subject},
    flows::addr,
};

/// A source address: the key of the source map and of source windows. A newtype of
/// [`HostKey`] so that a source row can never be scored or reported as a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey(pub HostKey);

/// Batch scorer for source windows.
pub type SourceDetector = Scorer<SourceKey>;

impl Tag for SourceKey {
    const DETECTOR: Detector = Detector::Source;
    fn subject(&self) -> Subject {
        Subject::Source(addr(&self.0.addr, self.0.ip_version))
    }
}

/// The feature names source rows are pushed with.
pub const NAMES: &[&str] = &SOURCE_FEATURES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_key_is_reported_as_a_source_by_the_source_detector() {
        let ip = "198.51.100.7".parse().unwrap();
        let key = SourceKey(HostKey {
            addr: crate::flows::words(ip),
            ip_version: 4,
            _pad: [0; 3],
        });
        assert_eq!(SourceKey::DETECTOR, Detector::Source);
        assert_eq!(key.subject(), Subject::Source(ip));
        assert_eq!(NAMES.len(), packetguard_common::features::N_SOURCE_FEATURES);
    }
}
