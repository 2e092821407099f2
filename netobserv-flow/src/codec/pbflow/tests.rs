//! Tests of the pbflow codec: the mapping, round trips and the direct decoder against prost.

use std::net::IpAddr;
use std::sync::Arc;

use prost::Message;

use super::names::{NETWORK_EVENT_BASE, OVS_BASE, drop_cause_value, tcp_state_value};
use super::*;
use crate::flow::Flow;

fn sample() -> Record {
    Record {
        eth_protocol: 0x0800,
        direction: 1,
        time_flow_start: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_000_000,
        }),
        time_flow_end: Some(Timestamp {
            seconds: 1_700_000_001,
            nanos: 456_999_999,
        }),
        data_link: Some(DataLink {
            src_mac: 0x0A580A800001,
            dst_mac: 0x0A580A800002,
        }),
        network: Some(Network {
            src_addr: Some(Ip::from_ip("10.128.0.1".parse().unwrap())),
            dst_addr: Some(Ip {
                ip_family: Some(IpAddrKind::Ipv4(0x0A800002)),
            }),
            dscp: 0,
        }),
        transport: Some(Transport {
            src_port: 43210,
            dst_port: 8080,
            protocol: 6,
        }),
        bytes: 1500,
        packets: 3,
        flags: 0x112,
        interface: "eth0".into(),
        agent_ip: Some(Ip::from_ip("192.168.0.10".parse().unwrap())),
        dns_id: 7,
        dns_flags: 0x8183,
        dns_latency: Some(Duration {
            seconds: 0,
            nanos: 5_000_000,
        }),
        time_flow_rtt: Some(Duration {
            seconds: 0,
            nanos: 250_000,
        }),
        pkt_drop_packets: 1,
        pkt_drop_bytes: 66,
        pkt_drop_latest_state: 1,
        pkt_drop_latest_drop_cause: OVS_BASE + 3,
        ..Record::default()
    }
}

#[test]
fn record_to_flow_follows_record_to_map() {
    let f = to_flow(&sample(), 1_700_000_002);
    assert_eq!(f.src_addr().unwrap().to_string(), "10.128.0.1");
    assert_eq!(f.dst_addr().unwrap().to_string(), "10.128.0.2");
    assert_eq!(f.src_mac().unwrap().to_string(), "0a:58:0a:80:00:01");
    assert_eq!(f.time_flow_start_ms(), Some(1_700_000_000_123));
    assert_eq!(f.time_flow_end_ms(), Some(1_700_000_001_456));
    assert_eq!(f.interfaces().unwrap()[0].as_ref(), "eth0");
    assert_eq!(f.if_directions(), Some(&[1][..]));
    assert_eq!(f.flags().unwrap().bits, 0x112);
    assert_eq!(f.icmp_type(), None);
    assert_eq!(f.dns_flags_response_code(), Some("NXDomain"));
    assert_eq!(f.dns_latency_ms(), Some(5));
    assert_eq!(f.time_flow_rtt_ns(), Some(250_000));
    assert_eq!(f.pkt_drop_latest_state(), Some("TCP_ESTABLISHED"));
    assert_eq!(f.pkt_drop_latest_drop_cause(), Some("OVS_DROP_EXPLICIT"));
    assert_eq!(f.sampling(), None);
    assert_eq!(f.xlat_src_addr(), None);
}

fn tls_quic_sample() -> Record {
    Record {
        dns_name: "www.example.com".into(),
        ssl_version: 0x0303,
        tls_types: 0x22,
        tls_cipher_suite: 0x1302,
        tls_key_share: 29,
        quic: Some(Quic {
            version: 1,
            seen_long_hdr: 1,
            seen_short_hdr: 0,
        }),
        ..sample()
    }
}

#[test]
fn tls_and_quic_fields_follow_record_to_map() {
    let f = to_flow(&tls_quic_sample(), 0);
    assert_eq!(f.tls_version(), Some("TLS 1.2"));
    assert_eq!(
        f.tls_types().unwrap(),
        [Arc::<str>::from("ServerHello"), Arc::from("AppData")]
    );
    assert_eq!(f.tls_cipher_suite(), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(f.tls_group(), Some("X25519"));
    assert_eq!(f.quic_version(), Some("QUIC v2"));
    assert_eq!(f.quic_seen_long_hdr(), Some(1));
    assert_eq!(f.quic_seen_short_hdr(), Some(0));
    let json = crate::codec::json::to_string(&f);
    for want in [
        r#""QuicSeenLongHdr":1,"QuicSeenShortHdr":0,"QuicVersion":"QUIC v2""#,
        r#""TLSCipherSuite":"TLS_AES_256_GCM_SHA384","TLSGroup":"X25519","TLSTypes":["ServerHello","AppData"],"TLSVersion":"TLS 1.2""#,
    ] {
        assert!(json.contains(want), "{json}");
    }
}

#[test]
fn tls_values_are_truncated_then_written_when_non_zero() {
    let r = Record {
        ssl_version: 0x1_0304,
        ssl_mismatch: true,
        tls_types: 0x101,
        tls_cipher_suite: 0x2_0000,
        tls_key_share: 0x1_001d,
        ..sample()
    };
    let f = to_flow(&r, 0);
    assert_eq!(f.tls_version(), Some("~ TLS 1.3"));
    assert_eq!(f.tls_types().unwrap(), [Arc::<str>::from("ClientHello")]);
    assert_eq!(f.tls_cipher_suite(), None);
    assert_eq!(f.tls_group(), Some("X25519"));
    let none = to_flow(
        &Record {
            ssl_version: 0x1_0000,
            ssl_mismatch: true,
            tls_types: 0x100,
            ..sample()
        },
        0,
    );
    assert_eq!(none.tls_version(), None);
    assert_eq!(none.tls_types(), None);
    // Only the unnamed bits: upstream writes null, this leaves the key out.
    let unnamed = to_flow(
        &Record {
            tls_types: 0xc0,
            ..sample()
        },
        0,
    );
    assert_eq!(unnamed.tls_types(), None);
    assert_eq!(to_flow(&sample(), 0).tls_version(), None);
}

#[test]
fn quic_fields_are_written_whenever_the_message_is_present() {
    assert_eq!(to_flow(&sample(), 0).quic_version(), None);
    let f = to_flow(
        &Record {
            quic: Some(Quic::default()),
            ..sample()
        },
        0,
    );
    assert_eq!(f.quic_version(), Some("QUIC v1"));
    assert_eq!(f.quic_seen_long_hdr(), Some(0));
    assert_eq!(f.quic_seen_short_hdr(), Some(0));
    let f = to_flow(
        &Record {
            quic: Some(Quic {
                version: 0x6b3343cf,
                seen_long_hdr: 0x101,
                seen_short_hdr: 0x1ff,
            }),
            ..sample()
        },
        0,
    );
    assert_eq!(f.quic_version(), Some("QUIC Unknown (1798521807)"));
    assert_eq!(f.quic_seen_long_hdr(), Some(1));
    assert_eq!(f.quic_seen_short_hdr(), Some(0xff));
}

#[test]
fn dns_name_is_written_only_with_a_dns_id() {
    let with_id = to_flow(&tls_quic_sample(), 0);
    assert_eq!(with_id.dns_name(), Some("www.example.com"));
    let no_id = to_flow(
        &Record {
            dns_id: 0,
            ..tls_quic_sample()
        },
        0,
    );
    assert_eq!(no_id.dns_name(), None);
    let long = to_flow(
        &Record {
            dns_name: "a-rather-long-service.namespace.svc.cluster.local".into(),
            ..sample()
        },
        0,
    );
    assert_eq!(long.dns_name(), Some("a-rather-long-service"));
    let empty = to_flow(
        &Record {
            dns_name: "..".into(),
            ..sample()
        },
        0,
    );
    assert_eq!(empty.dns_name(), None);
    assert_eq!(empty.dns_id(), Some(7));
}

#[test]
fn tls_quic_and_dns_name_round_trip_through_the_encoder() {
    for r in [
        tls_quic_sample(),
        Record {
            ssl_version: 0x7f1c,
            ssl_mismatch: true,
            tls_cipher_suite: 0x5600,
            tls_key_share: 4587,
            tls_types: 0x3f,
            quic: Some(Quic {
                version: 77,
                seen_long_hdr: 0,
                seen_short_hdr: 1,
            }),
            ..sample()
        },
    ] {
        let f = to_flow(&r, 5);
        let back = decode_records(&encode_records(std::slice::from_ref(&f)), 5).unwrap();
        assert_eq!(back, vec![f]);
    }
}

#[test]
fn encode_decode_round_trip() {
    let f = to_flow(&sample(), 5);
    let bytes = encode_records(std::slice::from_ref(&f));
    let back = decode_records(&bytes, 5).unwrap();
    assert_eq!(back, vec![f]);
}

#[test]
fn truncated_input_is_an_error() {
    let bytes = Records {
        entries: vec![sample()],
    }
    .encode_to_vec();
    for cut in [1, bytes.len() / 2, bytes.len() - 1] {
        assert!(decode_records(&bytes[..cut], 0).is_err(), "cut at {cut}");
    }
}

use proptest::prelude::*;

fn ip_strategy() -> impl Strategy<Value = Option<Ip>> {
    prop_oneof![
        Just(None),
        any::<u32>().prop_map(|v| Some(Ip {
            ip_family: Some(IpAddrKind::Ipv4(v))
        })),
        any::<[u8; 16]>().prop_map(|b| Some(Ip {
            ip_family: Some(IpAddrKind::Ipv6(b.to_vec()))
        })),
        any::<[u8; 4]>().prop_map(|b| Some(Ip::from_ip(IpAddr::from(b)))),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Some(Ip {
            ip_family: Some(IpAddrKind::Ipv6(b))
        })),
        Just(Some(Ip { ip_family: None })),
    ]
}

fn record_strategy() -> impl Strategy<Value = Record> {
    let head = (
        prop_oneof![Just(0x0800u32), Just(0x86DD), Just(0x0806), any::<u32>()],
        any::<i32>(),
        proptest::option::of((any::<i64>(), any::<i32>())),
        proptest::option::of((0i64..2_000_000_000, 0i32..1_000_000_000)),
        (any::<u64>(), any::<u64>()),
        (ip_strategy(), ip_strategy(), 0u32..80),
        (
            any::<u32>(),
            any::<u32>(),
            prop_oneof![
                Just(1u32),
                Just(6),
                Just(17),
                Just(58),
                Just(132),
                any::<u32>()
            ],
        ),
        (
            any::<u64>(),
            any::<u64>(),
            "[a-z0-9]{0,12}",
            any::<bool>(),
            ip_strategy(),
        ),
    );
    let tail = (
        (any::<u32>(), any::<u32>(), any::<u32>()),
        (
            prop_oneof![Just(0u64), any::<u64>()],
            prop_oneof![Just(0u64), any::<u64>()],
            any::<u32>(),
            0u32..14,
            prop_oneof![Just(0u32), any::<u32>()],
        ),
        (
            prop_oneof![Just(0u32), any::<u32>()],
            any::<u32>(),
            proptest::option::of((0i64..100, 0i32..1_000_000_000)),
            proptest::option::of((0i64..100, 0i32..1_000_000_000)),
            prop_oneof![Just(0u32), any::<u32>()],
        ),
        proptest::collection::vec(("[a-z0-9_]{0,8}", -2i32..3, "[a-z]{0,4}"), 0..3),
        proptest::collection::vec(
            proptest::collection::btree_map("[A-Za-z]{1,6}", "[a-z ]{0,6}", 0..3),
            0..3,
        ),
        proptest::option::of((
            ip_strategy(),
            ip_strategy(),
            prop_oneof![Just(0u32), any::<u32>()],
            prop_oneof![Just(0u32), any::<u32>()],
            any::<u32>(),
        )),
        (
            any::<u32>(),
            prop_oneof![Just(0u32), Just(1), any::<u32>()],
            prop_oneof![Just(0i32), any::<i32>()],
        ),
        (
            prop_oneof![
                Just(String::new()),
                "[a-z0-9\\-]{0,12}(\\.[a-z0-9\\-]{0,16}){0,4}\\.?",
                "[a-z\u{0}é.]{0,40}",
            ],
            prop_oneof![Just(0u32), 0x0300u32..0x0306, any::<u32>()],
            any::<bool>(),
            prop_oneof![Just(0u32), 0u32..0x100, any::<u32>()],
            prop_oneof![Just(0u32), Just(0x1301), Just(0xc02f), any::<u32>()],
            prop_oneof![Just(0u32), 23u32..30, Just(4588), any::<u32>()],
            proptest::option::of((
                prop_oneof![Just(0u32), Just(1), any::<u32>()],
                prop_oneof![Just(0u32), Just(1), any::<u32>()],
                prop_oneof![Just(0u32), Just(1), any::<u32>()],
            )),
        ),
    );
    (head, tail).prop_map(|(h, t)| Record {
        eth_protocol: h.0,
        direction: h.1,
        time_flow_start: h.2.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
        time_flow_end: h.3.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
        data_link: Some(DataLink {
            src_mac: h.4.0,
            dst_mac: h.4.1,
        }),
        network: Some(Network {
            src_addr: h.5.0,
            dst_addr: h.5.1,
            dscp: h.5.2,
        }),
        transport: Some(Transport {
            src_port: h.6.0,
            dst_port: h.6.1,
            protocol: h.6.2,
        }),
        bytes: h.7.0,
        packets: h.7.1,
        interface: h.7.2,
        duplicate: h.7.3,
        agent_ip: h.7.4,
        flags: t.0.0,
        icmp_type: t.0.1,
        icmp_code: t.0.2,
        pkt_drop_bytes: t.1.0,
        pkt_drop_packets: t.1.1,
        pkt_drop_latest_flags: t.1.2,
        pkt_drop_latest_state: t.1.3,
        pkt_drop_latest_drop_cause: t.1.4,
        dns_id: t.2.0,
        dns_flags: t.2.1,
        dns_latency: t.2.2.map(|(seconds, nanos)| Duration { seconds, nanos }),
        time_flow_rtt: t.2.3.map(|(seconds, nanos)| Duration { seconds, nanos }),
        dns_errno: t.2.4,
        dup_list: t
            .3
            .into_iter()
            .map(|(interface, direction, udn)| DupMapEntry {
                interface,
                direction,
                udn,
            })
            .collect(),
        network_events_metadata: t
            .4
            .into_iter()
            .map(|events| PbNetworkEvent { events })
            .collect(),
        xlat: t.5.map(|x| Xlat {
            src_addr: x.0,
            dst_addr: x.1,
            src_port: x.2,
            dst_port: x.3,
            zone_id: x.4,
        }),
        sampling: t.6.0,
        ipsec_encrypted: t.6.1,
        ipsec_encrypted_ret: t.6.2,
        dns_name: t.7.0,
        ssl_version: t.7.1,
        ssl_mismatch: t.7.2,
        tls_types: t.7.3,
        tls_cipher_suite: t.7.4,
        tls_key_share: t.7.5,
        quic: t.7.6.map(|q| Quic {
            version: q.0,
            seen_long_hdr: q.1,
            seen_short_hdr: q.2,
        }),
    })
}

proptest! {
    /// The direct wire decoder agrees with prost decoding followed by `to_flow`, including on
    /// concatenated messages (protobuf merge) and on every truncation.
    #[test]
    fn direct_decoder_matches_prost(records in proptest::collection::vec(record_strategy(), 1..4), cut in any::<prop::sample::Index>()) {
        let bytes = Records { entries: records }.encode_to_vec();
        let via_prost: Vec<Flow> = Records::decode(bytes.as_slice()).unwrap().entries.iter().map(|r| to_flow(r, 9)).collect();
        prop_assert_eq!(decode_records(&bytes, 9).unwrap(), via_prost);
        let mut twice = bytes.clone();
        twice.extend_from_slice(&bytes);
        let via_prost: Vec<Flow> = Records::decode(twice.as_slice()).unwrap().entries.iter().map(|r| to_flow(r, 9)).collect();
        prop_assert_eq!(decode_records(&twice, 9).unwrap(), via_prost);
        let cut = cut.index(bytes.len());
        let ours = decode_records(&bytes[..cut], 9).is_ok();
        let theirs = Records::decode(&bytes[..cut]).is_ok();
        prop_assert_eq!(ours, theirs, "cut at {}", cut);
    }
}

#[test]
fn name_tables() {
    assert_eq!(drop_cause_name(2), "SKB_DROP_REASON_NOT_SPECIFIED");
    assert_eq!(drop_cause_name(999), "SKB_DROP_UNKNOWN_CAUSE");
    assert_eq!(drop_cause_value("SKB_DROP_REASON_NO_SOCKET"), Some(3));
    assert_eq!(tcp_state_name(0), "TCP_INVALID_STATE");
    assert_eq!(dns_rcode_name(11), "UnDefined");
}

#[test]
fn errors_carry_the_format_kind_and_byte_offset() {
    use crate::codec::{DecodeErrorKind as K, Format};
    let cases: [(&[u8], K, u64, &str); 6] = [
        // A skipped top-level varint field whose varint never ends: where the varint starts.
        (&[0x10, 0x96], K::Truncated, 1, "truncated varint"),
        // The same inside a record (field 1): the offset counts from the start of the message.
        (
            &[0x0a, 0x02, 0x08, 0x96],
            K::Truncated,
            3,
            "truncated varint",
        ),
        // A record longer than what is left.
        (&[0x0a, 0x05, 0x08], K::Truncated, 2, "truncated field"),
        // `Records.entries` as a varint.
        (&[0x08, 0x01], K::Syntax, 1, "length-delimited"),
        // `Record.interface` holding "a\xff": the first byte that is not UTF-8.
        (&[0x0a, 0x04, 0x52, 0x02, 0x61, 0xff], K::Utf8, 5, "UTF-8"),
        // A group (unknown field 40, wire type 3), which prost skips and this decoder refuses:
        // where its value would start.
        (&[0x0a, 0x02, 0xc3, 0x02], K::Syntax, 4, "groups"),
    ];
    for (bytes, kind, offset, what) in cases {
        let e = decode_records(bytes, 0).unwrap_err();
        assert_eq!(
            (e.format(), e.kind(), e.offset()),
            (Format::Pbflow, kind, Some(offset)),
            "{bytes:?}: {e}"
        );
        assert!(e.message().contains(what), "{bytes:?}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("invalid pbflow at byte {offset}: ")),
            "{e}"
        );
    }
    // One record alone: offsets count from its first byte.
    let e = decode_record(&[0x08, 0x96], 0).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (K::Truncated, Some(1)), "{e}");
    // Decoding with prost keeps prost's error as the source.
    let prost_err = <Records as prost::Message>::decode(&[0x0a, 0x05, 0x08][..]).unwrap_err();
    let e = crate::codec::DecodeError::from(prost_err);
    assert_eq!(e.format(), Format::Pbflow);
    assert!(
        std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<prost::DecodeError>())
            .is_some()
    );
}

#[test]
fn tcp_state_names_follow_upstream_table() {
    assert_eq!(tcp_state_name(1), "TCP_ESTABLISHED");
    assert_eq!(tcp_state_name(5), "TCP_FIN_WAIT2");
    // Upstream has no TCP_TIME_WAIT: 6 reads TCP_CLOSE, 11 TCP_NEW_SYN_RECV.
    assert_eq!(tcp_state_name(6), "TCP_CLOSE");
    assert_eq!(tcp_state_name(7), "TCP_CLOSE_WAIT");
    assert_eq!(tcp_state_name(10), "TCP_CLOSING");
    assert_eq!(tcp_state_name(11), "TCP_NEW_SYN_RECV");
    assert_eq!(tcp_state_name(12), "TCP_INVALID_STATE");
    for v in 1..12 {
        assert_eq!(tcp_state_value(tcp_state_name(v)), Some(v));
    }
}

#[test]
fn network_event_drop_causes() {
    assert_eq!(drop_cause_name(NETWORK_EVENT_BASE), "NetworkEvent_Unknown");
    assert_eq!(drop_cause_name(16_777_220), "NetworkEvent_NetworkPolicy");
    assert_eq!(
        drop_cause_name(NETWORK_EVENT_BASE + 9),
        "NetworkEvent_UDNIsolation"
    );
    assert_eq!(
        drop_cause_name(NETWORK_EVENT_BASE + 10),
        "SKB_DROP_UNKNOWN_CAUSE"
    );
    assert_eq!(
        drop_cause_name(NETWORK_EVENT_BASE - 1),
        "SKB_DROP_UNKNOWN_CAUSE"
    );
    assert_eq!(drop_cause_name(1), "SKB_DROP_UNKNOWN_CAUSE");
    assert_eq!(drop_cause_name(81), "SKB_DROP_UNKNOWN_CAUSE");
    assert_eq!(
        drop_cause_value("NetworkEvent_AdminNetworkPolicy"),
        Some(NETWORK_EVENT_BASE + 2)
    );
    assert_eq!(drop_cause_value("OVS_DROP_IP_TTL"), Some(OVS_BASE + 11));
}

#[test]
fn tls_version_names() {
    assert_eq!(tls_version_name(0x0300, false), "SSLv3");
    assert_eq!(tls_version_name(0x0301, false), "TLS 1.0");
    assert_eq!(tls_version_name(0x0303, false), "TLS 1.2");
    assert_eq!(tls_version_name(0x0304, false), "TLS 1.3");
    assert_eq!(tls_version_name(0x0303, true), "~ TLS 1.2");
    assert_eq!(tls_version_name(0x0200, false), "0x0200");
    assert_eq!(tls_version_name(0x0305, false), "0x0305");
    assert_eq!(tls_version_name(0x7f1c, true), "~ 0x7F1C");
}

#[test]
fn tls_cipher_suite_names() {
    assert_eq!(tls_cipher_suite_name(0x1302), "TLS_AES_256_GCM_SHA384");
    assert_eq!(tls_cipher_suite_name(0x0005), "TLS_RSA_WITH_RC4_128_SHA");
    assert_eq!(
        tls_cipher_suite_name(0xcca9),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
    );
    assert_eq!(
        tls_cipher_suite_name(0xc02f),
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    );
    // Go lists TLS_FALLBACK_SCSV in neither of its tables.
    assert_eq!(tls_cipher_suite_name(0x5600), "0x5600");
    assert_eq!(tls_cipher_suite_name(0x00ff), "0x00FF");
}

#[test]
fn tls_group_names() {
    assert_eq!(tls_group_name(23), "CurveP256");
    assert_eq!(tls_group_name(25), "CurveP521");
    assert_eq!(tls_group_name(29), "X25519");
    assert_eq!(tls_group_name(0x11EB), "SecP256r1MLKEM768");
    assert_eq!(tls_group_name(0x11EC), "X25519MLKEM768");
    assert_eq!(tls_group_name(0x11ED), "SecP384r1MLKEM1024");
    assert_eq!(tls_group_name(30), "CurveID(30)");
    assert_eq!(tls_group_name(514), "CurveID(514)");
}

#[test]
fn tls_type_bit_names() {
    let names = |b| tls_type_names(b).collect::<Vec<_>>();
    assert_eq!(names(0x22), ["ServerHello", "AppData"]);
    assert_eq!(
        names(0x3f),
        [
            "ClientHello",
            "ServerHello",
            "OtherHandshake",
            "ChangeCipher",
            "Alert",
            "AppData"
        ]
    );
    assert!(names(0xc0).is_empty());
    assert!(names(0).is_empty());
}

#[test]
fn quic_version_names_follow_upstream() {
    assert_eq!(quic_version_name(0), "QUIC v1");
    // Upstream's quirk: the wire value of QUIC v1 (1) reads "QUIC v2".
    assert_eq!(quic_version_name(1), "QUIC v2");
    assert_eq!(quic_version_name(0x6b3343cf), "QUIC Unknown (1798521807)");
}

#[test]
fn dns_names_keep_the_labels_that_fit_the_agent_buffer() {
    assert_eq!(dns_name_kept("www.example.com"), "www.example.com");
    assert!(matches!(
        dns_name_kept("www.example.com"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(dns_name_kept(""), "");
    assert_eq!(dns_name_kept("a..b."), "a.b");
    assert_eq!(dns_name_kept(".a"), "a");
    // 30 characters of labels and dots fit (31 bytes of length-prefixed labels) ...
    let fits = "abcdefghij.abcdefghij.abcdefgh";
    assert_eq!(fits.len(), 30);
    assert_eq!(dns_name_kept(fits), fits);
    // ... one more byte drops the whole last label, not a part of it.
    assert_eq!(
        dns_name_kept("abcdefghij.abcdefghij.abcdefghi"),
        "abcdefghij.abcdefghij"
    );
    assert_eq!(
        dns_name_kept("svc.cluster.local.very-long-label-here.example"),
        "svc.cluster.local"
    );
    assert_eq!(dns_name_kept(&"x".repeat(31)), "");
    assert_eq!(dns_name_kept(&"x".repeat(64)), "");
    // A NUL byte ends the agent's buffer: the label holding it and all after are lost.
    assert_eq!(dns_name_kept("a.b\0c.d"), "a");
    assert_eq!(dns_name_kept("\0.a"), "");
}

#[test]
fn id_tables_are_sorted_for_binary_search() {
    for w in super::names::CIPHER_SUITES.windows(2) {
        assert!(w[0].0 < w[1].0, "{:#x}", w[1].0);
    }
    for w in super::names::TLS_GROUPS.windows(2) {
        assert!(w[0].0 < w[1].0, "{}", w[1].0);
    }
}

/// The agent model's round trip of a DNS name, step by step: length-prefixed labels written into
/// a 32-byte buffer, then read back up to the first NUL.
fn dns_name_through_buffer(name: &str) -> String {
    let mut buf = [0u8; 32];
    let mut pos = 0;
    for label in name.split('.') {
        if pos >= 31 {
            break;
        }
        if label.is_empty() {
            continue;
        }
        let len = label.len().min(63);
        if pos + len + 1 > 31 {
            break;
        }
        buf[pos] = len as u8;
        buf[pos + 1..pos + 1 + len].copy_from_slice(&label.as_bytes()[..len]);
        pos += len + 1;
    }
    let raw = &buf[..buf.iter().position(|b| *b == 0).unwrap_or(32)];
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let l = usize::from(raw[i]);
        if l == 0 || l & 0xC0 == 0xC0 || i + 1 + l > raw.len() {
            break;
        }
        if !out.is_empty() {
            out.push(b'.');
        }
        out.extend_from_slice(&raw[i + 1..i + 1 + l]);
        i += 1 + l;
    }
    String::from_utf8(out).unwrap()
}

proptest! {
    #[test]
    fn dns_name_kept_matches_the_label_buffer(name in "([a-z0-9\\-]{0,12}|\u{0}|é)(\\.[a-z0-9\u{0}\\-]{0,20}){0,5}\\.?") {
        prop_assert_eq!(dns_name_kept(&name), dns_name_through_buffer(&name));
    }
}

fn with_xlat(x: Xlat) -> Record {
    Record {
        xlat: Some(x),
        ..sample()
    }
}

fn xlat_addrs() -> Xlat {
    Xlat {
        src_addr: Some(Ip::from_ip("100.64.0.2".parse().unwrap())),
        dst_addr: Some(Ip::from_ip("10.129.0.5".parse().unwrap())),
        ..Xlat::default()
    }
}

#[test]
fn ipsec_status_is_error_for_any_non_zero_return_code() {
    let ipsec = |ipsec_encrypted, ipsec_encrypted_ret| {
        let f = to_flow(
            &Record {
                ipsec_encrypted,
                ipsec_encrypted_ret,
                ..sample()
            },
            0,
        );
        (f.ipsec_status().map(str::to_owned), f.ipsec_ret_code())
    };
    assert_eq!(ipsec(1, -22), (Some("error".into()), Some(-22)));
    // Written even when the record does not say it was encrypted.
    assert_eq!(ipsec(0, 1), (Some("error".into()), Some(1)));
    assert_eq!(ipsec(1, 0), (Some("success".into()), Some(0)));
    assert_eq!(ipsec(2, 0), (Some("success".into()), Some(0)));
    assert_eq!(ipsec(0, 0), (None, None));
}

#[test]
fn xlat_ports_only_when_non_zero_and_the_zone_always() {
    let f = to_flow(&with_xlat(xlat_addrs()), 0);
    assert_eq!(f.xlat_src_addr().unwrap().to_string(), "100.64.0.2");
    assert_eq!(f.xlat_dst_addr().unwrap().to_string(), "10.129.0.5");
    assert_eq!(f.zone_id(), Some(0));
    assert_eq!((f.xlat_src_port(), f.xlat_dst_port()), (None, None));
    let f = to_flow(
        &with_xlat(Xlat {
            src_port: 0x1_0000,
            dst_port: 0x1_01bb,
            zone_id: 0x1_0001,
            ..xlat_addrs()
        }),
        0,
    );
    // 16-bit in the agent's model: truncated, then tested.
    assert_eq!((f.xlat_src_port(), f.xlat_dst_port()), (None, Some(443)));
    assert_eq!(f.zone_id(), Some(1));
    // An absent or all-zero address on either side: no Xlat key at all.
    for x in [
        Xlat {
            src_addr: None,
            zone_id: 5,
            ..xlat_addrs()
        },
        Xlat {
            dst_addr: Some(Ip::from_ip("::".parse().unwrap())),
            src_port: 80,
            ..xlat_addrs()
        },
    ] {
        let f = to_flow(&with_xlat(x), 0);
        assert_eq!(f.zone_id(), None);
        assert_eq!(f.xlat_src_addr(), None);
        assert_eq!(f.xlat_src_port(), None);
    }
}

#[test]
fn removed_xlat_icmp_id_tag_is_skipped() {
    // An older agent's Xlat with tag 7 (icmp_id = 9) decodes; the value goes nowhere.
    let mut xlat = xlat_addrs().encode_to_vec();
    xlat.extend_from_slice(&[7 << 3, 9]);
    let mut record = Record {
        xlat: None,
        ..sample()
    }
    .encode_to_vec();
    prost::encoding::encode_key(28, prost::encoding::WireType::LengthDelimited, &mut record);
    prost::encoding::encode_varint(xlat.len() as u64, &mut record);
    record.extend_from_slice(&xlat);
    let f = decode_record(&record, 0).unwrap();
    assert_eq!(f, to_flow(&Record::decode(record.as_slice()).unwrap(), 0));
    assert_eq!(f.zone_id(), Some(0));
    assert_eq!(f.get("XlatIcmpId"), None);
    assert!(!crate::codec::json::to_string(&f).contains("XlatIcmpId"));
}

#[test]
fn xlat_icmp_id_in_json_input_is_kept_as_a_run_time_field() {
    let line = r#"{"XlatIcmpId":7,"ZoneId":1}"#;
    let f = crate::codec::json::decode(line.as_bytes()).unwrap();
    assert_eq!(
        f.extra_get("XlatIcmpId"),
        Some(&crate::value::Value::UInt(7))
    );
    assert_eq!(crate::codec::json::to_string(&f), line);
}

#[test]
fn drops_only_with_a_drop_cause_and_counts_narrowed_to_16_bits() {
    let drop = |cause, packets, bytes| {
        to_flow(
            &Record {
                pkt_drop_latest_drop_cause: cause,
                pkt_drop_packets: packets,
                pkt_drop_bytes: bytes,
                pkt_drop_latest_flags: 0x1_0010,
                pkt_drop_latest_state: 0x101,
                ..sample()
            },
            0,
        )
    };
    let f = drop(0, 3, 200);
    assert_eq!(f.pkt_drop_packets(), None);
    assert_eq!(f.pkt_drop_bytes(), None);
    assert_eq!(f.pkt_drop_latest_state(), None);
    let f = drop(8, 0, 0);
    assert_eq!(f.pkt_drop_packets(), Some(0));
    assert_eq!(f.pkt_drop_bytes(), Some(0));
    assert_eq!(
        f.pkt_drop_latest_drop_cause(),
        Some("SKB_DROP_REASON_NETFILTER_DROP")
    );
    let f = drop(8, 65_537, 70_000);
    assert_eq!(f.pkt_drop_packets(), Some(1));
    assert_eq!(f.pkt_drop_bytes(), Some(70_000 - 65_536));
    assert_eq!(f.pkt_drop_latest_flags(), Some(0x10));
    assert_eq!(f.pkt_drop_latest_state(), Some("TCP_ESTABLISHED"));
}

#[test]
fn dns_errno_whenever_non_zero_and_dns_values_narrowed() {
    let dns = |dns_id, dns_errno| {
        to_flow(
            &Record {
                dns_id,
                dns_errno,
                dns_flags: 0x1_8183,
                ..sample()
            },
            0,
        )
    };
    let f = dns(0, 11);
    assert_eq!(f.dns_errno(), Some(11));
    assert_eq!(f.dns_id(), None);
    assert_eq!(f.dns_flags_response_code(), None);
    // 8-bit errno, 16-bit id and flags in the agent's model.
    assert_eq!(dns(0, 256).dns_errno(), None);
    assert_eq!(dns(0, 0x10b).dns_errno(), Some(11));
    assert_eq!(dns(0x1_0000, 0).dns_id(), None);
    let f = dns(0x1_0007, 0);
    assert_eq!(f.dns_id(), Some(7));
    assert_eq!(f.dns_flags(), Some(0x8183));
    assert_eq!(f.dns_flags_response_code(), Some("NXDomain"));
}
