"""The trace's data: what `toycluster trace` found (or `--explain` computed), as dataclasses and JSON.

One Trace is: the request asked for, the DNS queries made first (when a name was given), the hops in the
order the packets crossed them (there and back, every connection of the path), the connections themselves
(a proxy such as the ingress controller ends one and opens another: they are joined by ``continues_as``),
and the result. ``to_json``/``from_json`` are the exchange format `--diagram` and `graph --path` read; the
shape (keys, nesting, nulls) is the one in tests/unit/lab/trace_sample.json:

    {"request": {"from", "target", "proto", "explain"},
     "dns": [{"name", "type", "server", "answers", "rcode", "tried"}],
     "hops": [{"n", "t", "leg", "connection", "netns", "where", "interface", "src", "sport", "dst", "dport",
               "flags", "ttl", "outer": null | {"src", "dst", "vni"},
               "change": null | {"what", "table", "chain", "rule", "comment", "object", "before", "after"},
               "route", "conntrack", "note", "also": [change, ...]}],
     "connections": [{"id", "client", "server", "proto", "opened_by", "continues_as"}],
     "result": {"ok", "summary", "stopped_at", "why"}}

``t`` is seconds since the first packet (kernel timestamps); ``leg`` is "request" or "reply"; ``change.what``
is one of CHANGES. Extensions beyond the first sketch: ``hop.note`` (free text), ``hop.also``
(more changes at the same hop; ``change`` holds the first), ``connections``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

CHANGES = ("DNAT", "SNAT", "MASQUERADE", "DROP", "REJECT", "ROUTE", "PROXY", "ACCEPT")
LEGS = ("request", "reply")


@dataclass
class Request:
    """What was asked: from where, to what, over which protocol, and whether it was only computed."""
    source: str = "host"                     # "from" in JSON: a pod, node1, user, host
    target: str = ""
    proto: str = "tcp"
    explain: bool = False

    def to_dict(self) -> dict:
        return {"from": self.source, "target": self.target, "proto": self.proto, "explain": self.explain}

    @classmethod
    def from_dict(cls, d: dict) -> "Request":
        return cls(source=d.get("from", "host"), target=d.get("target", ""), proto=d.get("proto", "tcp"),
                   explain=bool(d.get("explain", False)))


@dataclass
class DnsQuery:
    """One name resolved: the search-path expansions tried, the server asked, the answer."""
    name: str
    type: str = "A"
    server: str = ""
    answers: list[str] = field(default_factory=list)
    rcode: str = "NOERROR"
    tried: list[str] = field(default_factory=list)


@dataclass
class Outer:
    """The outer header of an encapsulated packet (VXLAN)."""
    src: str
    dst: str
    vni: int = 1


@dataclass
class Change:
    """What changed the packet at a hop and why: the rule (table, chain, number, comment) and its API object."""
    what: str                                # one of CHANGES
    table: str | None = None
    chain: str | None = None
    rule: int | None = None
    comment: str | None = None
    object: str | None = None                # "Service default/web, endpoint 10.244.2.3:8080"
    before: str | None = None                # "10.96.5.5:80"
    after: str | None = None


@dataclass
class Hop:
    """The packet as seen at one interface of one namespace, and what was done to it there."""
    n: int
    t: float | None
    leg: str                                 # "request" or "reply"
    connection: int
    netns: str
    where: str                               # "pod default/client", "node1", "load balancer", ...
    interface: str
    src: str
    sport: int | None
    dst: str
    dport: int | None
    flags: str | None = None                 # TCP flags as tcpdump writes them: S, S., ., P., F., R
    ttl: int | None = None
    outer: Outer | None = None
    change: Change | None = None
    route: str | None = None
    conntrack: str | None = None
    note: str | None = None
    also: list[Change] = field(default_factory=list)    # further changes at the same hop (a MASQUERADE after a DNAT)


@dataclass
class Connection:
    """One transport connection of the path; a proxy that ends it opens ``continues_as``."""
    id: int
    client: str                              # "10.244.1.3:40000"
    server: str                              # "10.96.5.5:80" as the client addressed it
    proto: str = "tcp"
    opened_by: str | None = None             # None for the client's own; "ingress-nginx pod ..." for a proxy's
    continues_as: int | None = None


@dataclass
class Result:
    """How it ended: ok, a one-line summary, and for a failure the hop it stopped at and why."""
    ok: bool
    summary: str = ""
    stopped_at: int | None = None            # the hop's n
    why: str | None = None


@dataclass
class Trace:
    """The whole trace."""
    request: Request
    dns: list[DnsQuery] = field(default_factory=list)
    hops: list[Hop] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    result: Result = field(default_factory=lambda: Result(ok=False))

    def to_dict(self) -> dict:
        return {"request": self.request.to_dict(), "dns": [asdict(q) for q in self.dns],
                "hops": [asdict(h) for h in self.hops], "connections": [asdict(c) for c in self.connections],
                "result": asdict(self.result)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict) -> "Trace":
        return cls(request=Request.from_dict(d.get("request", {})),
                   dns=[_build(DnsQuery, q) for q in d.get("dns", [])],
                   hops=[_hop(h) for h in d.get("hops", [])],
                   connections=[_build(Connection, c) for c in d.get("connections", [])],
                   result=_build(Result, d.get("result", {"ok": False})))

    @classmethod
    def from_json(cls, text: str) -> "Trace":
        return cls.from_dict(json.loads(text))


def _build(kind, d: dict):
    """KIND from dict D, ignoring keys it does not know (a newer writer's extensions)."""
    known = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in d.items() if k in known})


def _hop(d: dict) -> Hop:
    h = _build(Hop, d)
    h.outer = _build(Outer, d["outer"]) if d.get("outer") else None
    h.change = _build(Change, d["change"]) if d.get("change") else None
    h.also = [_build(Change, c) for c in d.get("also") or []]
    return h


def to_json(trace: Trace, indent: int | None = 2) -> str:
    """The trace as JSON text (the shape in this module's docstring)."""
    return trace.to_json(indent)


def from_json(text: str) -> Trace:
    """A Trace back from to_json's text."""
    return Trace.from_json(text)
