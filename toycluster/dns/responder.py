"""CoreDNS's answers, kept as wire templates: a Responder answers from one version of the zone.

Responder.respond() answers from a Zone and keeps each answer to a plain query (one question, no EDNS,
flags RD or none, nothing after the question) as a template keyed by the query's bytes 2..end with the
name lowercased: the UDP loop then answers a repeated question with ID + template header + the question as
it was asked (its case kept: DNS 0x20) + template tail, without parsing anything.
"""
from __future__ import annotations

from dataclasses import dataclass

from toycluster.dns.zone import Zone
from toycluster.wire.dns import SERVFAIL, T_SOA, Drop, Query, describe, parse_query, render

CACHE_LIMIT = 50000              # templates kept per zone version: random names must not eat the memory


@dataclass(slots=True)
class Reply:
    wire: bytes
    query: Query
    rcode: int
    log: str                            # '"A IN name. udp 47 false 512" NOERROR qr,aa,rd 98', CoreDNS's log fields
    forward: bool = False               # an upstream should answer instead (when one is configured)
    chase: str | None = None            # an ExternalName target an upstream could resolve


class Responder:
    """Answers from one version of the zone; its templates live as long as it does. UPSTREAM: whether the
    server has an upstream resolver (then names outside the zone are forwarded, not answered here)."""

    def __init__(self, zone: Zone, upstream: bool = False):
        self.zone, self.upstream = zone, upstream
        self.udp, self.tcp = {}, {}         # key -> (header bytes 2..12, tail after the question, log fields,
        #                                           the names it was made from, or None if it holds the SOA)
        self.templates = {"udp": self.udp, "tcp": self.tcp}

    @staticmethod
    def key(data: bytes) -> bytes:
        return data[2:-4].lower() + data[-4:]

    def respond(self, data: bytes, proto: str = "udp") -> Reply | None:
        """The reply to DATA, or None when it gets none. Never raises."""
        data = bytes(data)
        try:
            q = parse_query(data)
        except Drop:
            return None
        try:
            answer, rcode = None, q.error
            if not q.error:
                answer = self.zone.lookup(tuple(x.lower() for x in q.labels), q.qtype)
                rcode = answer.rcode
            wire = render(q, answer, rcode, proto)
        except Exception:                      # a bug must cost one answer, not the server
            answer, rcode, q.plain = None, SERVFAIL, False
            try:
                wire = render(q, None, SERVFAIL, proto)
            except Exception:
                return None
        reply = Reply(wire, q, rcode, describe(q, proto, wire, rcode))
        if answer is not None and self.upstream and (answer.forward or answer.chase):
            reply.forward, reply.chase = answer.forward, answer.chase
        elif q.plain:
            cache = self.templates[proto]
            if len(cache) < CACHE_LIMIT:
                qlen = 12 + len(q.question)
                deps = None                     # None: carries the SOA (its serial), or came from an error
                if answer is not None and not any(rr.rtype == T_SOA for rr in answer.answer + answer.authority):
                    deps = frozenset(answer.deps)
                cache[self.key(data)] = (wire[2:12], wire[qlen:], reply.log, deps)
        return reply

    def inherit(self, old: "Responder", changed: set | None) -> None:
        """Keep OLD's templates that are still right: they carry no SOA and none of their names CHANGED."""
        if changed is None or old.upstream != self.upstream:
            return
        for proto, cache in self.templates.items():
            for key, t in list(old.templates[proto].items()):
                if t[3] is not None and not (t[3] & changed):
                    cache.setdefault(key, t)

    def fast(self, data: bytes, proto: str = "udp") -> bytes | None:
        """The templated answer to DATA if there is one (what the UDP loop inlines)."""
        t = self.templates[proto].get(data[2:-4].lower() + data[-4:])
        return None if t is None else data[:2] + t[0] + data[12:] + t[1]
