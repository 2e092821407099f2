#!/usr/bin/env python3
"""Writes record1.bin: one pbflow.Records message, encoded by hand from
netobserv-ebpf-agent's proto/flow.proto (field numbers and wire types), independently of the
Rust code under test. Run: python3 encode_record1.py > record1.bin"""
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


record = b"".join([
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

sys.stdout.buffer.write(f_bytes(1, record))               # Records.entries
