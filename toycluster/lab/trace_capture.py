"""The trace's captures: packet sockets armed in every namespace a path can cross, drained into one timeline.

One AF_PACKET socket per network namespace, not bound to an interface (it sees every interface of its
namespace, both directions), except in the machine's own namespace where it is bound to `<cluster>-host`.
Sockets are opened before the request and only read after it: the kernel keeps what they saw in their receive
buffers (4 MiB each), stamped with the kernel's clock (SO_TIMESTAMPNS), so nothing runs while the request is
in flight. ``stop()`` drains and closes every socket: nothing stays behind.

Each frame becomes a Sighting: where (namespace, interface, direction), when, and the IPv4 packet parsed
(addresses, ports, TCP flags/seq/ack, TTL, IP id, payload; ICMP errors with the packet they quote; VXLAN
with the outer addresses and the inner packet). ``key(s)`` identifies the same packet at every hop: NAT
rewrites addresses and ports, never the IP id, TCP sequence numbers or the payload.
(Kept small on purpose: lab/packets.py, the scapy helpers, is for interactive use; this needs only headers.)
"""
from __future__ import annotations

import heapq
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

from toycluster.kernel import nsfs

ETH_P_ALL, ETH_P_IP = 0x0003, 0x0800
SO_TIMESTAMPNS, SO_RCVBUFFORCE = 35, 33
PACKET_OTHERHOST, PACKET_OUTGOING = 3, 4
VXLAN_PORT = 8472
FLAG_NAMES = (("S", 0x02), ("F", 0x01), ("R", 0x04), ("P", 0x08), ("U", 0x20))


@dataclass
class Packet:
    """One IPv4 packet, parsed as far as the trace needs."""
    src: str
    dst: str
    proto: str                      # tcp, udp, icmp
    ttl: int
    ipid: int
    sport: int | None = None
    dport: int | None = None
    flags: str | None = None        # tcpdump's letters: S, S., ., P., F., R, R.
    seq: int = 0
    ack: int = 0
    payload: bytes = b""
    icmp: tuple | None = None       # (type, code, quoted Packet)
    outer: tuple | None = None      # (outer src, outer dst, vni) when it came out of VXLAN


@dataclass
class Sighting:
    """A packet seen at one interface of one namespace at one time."""
    netns: str
    interface: str
    outgoing: bool
    t: float
    pkt: Packet
    order: int = 0                  # the socket's arrival order, to break timestamp ties
    extra: dict = field(default_factory=dict)


def tcp_flags(bits: int) -> str:
    text = "".join(c for c, b in FLAG_NAMES if bits & b)
    return (text + "." if bits & 0x10 else text) or "."


def parse_ip(data: bytes, depth: int = 0) -> Packet | None:
    """The IPv4 packet at the start of DATA (a VXLAN packet's inner one replaces it, with ``outer`` set)."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 15) * 4
    ipid, ttl, proto = struct.unpack("!H", data[4:6])[0], data[8], data[9]
    src, dst = socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20])
    body = data[ihl:struct.unpack("!H", data[2:4])[0] or len(data)]
    if proto == 6 and len(body) >= 20:
        sport, dport, seq, ack, off, bits = struct.unpack("!HHIIBB", body[:14])
        return Packet(src, dst, "tcp", ttl, ipid, sport, dport, tcp_flags(bits), seq, ack, body[(off >> 4) * 4:])
    if proto == 17 and len(body) >= 8:
        sport, dport = struct.unpack("!HH", body[:4])
        if dport == VXLAN_PORT and depth == 0 and len(body) >= 30:
            inner = parse_ip(body[8 + 8 + 14:], 1)
            if inner is not None:
                inner.outer = (src, dst, int.from_bytes(body[12:15], "big"))
                return inner
        return Packet(src, dst, "udp", ttl, ipid, sport, dport, payload=body[8:])
    if proto == 1 and len(body) >= 8:
        quoted = parse_ip(body[8:], depth + 1) if body[0] in (3, 11) else None
        return Packet(src, dst, "icmp", ttl, ipid, icmp=(body[0], body[1], quoted), payload=body[8:])
    return None


def key(p: Packet) -> tuple:
    """What stays the same when NAT rewrites a packet: the same key at two hops is the same packet."""
    if p.proto == "tcp":
        return ("tcp", p.ipid, p.seq, p.ack, p.flags, len(p.payload))
    if p.proto == "icmp":
        q = p.icmp[2] if p.icmp else None
        return ("icmp", p.ipid, p.icmp[:2] if p.icmp else None, key(q) if q else p.payload[:16])
    return ("udp", p.ipid, p.payload[:64])


class Capture:
    """Packet sockets in NAMESPACES (None: the machine's own, bound to HOST_LINK); arm(), then stop()."""

    def __init__(self, namespaces, host_link: str | None = None):
        self.namespaces = list(dict.fromkeys(namespaces))
        self.host_link = host_link
        self.socks: list[tuple[str, socket.socket]] = []

    def arm(self) -> "Capture":
        for ns in self.namespaces:
            if ns is None:
                self.socks.append(("host", self._open(self.host_link)))
                continue
            if not nsfs.netns_exists(ns):
                continue
            with nsfs.in_netns(ns):
                self.socks.append((ns, self._open(None)))
        return self

    @staticmethod
    def _open(bind: str | None) -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if bind:
            s.bind((bind, ETH_P_ALL))
        s.setblocking(False)
        return s

    def stop(self, bridge_ns: str | None = None, peers: dict | None = None, links: dict | None = None):
        """Drain and close every socket; the sightings in order (causal_order with LINKS, else kernel time).
        With BRIDGE_NS and PEERS (port -> the namespace at its other end), a copy the bridge flooded out of a
        port is left out unless the namespace behind that port received it."""
        out: list[Sighting] = []
        try:
            for ns, s in self.socks:
                out += self._drain(ns, s)
        finally:
            self.close()
        out = causal_order(out, links) if links else sorted(out, key=lambda x: (x.t, x.order))
        return unflood(out, bridge_ns, peers) if bridge_ns else out

    def close(self) -> None:
        """Close every socket. A packet socket's close waits for an RCU grace period (~10 ms): in parallel."""
        threads = [threading.Thread(target=s.close) for _, s in self.socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.socks = []

    @staticmethod
    def _drain(ns: str, s: socket.socket) -> list[Sighting]:
        found, order = [], 0
        while True:
            try:
                data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(16))
            except (BlockingIOError, InterruptedError):
                return found
            except OSError:
                return found
            order += 1
            if addr[1] != ETH_P_IP or len(data) < 14:
                continue
            pkt = parse_ip(data[14:])
            if pkt is None:
                continue
            t = 0.0
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    t = sec + nsec / 1e9
            if addr[2] == PACKET_OTHERHOST and not addr[0].startswith("veth") and not ns.endswith((".net", ".inet")):
                continue                            # a bridge's flooded copy, not for this host: dropped by it
            found.append(Sighting(ns, addr[0], addr[2] == PACKET_OUTGOING, t, pkt, order))


def causal_order(sightings: list[Sighting], links: dict) -> list[Sighting]:
    """SIGHTINGS in an order that respects what must come first, with kernel time only as the tie-break.

    A socket's queue is in arrival order, but the clock behind SO_TIMESTAMPNS (CLOCK_REALTIME) can be stepped
    while packets pass (seen here: 5 ms back in the middle of a request), which would put a SYN after its
    answer. So: each namespace's sightings keep their queue order; a packet leaving on one end of a link
    (LINKS: (netns, interface) -> the other end) comes before the same packet arriving at the other end; among
    the sightings free to go next, the earliest stamp goes first. Times are then made non-decreasing."""
    n = len(sightings)
    after: list[list[int]] = [[] for _ in range(n)]
    needs = [0] * n
    last: dict[str, int] = {}
    pending: dict[tuple, list[int]] = {}           # (key, far end) -> outgoing sightings not yet matched
    for i in sorted(range(n), key=lambda i: (sightings[i].netns, sightings[i].order)):
        s = sightings[i]
        if s.netns in last:
            after[last[s.netns]].append(i)
            needs[i] += 1
        last[s.netns] = i
    for i in sorted(range(n), key=lambda i: (sightings[i].t, sightings[i].order)):
        s = sightings[i]
        far = links.get((s.netns, s.interface))
        if s.outgoing and far:
            pending.setdefault((key(s.pkt), far), []).append(i)
    for i in range(n):
        s = sightings[i]
        waiting = pending.get((key(s.pkt), (s.netns, s.interface))) if not s.outgoing else None
        if waiting:
            j = waiting.pop(0)
            after[j].append(i)
            needs[i] += 1
    ready = [(sightings[i].t, i) for i in range(n) if needs[i] == 0]
    heapq.heapify(ready)
    out: list[Sighting] = []
    while ready:
        _, i = heapq.heappop(ready)
        out.append(sightings[i])
        for j in after[i]:
            needs[j] -= 1
            if needs[j] == 0:
                heapq.heappush(ready, (sightings[j].t, j))
    if len(out) < n:                               # a cycle: cannot happen with true links; keep the stamps
        return sorted(sightings, key=lambda x: (x.t, x.order))
    for a, b in zip(out, out[1:]):
        b.t = max(b.t, a.t)
    return out


def unflood(sightings: list[Sighting], bridge_ns: str, peers: dict) -> list[Sighting]:
    """SIGHTINGS without the bridge's copies out of ports whose far end never received them (flooding)."""
    got = {(s.netns, key(s.pkt), s.pkt.src, s.pkt.dst) for s in sightings if not s.outgoing}
    return [s for s in sightings if not (s.netns == bridge_ns and s.outgoing and
                                         (peers.get(s.interface), key(s.pkt), s.pkt.src, s.pkt.dst) not in got)]


def conntrack_lines(netns: str, wanted) -> list[str]:
    """Lines of NETNS's conntrack table (/proc/thread-self/net/nf_conntrack) that mention every string of one of
    WANTED's tuples, without the kernel's per-line prefix; [] if the table cannot be read."""
    try:
        with nsfs.in_netns(netns), open("/proc/thread-self/net/nf_conntrack") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] == "ipv4":
            line = " ".join(parts[2:])
        if any(all(w in line.split() for w in tup) for tup in wanted):
            out.append(line)
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
