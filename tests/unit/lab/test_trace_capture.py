"""trace's packet reading, without sockets: IPv4/TCP/UDP/ICMP/VXLAN parsed from bytes, the key NAT leaves alone,
flooded bridge copies left out, and the routes picked as the kernel's main table would."""
import socket
import struct

from toycluster.lab import trace_capture as tc
from toycluster.lab.trace_follow import pick_route


def ip(src, dst, proto, body, ttl=64, ipid=7):
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ipid, 0x4000, ttl, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    return head + body


def tcp(sport, dport, flags, seq=1000, ack=0, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def test_tcp_parsed_and_key_survives_nat():
    before = tc.parse_ip(ip("10.244.1.3", "10.96.5.5", 6, tcp(40000, 80, 0x02)))
    after = tc.parse_ip(ip("10.244.1.3", "10.244.2.3", 6, tcp(40000, 8080, 0x02), ttl=63))
    assert (before.src, before.sport, before.dst, before.dport, before.flags) == ("10.244.1.3", 40000, "10.96.5.5", 80, "S")
    assert tc.key(before) == tc.key(after) and after.ttl == 63
    synack = tc.parse_ip(ip("10.244.2.3", "10.244.1.3", 6, tcp(8080, 40000, 0x12, seq=5, ack=1001)))
    assert synack.flags == "S." and tc.key(synack) != tc.key(before)
    data = tc.parse_ip(ip("10.244.1.3", "10.96.5.5", 6, tcp(40000, 80, 0x18, payload=b"GET / HTTP/1.1\r\n")))
    assert data.flags == "P." and data.payload.startswith(b"GET")


def test_icmp_quotes_the_packet_and_vxlan_gives_the_inner_one():
    quoted = ip("10.244.1.3", "10.96.7.7", 6, tcp(40000, 80, 0x02))
    err = tc.parse_ip(ip("10.244.1.1", "10.244.1.3", 1, bytes([3, 3, 0, 0, 0, 0, 0, 0]) + quoted))
    assert err.proto == "icmp" and err.icmp[:2] == (3, 3) and err.icmp[2].dport == 80
    inner = ip("10.244.1.3", "10.244.2.3", 6, tcp(40000, 8080, 0x02))
    vxlan = struct.pack("!HHHH", 50000, 8472, 8 + 8 + 14 + len(inner), 0) + bytes([8, 0, 0, 0, 0, 0, 1, 0]) \
        + b"\x00" * 12 + b"\x08\x00" + inner
    p = tc.parse_ip(ip("192.168.50.11", "192.168.50.12", 17, vxlan))
    assert (p.src, p.dst, p.outer) == ("10.244.1.3", "10.244.2.3", ("192.168.50.11", "192.168.50.12", 1))


def test_unflood_keeps_the_port_whose_far_end_took_it():
    pkt = tc.parse_ip(ip("10.244.1.3", "10.244.2.3", 6, tcp(40000, 8080, 0x02)))
    seen = [tc.Sighting("t.net", "node1", False, 1.0, pkt), tc.Sighting("t.net", "node2", True, 1.1, pkt),
            tc.Sighting("t.net", "lb", True, 1.1, pkt), tc.Sighting("t.node2", "eth0", False, 1.2, pkt)]
    kept = tc.unflood(seen, "t.net", {"node1": "t.node1", "node2": "t.node2", "lb": "t.lb"})
    assert [(s.netns, s.interface) for s in kept] == [("t.net", "node1"), ("t.net", "node2"), ("t.node2", "eth0")]


def test_routes_longest_prefix():
    n = lambda a: struct.unpack("!I", socket.inet_aton(a))[0]  # noqa: E731
    routes = [("eth0", 0, n("10.0.0.254"), 0), ("cni0", n("10.244.1.0"), 0, n("255.255.255.0")),
              ("eth0", n("10.244.2.0"), n("192.168.50.12"), n("255.255.255.0"))]
    assert pick_route(routes, "10.244.2.3") == "10.244.2.0/24 via 192.168.50.12 dev eth0"
    assert pick_route(routes, "10.244.1.9") == "10.244.1.0/24 dev cni0"
    assert pick_route(routes, "8.8.8.8") == "default via 10.0.0.254 dev eth0"


def test_causal_order_survives_a_clock_step():
    """The SYN is stamped 5 ms after its answer (CLOCK_REALTIME stepped back): queue order and links win."""
    syn = tc.parse_ip(ip("10.244.1.3", "10.96.5.5", 6, tcp(40000, 80, 0x02)))
    ans = tc.parse_ip(ip("10.96.5.5", "10.244.1.3", 6, tcp(80, 40000, 0x12, seq=9, ack=1001)))
    seen = [tc.Sighting("pod", "eth0", True, 10.005, syn, order=1),
            tc.Sighting("node", "vethX", False, 10.006, syn, order=1),
            tc.Sighting("node", "vethX", True, 10.000, ans, order=2),
            tc.Sighting("pod", "eth0", False, 10.001, ans, order=2)]
    links = {("pod", "eth0"): ("node", "vethX"), ("node", "vethX"): ("pod", "eth0")}
    out = tc.causal_order(list(reversed(seen)), links)
    assert [(s.netns, s.pkt.flags) for s in out] == [("pod", "S"), ("node", "S"), ("node", "S."), ("pod", "S.")]
    assert [s.t for s in out] == sorted(s.t for s in out)
