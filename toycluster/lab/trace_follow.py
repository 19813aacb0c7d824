"""From captured sightings to hops: which packets are this request's, and what happened to them at each hop.

The client's socket gives the first connection's addresses as its own namespace saw them; every packet seen
there on that connection has a key (capture.key: IP id, TCP sequence numbers, flags, payload length) that NAT
does not change, so the same key elsewhere is the same packet at another hop, whatever its addresses became.
A proxy's connection (the ingress controller's to the Service) is found by the request's tag in its payload
and followed the same way from the proxy's namespace. Shown per connection: its first packet out and its
first packet back (where the NAT decisions are made), and for the client's connection behind a proxy the
answer too. Between two sightings of one packet in one namespace, a change of address is a rewrite: named
with its rule by trace_rules, with the conntrack entry that will reverse it, and the route that sent it on.
"""
from __future__ import annotations

import socket
import struct

from toycluster.kernel import nsfs
from toycluster.lab import trace_rules
from toycluster.lab.trace_capture import Sighting, conntrack_lines, key
from toycluster.lab.trace_model import Change, Hop, Outer


def tup(p) -> tuple:
    return (p.src, p.sport, p.dst, p.dport)


def rev(t: tuple) -> tuple:
    return (t[2], t[3], t[0], t[1])


def connection_keys(sightings: list[Sighting], origin: str, client: tuple, proto: str) -> tuple[list, list]:
    """Keys of the request packets and of the reply packets (ICMP errors quoting ours included) at ORIGIN."""
    req, rep = [], []
    for s in sightings:
        if s.netns != origin:
            continue
        p = s.pkt
        if p.proto == proto and tup(p) == client and key(p) not in req:
            req.append(key(p))
        elif p.proto == proto and tup(p) == rev(client) and key(p) not in rep:
            rep.append(key(p))
        elif p.proto == "icmp" and p.icmp and p.icmp[2] and tup(p.icmp[2]) == client and key(p) not in rep:
            rep.append(key(p))
    return req, rep


def proxied(sightings: list[Sighting], tag: bytes, known: set) -> tuple[str, tuple] | None:
    """(namespace, addresses there) of the first packet not of KNOWN that carries TAG: a proxy's connection."""
    for s in sightings:
        if s.outgoing and s.pkt.proto == "tcp" and tag in s.pkt.payload and key(s.pkt) not in known:
            return s.netns, tup(s.pkt)
    return None


def shown_keys(sightings, req: list, rep: list, after: float | None) -> list[tuple]:
    """(key, leg) of the packets a table shows for one connection: first out, first back, and the answer
    that comes back after AFTER (the position in SIGHTINGS, which are in causal order, where a proxied
    connection ended) when there is one."""
    out = [(req[0], "request")] if req else []
    if rep:
        out.append((rep[0], "reply"))
    if after is not None:
        when = {key(s.pkt): i for i, s in enumerate(sightings)}
        late = [k for k in rep[1:] if when.get(k, 0) > after and k[0] == "tcp" and k[5] > 0]
        if late:
            out.append((late[0], "reply"))
    return out


class HopBuilder:
    """Hops from sightings, numbered in time order, with rewrites, routes and conntrack entries named."""

    def __init__(self, state, sightings: list[Sighting]):
        self.state, self.sightings = state, sightings
        self.pos = {id(s): i for i, s in enumerate(sightings)}
        self.by_key: dict[tuple, list[Sighting]] = {}
        for s in sightings:
            self.by_key.setdefault(key(s.pkt), []).append(s)
        self.requests: dict[tuple, list[Change]] = {}      # (netns, conn) -> the request's changes there
        self.routes: dict[str, list] = {}

    def origin(self, k: tuple) -> str | None:
        """The namespace that made packet K: it sent it out without having received it."""
        seen = self.by_key.get(k, [])
        took = {s.netns for s in seen if not s.outgoing}
        return next((s.netns for s in seen if s.outgoing and s.netns not in took), seen[0].netns if seen else None)

    def hops(self, shown: list[tuple]) -> list[Hop]:
        """SHOWN: (key, leg, connection) -> the hops, in kernel-time order."""
        rows = []
        for k, leg, conn in shown:
            seen = self.by_key.get(k, [])
            for i, s in enumerate(seen):
                rows.append((s.t, self.pos[id(s)], s, leg, conn, seen[:i]))
        rows.sort(key=lambda r: r[1])                      # the captures' order (trace_capture.causal_order)
        t0 = rows[0][0] if rows else 0.0
        hops = []
        for t, _, s, leg, conn, before in rows:
            hops.append(self.hop(len(hops) + 1, round(t - t0, 6), s, leg, conn, before))
        return hops

    def hop(self, n: int, t: float, s: Sighting, leg: str, conn: int, before: list[Sighting]) -> Hop:
        p = s.pkt
        h = Hop(n=n, t=t, leg=leg, connection=conn, netns=s.netns, where=self.state.where(s.netns),
                interface=s.interface, src=p.src, sport=p.sport, dst=p.dst, dport=p.dport,
                flags=p.flags if p.proto == "tcp" else (f"icmp {p.icmp[0]}/{p.icmp[1]}" if p.icmp else None),
                ttl=p.ttl, outer=Outer(*p.outer) if p.outer else None)
        here = []                      # this packet's sightings in this namespace just before this one
        for b in reversed(before):
            if b.netns != s.netns:
                break
            here.insert(0, b)
        if here and tup(here[-1].pkt) != tup(p) and p.proto != "icmp":
            changes = self.changes(s.netns, tup(here[0].pkt), tup(p), p.proto, leg, conn, here[0].outgoing)
            changes = [c for c in changes if _new_here(c, tup(here[-1].pkt), tup(p))]
            if changes:
                h.change, h.also = changes[0], changes[1:]
                h.conntrack = self.conntrack(s.netns, tup(here[0].pkt), leg)
        if s.outgoing and not any(b.outgoing for b in here) and not s.netns.endswith(".net"):
            h.route = self.route(s.netns, p.dst)
        return h

    def changes(self, netns, pre, post, proto, leg, conn, local) -> list[Change]:
        if leg == "reply":
            return self.reverse(netns, pre, post, conn)
        node = self.state.node_of_netns(netns)
        if node is not None:
            out = trace_rules.node_changes(self.state, node, pre, post, proto, local)
        elif netns == f"{self.state.cfg.name}.lb":
            out = trace_rules.lb_changes(self.state, pre, post)
        else:
            out = [Change("SNAT" if pre[2:] == post[2:] else "DNAT", before=f"{pre[2]}:{pre[3]}",
                          after=f"{post[2]}:{post[3]}")]
        self.requests[(netns, conn)] = out
        return out

    def reverse(self, netns, pre, post, conn) -> list[Change]:
        """A reply's addresses put back by conntrack: the reverse of the request's rewrites in this namespace."""
        out = []
        for c in self.requests.get((netns, conn), []):
            if c.what == "DNAT" and pre[:2] != post[:2]:
                out.append(Change("DNAT", c.table, c.chain, c.rule, "reversed by conntrack (un-DNAT)", c.object,
                                  f"{pre[0]}:{pre[1]}", f"{post[0]}:{post[1]}"))
            elif c.what in ("MASQUERADE", "SNAT") and pre[2:] != post[2:]:
                out.append(Change(c.what, c.table, c.chain, c.rule, "reversed by conntrack (un-SNAT)", c.object,
                                  f"{pre[2]}:{pre[3]}", f"{post[2]}:{post[3]}"))
        return out

    def conntrack(self, netns: str, pre: tuple, leg: str) -> str | None:
        orig = pre if leg == "request" else rev(pre)
        want = [(f"src={orig[0]}", f"dst={orig[2]}", f"sport={orig[1]}", f"dport={orig[3]}")]
        lines = conntrack_lines(netns, want)
        return lines[0] if lines else None

    def route(self, netns: str, dst: str) -> str | None:
        """The route NETNS's main table picks for DST (read from /proc/thread-self/net/route)."""
        if netns == "host":
            return None
        if netns not in self.routes:
            self.routes[netns] = read_routes(netns)
        return pick_route(self.routes[netns], dst)


def _new_here(c: Change, prev: tuple, now: tuple) -> bool:
    """Did change C happen between the previous sighting (PREV) and this one (NOW)? A DNAT or its reverse moves
    the destination of a request and the source of a reply; a masquerade the other end."""
    moved_src, moved_dst = prev[:2] != now[:2], prev[2:] != now[2:]
    if c.what in ("DNAT",):
        return moved_dst if c.before == f"{prev[2]}:{prev[3]}" else moved_src
    if c.what in ("MASQUERADE", "SNAT"):
        return moved_src if c.before == f"{prev[0]}:{prev[1]}" else moved_dst
    return True


def read_routes(netns: str) -> list:
    try:
        with nsfs.in_netns(netns), open("/proc/thread-self/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    routes = []
    for line in lines:
        f = line.split()
        dst, gw, mask = (struct.unpack("!I", struct.pack("<I", int(x, 16)))[0] for x in (f[1], f[2], f[7]))
        routes.append((f[0], dst, gw, mask))
    return routes


def pick_route(routes: list, dst: str) -> str | None:
    addr = struct.unpack("!I", socket.inet_aton(dst))[0]
    best = None
    for dev, net, gw, mask in routes:
        if addr & mask == net and (best is None or bin(mask).count("1") > bin(best[3]).count("1")):
            best = (dev, net, gw, mask)
    if best is None:
        return None
    dev, net, gw, mask = best
    plen = bin(mask).count("1")
    text = "default" if plen == 0 else f"{socket.inet_ntoa(struct.pack('!I', net))}/{plen}"
    return text + (f" via {socket.inet_ntoa(struct.pack('!I', gw))}" if gw else "") + f" dev {dev}"
