"""`trace --diagram`: a trace as a sequence diagram, Mermaid text (sequenceDiagram) or SVG drawn by Graphviz.

Participants are the places the packets were seen, in the order they were first seen (the user or client pod,
the load balancer's legs, the nodes' eth0, veths and bridges, the ingress controller, the target pod); each hop
is a message from the previous hop's place to its own, labelled with the packet as seen there; each rewrite
(the rule, its chain and the object behind it) is a note over the place where it happened; replies are dashed.
DNS queries come first, the result last. The SVG is laid out here (a column per participant, a row per
message) and drawn by Graphviz's `neato -n2` (positions kept as given): the same `graphviz` package `graph`
uses, no browser needed (Mermaid's own renderer, mermaid-cli, drives a headless Chromium).
"""
import textwrap

from toycluster.lab.graph_overlay import change_text, hop_text
from toycluster.lab.graph_render import graphviz


def _hops(trace: dict) -> list[dict]:
    return sorted(trace.get("hops") or [], key=lambda h: (h.get("n") is None, h.get("n") or 0))


def _place_name(hop: dict) -> str:
    where = hop.get("where") or hop.get("netns") or "?"
    where = where[4:] if where.startswith("pod ") else where
    return f"{where} {hop.get('interface') or ''}".strip()


def events(trace: dict) -> tuple[list[str], list[tuple]]:
    """(participants, events): ("msg", from, to, text, reply) and ("note", [participants], text) in order."""
    parts: list[str] = []

    def part(name: str) -> int:
        if name not in parts:
            parts.append(name)
        return parts.index(name)

    hops, out = _hops(trace), []
    client = part(_place_name(hops[0])) if hops else part(str((trace.get("request") or {}).get("from") or "client"))
    for q in trace.get("dns") or []:
        server = part(f"DNS {q.get('server') or '?'}")
        tried = [t for t in q.get("tried") or [] if t != q.get("name")]
        out.append(("msg", client, server, f"{q.get('type', 'A')} {q.get('name')}?"
                    + (f" (tried {', '.join(tried)})" if tried else ""), False))
        out.append(("msg", server, client, f"{q.get('rcode', '')} {', '.join(q.get('answers') or []) or 'no answer'}",
                    True))
    connections = {c.get("id"): c for c in trace.get("connections") or []}
    prev, prev_conn = None, None
    for hop in hops:
        here = part(_place_name(hop))
        conn = hop.get("connection")
        if prev_conn is not None and conn != prev_conn and conn in connections and hop.get("leg") != "reply":
            c = connections[conn]
            if c.get("opened_by"):
                out.append(("note", [here], f"connection {conn}: {c.get('client')} → {c.get('server')}, "
                                            f"opened by {c['opened_by']}"))
        if prev is not None and prev != here:
            out.append(("msg", prev, here, hop_text(hop), hop.get("leg") == "reply"))
        if hop.get("change"):
            ch = hop["change"]
            text = change_text(ch) + (f"\n{ch['object']}" if ch.get("object") else "")
            out.append(("note", [here], f"{hop.get('n', '?')}: {text}"))
        if hop.get("note") and not (hop.get("change") and hop["change"].get("what") == "PROXY"):
            out.append(("note", [here], hop["note"]))
        prev, prev_conn = here, conn
    result = trace.get("result") or {}
    if result:
        ok = result.get("ok")
        text = ("✔ " if ok else "✘ ") + (result.get("summary") or "")
        if not ok and (result.get("stopped_at") is not None or result.get("why")):
            text += f" stopped at hop {result.get('stopped_at')}: {result.get('why') or ''}"
        out.append(("note", sorted({0, len(parts) - 1}), text.strip()))
    return parts, out


def title(trace: dict) -> str:
    req = trace.get("request") or {}
    how = " (computed, --explain)" if req.get("explain") else ""
    return f"trace {req.get('from', '?')} → {req.get('target', '?')} {req.get('proto', '')}{how}".strip()


_ENTITIES = str.maketrans({"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", "\n": "<br/>"})


def _mm(text: str) -> str:
    """Text for a Mermaid message or note: the characters its parser would take as syntax, as entities."""
    return text.translate(_ENTITIES)


def to_mermaid(trace: dict) -> str:
    """The trace as Mermaid's sequenceDiagram text."""
    parts, evs = events(trace)
    out = ["sequenceDiagram", f"  title {_mm(title(trace))}"]
    out += [f"  participant p{i} as {_mm(name)}" for i, name in enumerate(parts)]
    for ev in evs:
        if ev[0] == "msg":
            _, a, b, text, reply = ev
            out.append(f"  p{a}{'-->>' if reply else '->>'}p{b}: {_mm(text)}")
        else:
            _, who, text = ev
            out.append(f"  Note over {','.join(f'p{i}' for i in who)}: {_mm(text)}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- SVG through Graphviz (neato -n2)
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(trace: dict) -> str:
    """The sequence diagram as DOT with every position fixed (for `neato -n2`)."""
    parts, evs = events(trace)
    longest = max([len(p) for p in parts] + [len(line) for e in evs if e[0] == "msg" for line in e[3].split("\n")]
                  + [0])
    col = min(max(160, int(longest * 5.6) + 24), 340)
    wrap = max(24, int(col * 1.6 / 5.6))
    rows, y = [], 0
    for ev in evs:
        lines = (ev[3].split("\n") if ev[0] == "msg"
                 else [w for line in ev[2].split("\n") for w in textwrap.wrap(line, wrap) or [""]])
        h = 12 * len(lines) + (22 if ev[0] == "msg" else 14)
        rows.append((ev, lines, y, h))
        y += h
    top, bottom = y + 40, -10
    out = ["digraph sequence {", f'  graph [splines=false, outputorder=edgesfirst, label={_q(title(trace))}, '
           'labelloc=t, fontname="Helvetica", fontsize=12, bgcolor=white, pad=0.3];',
           '  node [fontname="Helvetica", fontsize=9];', '  edge [arrowsize=0.7];']
    for i, name in enumerate(parts):
        x = 20 + col * i + col // 2
        for key, py in (("h", top), ("f", bottom)):
            out.append(f'  {key}{i} [shape=box, style="rounded,filled", fillcolor="#e8f0fe", color="#1f6feb", '
                       f'label={_q(name)}, pos="{x},{py}!"];')
        out.append(f'  h{i} -> f{i} [style=dashed, color="#9aa7b8", arrowhead=none];')
    for k, (ev, lines, y0, h) in enumerate(rows):
        y = top - 30 - y0 - h // 2
        if ev[0] == "msg":
            _, a, b, _, reply = ev
            xa, xb = 20 + col * a + col // 2, 20 + col * b + col // 2
            color = "#1565c0" if reply else "#d62728"
            out.append(f'  m{k}a [shape=point, width=0.01, pos="{xa},{y - 8}!"];')
            out.append(f'  m{k}b [shape=point, width=0.01, pos="{xb},{y - 8}!"];')
            out.append(f'  m{k}a -> m{k}b [color="{color}"{", style=dashed" if reply else ""}];')
            out.append(f'  t{k} [shape=plaintext, fontsize=8, fontcolor="{color}", label={_q(chr(10).join(lines))}, '
                       f'pos="{(xa + xb) // 2},{y + 4 + 6 * (len(lines) - 1)}!"];')
        else:
            _, who, _ = ev
            xs = [20 + col * i + col // 2 for i in who]
            out.append(f'  t{k} [shape=note, style=filled, fillcolor="#fff8c4", color="#b08800", fontsize=8, '
                       f'label={_q(chr(10).join(lines))}, pos="{sum(xs) // len(xs)},{y}!"];')
    out.append("}")
    return "\n".join(out) + "\n"


def to_svg(trace: dict) -> bytes:
    """The sequence diagram as SVG bytes (Graphviz's neato, positions as laid out by to_dot)."""
    return graphviz(to_dot(trace), "svg", engine="neato")


def write(trace: dict, path: str) -> str:
    """Write the diagram to PATH: Mermaid text for .mmd/.md/.mermaid, SVG otherwise. Returns the format."""
    fmt = "mermaid" if path.lower().endswith((".mmd", ".mermaid", ".md")) else "svg"
    data = to_mermaid(trace).encode() if fmt == "mermaid" else to_svg(trace)
    with open(path, "wb") as f:
        f.write(data)
    return fmt
