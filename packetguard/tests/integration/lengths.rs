//! IP length fields against the frame, and the IPv6 extension-header limit, through
//! `BPF_PROG_TEST_RUN` (rules in `parse/l3.rs` and `parse/l4.rs` of the eBPF crate): a
//! length beyond the frame is capped at what the frame holds, a length of 0 is the
//! frame's, a length shorter than the headers it covers is a parse error, and Ethernet
//! padding is never read as a header.

use aya::maps::{MapData, RingBuf};
use packetguard::datapath::{
    drain::{decode, Event},
    DataPathConfig,
};
use packetguard_common::{record::TCP_SYN, Counter};

use crate::{frames::*, parser::Harness};

/// A harness that samples every packet: samples carry the parsed payload length.
fn sampling() -> (Harness, RingBuf<MapData>) {
    let mut h = Harness::new(DataPathConfig {
        sample_every: 1,
        ..DataPathConfig::default()
    });
    let ring = h.dp.take_events().unwrap();
    (h, ring)
}

/// Runs `frame` and returns the payload length the parser gave it, or `None` if it was
/// no packet of a flow (a parse error).
fn payload_of(h: &mut Harness, ring: &mut RingBuf<MapData>, frame: &[u8]) -> Option<u32> {
    let errors = h.counter(Counter::ParseErrors);
    h.run(frame, 1);
    let mut payload = None;
    while let Some(item) = ring.next() {
        if let Event::Sample(s) = decode(&item).unwrap() {
            assert!(payload.replace(s.payload_len).is_none(), "one sample");
        }
    }
    let error = h.counter(Counter::ParseErrors) == errors + 1;
    assert_eq!(error, payload.is_none(), "a packet or a parse error");
    payload
}

/// Sets the IPv4 total length of an untagged frame.
fn ipv4_total(mut f: Vec<u8>, total: u16) -> Vec<u8> {
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f
}

/// Sets the IPv6 payload length of an untagged frame.
fn ipv6_payload(mut f: Vec<u8>, len: u16) -> Vec<u8> {
    f[18..20].copy_from_slice(&len.to_be_bytes());
    f
}

/// Pads a frame with zeros to the Ethernet minimum of 60 bytes, as a NIC does.
fn padded(mut f: Vec<u8>) -> Vec<u8> {
    f.resize(f.len().max(60), 0);
    f
}

#[test]
fn an_ipv4_total_length_beyond_the_frame_counts_only_what_the_frame_holds() {
    let (mut h, mut ring) = sampling();
    let udp = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_A, V4_B, &[], 0, 8 + 10)
        .udp(5353, 53, 10)
        .0;
    let tcp = tcp_v4(V4_A, V4_B, 40000, 80, TCP_SYN, 30);
    assert_eq!(payload_of(&mut h, &mut ring, &udp), Some(10));
    // The length promises 1500 bytes; the frame holds 10 (UDP) and 30 (TCP) of payload.
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv4_total(udp.clone(), 1500)),
        Some(10)
    );
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv4_total(tcp.clone(), 1500)),
        Some(30)
    );
    // 0 is the frame's length (Linux's convention for GSO packets above 64 KiB).
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv4_total(tcp.clone(), 0)),
        Some(30)
    );
    // A length shorter than the IP header: no valid reading.
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv4_total(tcp.clone(), 19)),
        None
    );
    // A length that ends inside the TCP header: the header is not in the packet.
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv4_total(tcp, 20 + 19)),
        None
    );
    // The capped packets are packets of their flow, counted whole.
    assert_eq!(h.counter(Counter::ParseErrors), 2);
    let mut flows: Vec<(u16, u64, u64)> = h
        .flows()
        .iter()
        .map(|(k, s)| (k.port_a, s.fwd_packets, s.payload_packets))
        .collect();
    flows.sort();
    assert_eq!(flows, vec![(5353, 2, 2), (40000, 2, 2)]);
}

#[test]
fn ethernet_padding_is_neither_payload_nor_a_header() {
    let (mut h, mut ring) = sampling();
    // 14 + 20 + 8 = 42 bytes, padded to 60: the 18 padding bytes are not UDP payload.
    let udp = Frame::eth(&[], ETH_IPV4)
        .ipv4(17, V4_A, V4_B, &[], 0, 8)
        .udp(5353, 53, 0)
        .0;
    assert_eq!(payload_of(&mut h, &mut ring, &padded(udp)), Some(0));
    // An IPv4 packet whose length covers 8 bytes of what would be a TCP header: the rest
    // of the "header" is padding, so there is no TCP header (a whole packet: an error).
    let tcp = ipv4_total(tcp_v4(V4_A, V4_B, 40000, 80, TCP_SYN, 0), 20 + 8);
    assert_eq!(payload_of(&mut h, &mut ring, &padded(tcp)), None);
    // IPv6 the same way: payload length 8 for a 20-byte TCP header.
    let tcp6 = Frame::eth(&[], ETH_IPV6)
        .ipv6(6, V6_A, V6_B, 20)
        .tcp(40000, 80, TCP_SYN, 0)
        .0;
    assert_eq!(payload_of(&mut h, &mut ring, &ipv6_payload(tcp6, 8)), None);
}

#[test]
fn an_ipv6_payload_length_beyond_the_frame_is_capped_and_one_below_the_chain_is_an_error() {
    let (mut h, mut ring) = sampling();
    // Destination options (8 bytes), then UDP with 24 bytes of payload.
    let udp = Frame::eth(&[], ETH_IPV6)
        .ipv6(60, V6_A, V6_B, 8 + 8 + 24)
        .ext(17, 0)
        .udp(5353, 53, 24)
        .0;
    assert_eq!(payload_of(&mut h, &mut ring, &udp), Some(24));
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv6_payload(udp.clone(), 9000)),
        Some(24)
    );
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv6_payload(udp.clone(), 0)),
        Some(24)
    );
    // Shorter than the extension header: an error. Covering it but not UDP's header: the
    // UDP header is not in the packet, an error too.
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv6_payload(udp.clone(), 7)),
        None
    );
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv6_payload(udp.clone(), 8 + 7)),
        None
    );
    // Covering the headers, the payload is what the length says (the rest is padding).
    assert_eq!(
        payload_of(&mut h, &mut ring, &ipv6_payload(udp, 8 + 8 + 5)),
        Some(5)
    );
}

/// An IPv6 TCP frame whose chain holds `n` extension headers of 8 bytes, alternating
/// destination options and routing, the last one pointing at TCP.
fn chain(n: usize) -> Vec<u8> {
    let kinds = [60u8, 43];
    let first = if n == 0 { 6 } else { kinds[0] };
    let mut f = Frame::eth(&[], ETH_IPV6).ipv6(first, V6_A, V6_B, 8 * n + 20);
    for i in 0..n {
        let next = if i + 1 == n { 6 } else { kinds[(i + 1) % 2] };
        f = f.ext(next, 0);
    }
    f.tcp(50000, 22, TCP_SYN, 0).0
}

#[test]
fn an_ipv6_chain_of_six_extension_headers_parses_and_seven_is_a_parse_error() {
    let mut h = Harness::new(DataPathConfig::default());
    for n in 0..=6 {
        h.run(&chain(n), 1);
        assert_eq!(h.counter(Counter::ParseErrors), 0, "{n} headers parse");
    }
    let flows = h.flows();
    assert_eq!(flows.len(), 1);
    assert_eq!((flows[0].0.port_a, flows[0].0.port_b), (50000, 22));
    assert_eq!(flows[0].1.fwd_packets, 7);
    h.run(&chain(7), 1);
    assert_eq!(
        h.counter(Counter::ParseErrors),
        1,
        "7 headers are one too many"
    );

    // The limit counts a fragment header too: five options and a tail's fragment header
    // parse (the tail's next header is its protocol), six and a fragment header do not.
    for (n, errors) in [(5, 1), (6, 2)] {
        let mut f = Frame::eth(&[], ETH_IPV6).ipv6(60, V6_A, V6_B, 8 * n + 8 + 16);
        for i in 0..n {
            f = f.ext(if i + 1 == n { 44 } else { 60 }, 0);
        }
        let tail = f.frag6(6, 3, false).bytes(&[0; 16]).0;
        h.run(&tail, 1);
        assert_eq!(
            h.counter(Counter::ParseErrors),
            errors,
            "{n} options and a fragment"
        );
    }
    assert_eq!(h.counter(Counter::Fragments), 1);
}
