//! What a verdict is about, and its one JSON shape for the live page's API and the verdicts
//! file of `analyze` (`{"kind": "flow", "src_ip": ..}`, `{"kind": "host", "host": ..}`,
//! `{"kind": "source", "source": ..}`). Event lines flatten the subject into the line
//! beside the verdict instead, with the protocol by name (`events::json`).

use std::net::IpAddr;

use serde::{Serialize, Serializer};

/// What an anomaly is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A flow, as seen by the flow detector. `dst_ip` is the host it is limited under.
    Flow {
        src_ip: IpAddr,
        dst_ip: IpAddr,
        src_port: u16,
        dst_port: u16,
        /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
        protocol: u8,
    },
    /// A destination host, as seen by the host detector.
    Host(IpAddr),
    /// A source address, as seen by the source detector: written as `"source"`.
    Source(IpAddr),
}

impl Subject {
    /// The address the rate limit applies to: a flow's destination, the host, or the
    /// source.
    pub fn host(&self) -> IpAddr {
        match *self {
            Subject::Flow { dst_ip, .. } => dst_ip,
            Subject::Host(host) => host,
            Subject::Source(source) => source,
        }
    }
}

/// The serialized form of [`Subject`]: a struct per variant, tagged with `kind`, as serde
/// cannot tag the newtype variants themselves.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Tagged {
    Flow {
        src_ip: IpAddr,
        dst_ip: IpAddr,
        src_port: u16,
        dst_port: u16,
        protocol: u8,
    },
    Host {
        host: IpAddr,
    },
    Source {
        source: IpAddr,
    },
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Subject::Flow {
                src_ip,
                dst_ip,
                src_port,
                dst_port,
                protocol,
            } => Tagged::Flow {
                src_ip,
                dst_ip,
                src_port,
                dst_port,
                protocol,
            },
            Subject::Host(host) => Tagged::Host { host },
            Subject::Source(source) => Tagged::Source { source },
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subject_has_its_tagged_shape() {
        let flow = Subject::Flow {
            src_ip: "192.0.2.1".parse().unwrap(),
            dst_ip: "2001:db8::2".parse().unwrap(),
            src_port: 40000,
            dst_port: 22,
            protocol: 6,
        };
        let json = |s: Subject| serde_json::to_string(&s).unwrap();
        assert_eq!(
            json(flow),
            r#"{"kind":"flow","src_ip":"192.0.2.1","dst_ip":"2001:db8::2","src_port":40000,"dst_port":22,"protocol":6}"#
        );
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            json(Subject::Host(ip)),
            r#"{"kind":"host","host":"198.51.100.7"}"#
        );
        assert_eq!(
            json(Subject::Source(ip)),
            r#"{"kind":"source","source":"198.51.100.7"}"#
        );
    }
}
