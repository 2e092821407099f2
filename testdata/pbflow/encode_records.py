#!/usr/bin/env python3
"""Writes record1.bin or record2.bin: pbflow.Records messages, encoded by hand from
netobserv-ebpf-agent's proto/flow.proto (field numbers and wire types), independently of the
Rust code under test. Run: python3 encode_records.py 1 > record1.bin
                           python3 encode_records.py 2 > record2.bin"""
import struct
import sys


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, n):
    return key(field, 0) + varint(n)


def f_bytes(field, data):
    return key(field, 2) + varint(len(data)) + data


def f_fixed32(field, n):
    return key(field, 5) + struct.pack("<I", n)


def ipv4(a, b, c, d):
    # pbflow.IP { oneof ip_family { fixed32 ipv4 = 1; bytes ipv6 = 2; } }
    return f_fixed32(1, a << 24 | b << 16 | c << 8 | d)


def ipv6_mapped(a, b, c, d):
    return f_bytes(2, bytes(10) + b"\xff\xff" + bytes([a, b, c, d]))


def timestamp(sec, nanos):
    return f_varint(1, sec) + f_varint(2, nanos)


def ipv6(text):
    import ipaddress
    return f_bytes(2, ipaddress.IPv6Address(text).packed)


def signed(n):
    # int32 fields are varints of the 64-bit two's complement.
    return n & ((1 << 64) - 1)


record1 = b"".join([
    f_varint(1, 0x0800),                                   # eth_protocol
    f_varint(2, 1),                                        # direction: egress
    f_bytes(3, timestamp(1732185420, 101000000)),          # time_flow_start
    f_bytes(4, timestamp(1732185420, 123999999)),          # time_flow_end
    f_bytes(5, f_varint(1, 0x0A580A800211) + f_varint(2, 0x0A580A81002A)),  # data_link
    f_bytes(6, f_bytes(1, ipv6_mapped(10, 128, 2, 17)) + f_bytes(2, ipv4(10, 129, 0, 42)) + f_varint(3, 10)),
    f_bytes(7, f_varint(1, 51234) + f_varint(2, 8080) + f_varint(3, 6)),  # transport
    f_varint(8, 4512),                                     # bytes
    f_varint(9, 7),                                        # packets
    f_bytes(10, b"eth0"),                                  # interface (ignored: dup_list set)
    f_bytes(12, ipv4(10, 0, 1, 12)),                       # agent_ip
    f_varint(13, 0x112),                                   # flags: SYN|ACK|SYN_ACK
    f_varint(16, 132),                                     # pkt_drop_bytes
    f_varint(17, 2),                                       # pkt_drop_packets
    f_varint(18, 0x10),                                    # pkt_drop_latest_flags
    f_varint(19, 1),                                       # pkt_drop_latest_state: TCP_ESTABLISHED
    f_varint(20, 8),                                       # drop cause: NETFILTER_DROP
    f_varint(21, 4242),                                    # dns_id
    f_varint(22, 0x8183),                                  # dns_flags (rcode 3)
    f_bytes(23, f_varint(2, 3500000)),                     # dns_latency 3.5 ms
    f_bytes(24, f_varint(2, 385000)),                      # time_flow_rtt
    f_bytes(26, f_bytes(1, b"genev_sys_6081") + f_varint(2, 1)),
    f_bytes(26, f_bytes(1, b"ens5") + f_varint(2, 0)),
    f_bytes(27, f_bytes(1, f_bytes(1, b"Action") + f_bytes(2, b"allow"))
            + f_bytes(1, f_bytes(1, b"Type") + f_bytes(2, b"NetworkPolicy"))),
    f_bytes(28, f_bytes(1, ipv4(100, 64, 0, 2)) + f_bytes(2, ipv4(10, 129, 0, 5))
            + f_varint(3, 44321) + f_varint(4, 8443) + f_varint(5, 64000)),
    f_varint(29, 50),                                      # sampling
])

# A QUIC flow with TLS 1.3 on IPv6, an IPsec error, a translation without ports, a drop count
# without a drop cause and a DNS errno without a DNS id.
record2a = b"".join([
    f_varint(1, 0x86DD),                                   # eth_protocol
    f_bytes(3, timestamp(1732185500, 0)),                  # time_flow_start
    f_bytes(4, timestamp(1732185501, 500000000)),          # time_flow_end
    f_bytes(5, f_varint(1, 0x0A580A800211) + f_varint(2, 0x0A580A81002A)),
    f_bytes(6, f_bytes(1, ipv6("fd01::11")) + f_bytes(2, ipv6("2001:db8::443"))),
    f_bytes(7, f_varint(1, 50123) + f_varint(2, 443) + f_varint(3, 17)),  # UDP
    f_varint(8, 9000),                                     # bytes
    f_varint(9, 12),                                       # packets
    f_bytes(12, ipv4(10, 0, 1, 12)),                       # agent_ip
    f_varint(17, 3),                                       # pkt_drop_packets (no cause: not written)
    f_varint(25, 5),                                       # dns_errno (written without a DNS id)
    f_bytes(26, f_bytes(1, b"eth0") + f_varint(2, 1) + f_bytes(3, b"blue")),
    f_bytes(28, f_bytes(1, ipv4(100, 64, 0, 2)) + f_bytes(2, ipv4(10, 129, 0, 5))),  # no ports, zone 0
    f_varint(30, 1),                                       # ipsec_encrypted
    f_varint(31, signed(-22)),                             # ipsec_encrypted_ret: error
    f_bytes(32, b"ignored.example.com"),                   # dns_name (no DNS id: not written)
    f_varint(33, 0x0304),                                  # ssl_version: TLS 1.3
    f_varint(34, 1),                                       # ssl_mismatch
    f_varint(35, 0x23),                                    # tls_types: ClientHello|ServerHello|AppData
    f_varint(36, 0x1301),                                  # tls_cipher_suite
    f_varint(37, 4588),                                    # tls_key_share: X25519MLKEM768
    f_bytes(38, f_varint(1, 1) + f_varint(2, 1) + f_varint(3, 1)),  # quic
])

# A DNS response over TCP/IPv4 with a name longer than the agent's buffer, unknown TLS ids and an
# empty QUIC message.
record2b = b"".join([
    f_varint(1, 0x0800),
    f_varint(2, 0),
    f_bytes(3, timestamp(1732185502, 0)),
    f_bytes(4, timestamp(1732185502, 2000000)),
    f_bytes(5, f_varint(1, 0x0A580A800002) + f_varint(2, 0x0A580A800003)),
    f_bytes(6, f_bytes(1, ipv4(10, 128, 0, 2)) + f_bytes(2, ipv4(172, 30, 0, 10))),
    f_bytes(7, f_varint(1, 40000) + f_varint(2, 53) + f_varint(3, 6)),
    f_varint(8, 120),
    f_varint(9, 1),
    f_bytes(12, ipv4(10, 0, 1, 13)),
    f_varint(13, 0x18),                                    # flags: PSH|ACK
    f_varint(21, 0x1234),                                  # dns_id
    f_varint(22, 0x8180),                                  # dns_flags: NoError
    f_bytes(23, f_varint(2, 1200000)),                     # dns_latency 1.2 ms
    f_bytes(26, f_bytes(1, b"eth0") + f_varint(2, 0)),
    f_bytes(32, b"api.example.com.shop.svc.cluster.local"),  # keeps api.example.com.shop.svc
    f_varint(33, 0x7F1C),                                  # unknown TLS version
    f_varint(36, 0x5600),                                  # TLS_FALLBACK_SCSV: no Go name
    f_varint(37, 30),                                      # unknown group
    f_bytes(38, b""),                                      # quic present, all zero
])

which = sys.argv[1] if len(sys.argv) > 1 else "1"
entries = {"1": [record1], "2": [record2a, record2b]}[which]
sys.stdout.buffer.write(b"".join(f_bytes(1, r) for r in entries))  # Records.entries
