//! The link types a capture may use, and how each maps onto what the kernel program sees.
//!
//! The kernel program only ever sees Ethernet frames (XDP and TC on an Ethernet or veth
//! interface), and a flow's lengths and bytes are whole Ethernet frames, FCS excluded. A
//! capture of another link type carries the same IP packets behind another header, so the
//! offline parser reads the IP packet where that link type puts it and counts the length
//! the same packet has as an Ethernet frame on the wire:
//!
//! | link type | header | IP starts at | length counted |
//! | --- | --- | --- | --- |
//! | Ethernet (1) | 14 bytes, EtherType at 12 | 14 (after VLAN tags) | the frame |
//! | Linux cooked SLL (113) | 16 bytes, protocol at 14 | 16 (after VLAN tags) | frame − 16 + 14 |
//! | Linux cooked SLL2 (276) | 20 bytes, protocol at 0 | 20 (after VLAN tags) | frame − 20 + 14 |
//! | raw IP (101), IPv4 (228), IPv6 (229) | none | 0 | frame + 14 |
//!
//! So a packet captured on the agent's interface as Ethernet, or with `tcpdump -i any`
//! (SLL or SLL2), or on a raw-IP view of the same traffic, is one packet of the same flow
//! with the same length, and flows read offline from any of them equal the live agent's.
//! VLAN tags that the capture kept in the packet (libpcap puts a tag it got from the
//! driver back into SLL captures) are counted as on Ethernet: 4 bytes each.
//!
//! On raw IP (101) the version nibble says which IP it is; a packet that is neither IPv4
//! nor IPv6 is a parse error, since the link type promises IP (on Ethernet such a frame
//! would be non-IP by its EtherType). An SLL or SLL2 frame whose protocol is not IPv4,
//! IPv6 or a VLAN tag is non-IP, like an Ethernet frame with such an EtherType.

/// A link type the offline parser reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// `LINKTYPE_LINUX_SLL` (113), what `tcpdump -i any` writes.
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276), what newer `tcpdump -i any` writes.
    LinuxSll2,
    /// `LINKTYPE_RAW` (101): IPv4 or IPv6, by the version nibble.
    RawIp,
    /// `LINKTYPE_IPV4` (228).
    Ipv4,
    /// `LINKTYPE_IPV6` (229).
    Ipv6,
}

impl LinkType {
    /// The link type of `LINKTYPE_*` number `n`, if the parser reads it.
    pub fn from_number(n: u32) -> Option<LinkType> {
        Some(match n {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            101 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            _ => return None,
        })
    }

    /// Its `LINKTYPE_*` number.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
        }
    }

    /// Bytes of link-layer header before the EtherType-selected payload (for SLL, SLL2 and
    /// Ethernet) or the IP header (raw IP).
    pub fn header_len(self) -> usize {
        match self {
            LinkType::Ethernet => 14,
            LinkType::LinuxSll => 16,
            LinkType::LinuxSll2 => 20,
            LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => 0,
        }
    }

    /// The length the kernel would count for a packet of `wire_len` bytes in this link
    /// type: the same packet as an Ethernet frame (see the module doc). Saturates at
    /// `u32::MAX`; a frame shorter than its link header counts what it has.
    pub fn ethernet_len(self, wire_len: u32) -> u32 {
        let hdr = self.header_len() as u32;
        wire_len.saturating_sub(hdr).saturating_add(14)
    }
}

/// `LINKTYPE_*` names, for the error about a link type the parser does not read.
pub fn link_type_name(n: u32) -> Option<&'static str> {
    Some(match n {
        0 => "NULL (BSD loopback)",
        1 => "ETHERNET",
        6 => "IEEE802_5 (Token Ring)",
        8 => "SLIP",
        9 => "PPP",
        10 => "FDDI",
        50 => "PPP_HDLC",
        51 => "PPP_ETHER",
        101 => "RAW",
        104 => "C_HDLC",
        105 => "IEEE802_11 (Wi-Fi)",
        108 => "LOOP (OpenBSD loopback)",
        113 => "LINUX_SLL",
        117 => "PFLOG",
        119 => "IEEE802_11_PRISM",
        127 => "IEEE802_11_RADIOTAP",
        143 => "DOCSIS",
        147..=162 => "USER (private)",
        187 => "BLUETOOTH_HCI_H4",
        189 => "USB_LINUX",
        195 => "IEEE802_15_4",
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
        220 => "USB_LINUX_MMAPPED",
        228 => "IPV4",
        229 => "IPV6",
        239 => "NFLOG",
        249 => "NETANALYZER",
        253 => "NETLINK",
        263 => "WIRESHARK_UPPER_PDU",
        276 => "LINUX_SLL2",
        _ => return None,
    })
}

/// `"number (NAME)"` or the number alone.
pub fn describe(n: u32) -> String {
    match link_type_name(n) {
        Some(name) => format!("{n} ({name})"),
        None => n.to_string(),
    }
}
