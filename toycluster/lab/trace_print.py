"""The trace as a table: DNS queries first, one row per hop there and back, then how it ended.

Each hop is one row (where, interface, the packet as seen there); what changed it is written under it: the
rule (table, chain, number, comment) and the API object behind it, the conntrack entry that reverses it, the
route that sent it on. A proxy's first hop says which connection it ended and which it opened.
"""
from __future__ import annotations

from toycluster.lab.trace_model import Change, Hop, Trace

ARROW = {"request": "->", "reply": "<-"}


def _addr(ip, port) -> str:
    return f"{ip}:{port}" if port is not None else str(ip)


def _change(c: Change) -> list[str]:
    rule = " ".join(x for x in (c.table, c.chain, f"#{c.rule}" if c.rule else None) if x)
    head = f"{c.what}" + (f" {c.before} -> {c.after}" if c.before and c.after else
                          f" {c.before}" if c.before else "")
    lines = [head + (f"   by {rule}" if rule else "") + (f' "{c.comment}"' if c.comment else "")]
    if c.object:
        lines.append(f"  {c.object}")
    return lines


def hop_lines(h: Hop, width: int) -> list[str]:
    pkt = f"{_addr(h.src, h.sport)} > {_addr(h.dst, h.dport)}"
    t = f"{h.t * 1000:8.3f}" if h.t is not None else "       -"
    row = f"{h.n:>3} {t} {h.connection:>2}{ARROW.get(h.leg, '  ')} {h.where:<{width}} {h.interface:<13} " \
          f"{pkt:<44} {h.flags or '':<6} {h.ttl if h.ttl is not None else '':>3}"
    out = [row.rstrip()]
    pad = " " * 19
    if h.outer:
        out.append(f"{pad}VXLAN outer {h.outer.src} > {h.outer.dst} vni {h.outer.vni}")
    for c in ([h.change] if h.change else []) + list(h.also):
        out += [pad + line for line in _change(c)]
    if h.conntrack:
        out.append(f"{pad}conntrack: {h.conntrack}")
    if h.route:
        out.append(f"{pad}route: {h.route}")
    if h.note:
        out.append(f"{pad}{h.note}")
    return out


def render(trace: Trace) -> str:
    r = trace.request
    lines = [f"trace from {r.source} to {r.target} ({r.proto}{', computed, no packet sent' if r.explain else ''})"]
    for q in trace.dns:
        lines.append(f"DNS {q.type} {q.name} @{q.server}: {q.rcode} {', '.join(q.answers) or '(no answer)'}"
                     + (f"   (tried {', '.join(q.tried)})" if len(q.tried) > 1 else ""))
    for c in trace.connections:
        join = f", ends at the proxy, which opens connection {c.continues_as}" if c.continues_as else ""
        lines.append(f"connection {c.id}: {c.client} > {c.server} ({c.proto})"
                     + (f", opened by {c.opened_by}" if c.opened_by else "") + join)
    width = max([len(h.where) for h in trace.hops] + [5])
    lines.append(f"{'N':>3} {'T(ms)':>8} {'C':>2}   {'WHERE':<{width}} {'INTERFACE':<13} {'PACKET':<44} "
                 f"{'FLAGS':<6} TTL")
    for h in trace.hops:
        lines += hop_lines(h, width)
    res = trace.result
    if res.ok:
        lines.append(f"result: ok, {res.summary}")
    else:
        where = f" at hop {res.stopped_at}" if res.stopped_at else ""
        lines.append(f"result: FAILED ({res.summary}){where}: {res.why}")
    return "\n".join(lines) + "\n"
