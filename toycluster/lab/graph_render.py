"""The graph's renderers: DOT text, Mermaid flowchart text, JSON, and SVG/PNG through Graphviz's `dot`.

Each takes the graph as data (graph_model.Graph.to_dict()); the text renderers are pure and deterministic (the
golden tests pin them). SVG and PNG are DOT fed to the `dot` program (Debian's `graphviz` package, which
scripts/setup installs): no Python wrapper, the text is ours and `dot -Tsvg` is one pipe.
"""
import json
import shutil
import subprocess

FORMATS = ("svg", "png", "mermaid", "dot", "json")

NODE_STYLE = {          # kind -> DOT attributes
    "host": 'shape=box3d, fillcolor="#eeeeee"',
    "user": 'shape=box, fillcolor="#fff3c4"',
    "dns": 'shape=box, fillcolor="#fff3c4"',
    "interface": 'fillcolor="#e8f0fe"',
    "bridge": 'fillcolor="#bcd4ff", penwidth=1.5',
    "vxlan": 'fillcolor="#e0d4ff"',
    "pod": 'fillcolor="#d9f2d9"',
    "more": 'style="rounded,dashed,filled", fillcolor="#f4f4f4"',
    "service": 'shape=hexagon, fillcolor="#ffe4c4"',
    "ingress": 'shape=note, fillcolor="#f3e5f5"',
}
EDGE_STYLE = {
    "veth": 'dir=none, color="#555555"',
    "route": 'style=dashed, color="#1f6feb", fontcolor="#1f6feb", constraint=false',
    "forward": 'style=dotted, color="#888888", fontcolor="#666666"',
    "endpoint": 'style=dotted, color="#2e7d32", fontcolor="#2e7d32", constraint=false',
    "backend": 'style=dashed, color="#8e24aa", fontcolor="#8e24aa"',
    "frontend": 'color="#ef6c00", fontcolor="#ef6c00"',
    "path": 'color="#d62728", fontcolor="#d62728", penwidth=2.2, constraint=false',
    "path-reply": 'color="#1565c0", fontcolor="#1565c0", penwidth=2.2, style=dashed, constraint=false',
}
CLUSTER_STYLE = {
    "cloud": 'style="rounded,dashed", color="#b08800", bgcolor="#fffdf5"',
    "node": 'style="rounded", color="#1f6feb", bgcolor="#f7fbff"',
    "pods": 'style="rounded,dashed", color="#5a9a5a", bgcolor="#f5fff5"',
    "services": 'style="rounded", color="#c77700", bgcolor="#fff9f0"',
}
MERMAID_SHAPE = {"pod": ('(["', '"])'), "service": ('{{"', '"}}'), "ingress": ('[/"', '"/]'),
                 "host": ('[["', '"]]'), "more": ('["', '"]')}
MERMAID_ARROW = {"veth": "---", "forward": "-.-", "route": "-.->", "endpoint": "-.->", "backend": "-->", "frontend": "-->",
                 "path": "==>", "path-reply": "==>"}
MERMAID_CLASS = {
    "pod": "fill:#d9f2d9,stroke:#5a9a5a", "bridge": "fill:#bcd4ff,stroke:#1f6feb",
    "interface": "fill:#e8f0fe,stroke:#1f6feb", "vxlan": "fill:#e0d4ff,stroke:#6a3fc1",
    "service": "fill:#ffe4c4,stroke:#c77700", "ingress": "fill:#f3e5f5,stroke:#8e24aa",
    "more": "fill:#f4f4f4,stroke:#888,stroke-dasharray:4 3", "host": "fill:#eeeeee,stroke:#555",
    "user": "fill:#fff3c4,stroke:#b08800", "dns": "fill:#fff3c4,stroke:#b08800",
    "onpath": "stroke:#d62728,stroke-width:3px",
}


def label_lines(node: dict) -> list[str]:
    """A node's label, with the rewrites a trace saw there."""
    return node["label"].split("\n") + [f"✎ {r}" for r in node.get("rewrites", [])]


# ---------------------------------------------------------------- DOT
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _children(graph: dict) -> tuple[dict, dict]:
    kids: dict = {}
    nodes: dict = {}
    for c in graph["clusters"]:
        kids.setdefault(c["parent"], []).append(c)
    for n in graph["nodes"]:
        nodes.setdefault(n["cluster"], []).append(n)
    return kids, nodes


def _dot_node(n: dict) -> str:
    extra = ', color="#d62728", penwidth=2.5' if n.get("on_path") else ""
    return f'{_q(n["id"])} [label={_q(chr(10).join(label_lines(n)))}, {NODE_STYLE.get(n["kind"], "")}{extra}];'


def to_dot(graph: dict) -> str:
    """The graph as Graphviz DOT (clusters nested as the namespaces are)."""
    kids, nodes = _children(graph)
    out = ["digraph toycluster {",
           f'  graph [rankdir=LR, compound=true, newrank=true, nodesep=0.25, ranksep=0.7, fontname="Helvetica", '
           f'fontsize=11, labelloc=t, label={_q(graph["label"])}];',
           '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=9];',
           '  edge [fontname="Helvetica", fontsize=8, arrowsize=0.6];']
    numbers = {c["id"]: i for i, c in enumerate(graph["clusters"])}

    def cluster(c: dict, depth: int) -> None:
        pad = "  " * depth
        out.append(f"{pad}subgraph cluster_{numbers[c['id']]} {{")
        out.append(f"{pad}  graph [label={_q(c['label'])}, fontsize=10, "
                   f"{CLUSTER_STYLE.get(c['kind'], 'style=rounded, color=gray40, bgcolor=white')}];")
        out.extend(f"{pad}  {_dot_node(n)}" for n in nodes.get(c["id"], []))
        for k in kids.get(c["id"], []):
            cluster(k, depth + 1)
        out.append(f"{pad}}}")

    out.extend(f"  {_dot_node(n)}" for n in nodes.get(None, []))
    for c in kids.get(None, []):
        cluster(c, 1)
    for e in graph["edges"]:
        label = f", label={_q(e['label'])}" if e["label"] else ""
        label += f", lhead=cluster_{numbers[e['lhead']]}" if e.get("lhead") in numbers else ""
        out.append(f'  {_q(e["from"])} -> {_q(e["to"])} [{EDGE_STYLE.get(e["kind"], "")}{label}];')
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- Mermaid
_ENTITIES = str.maketrans({"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "|": "#124;", "\n": "<br/>"})


def _m(text: str) -> str:
    """Text for inside a Mermaid string: quotes and angle brackets as entities, lines as <br/>."""
    return text.translate(_ENTITIES)


def to_mermaid(graph: dict) -> str:
    """The graph as a Mermaid flowchart (left to right, one subgraph per namespace box)."""
    kids, nodes = _children(graph)
    ids = {n["id"]: f"n{i}" for i, n in enumerate(graph["nodes"])}
    boxes = {c["id"]: i for i, c in enumerate(graph["clusters"])}
    title = graph["label"].replace("\n", " · ").replace("\\", "/").replace('"', "'")
    out = ["---", f'title: "{title}"', "---", "flowchart LR"]

    def node(n: dict, pad: str) -> None:
        left, right = MERMAID_SHAPE.get(n["kind"], ('["', '"]'))
        out.append(f"{pad}{ids[n['id']]}{left}{_m(chr(10).join(label_lines(n)))}{right}")

    def cluster(c: dict, pad: str, number: int) -> None:
        out.append(f'{pad}subgraph c{number}["{_m(c["label"])}"]')
        for n in nodes.get(c["id"], []):
            node(n, pad + "  ")
        for k in kids.get(c["id"], []):
            cluster(k, pad + "  ", graph["clusters"].index(k))
        out.append(f"{pad}end")

    for n in nodes.get(None, []):
        node(n, "  ")
    for c in kids.get(None, []):
        cluster(c, "  ", graph["clusters"].index(c))
    styled: dict = {}
    for i, e in enumerate(graph["edges"]):
        label = f'|"{_m(e["label"])}"|' if e["label"] else ""
        to = f"c{boxes[e['lhead']]}" if e.get("lhead") in boxes else ids[e["to"]]
        out.append(f"  {ids[e['from']]} {MERMAID_ARROW.get(e['kind'], '---')}{label} {to}")
        styled.setdefault(e["kind"], []).append(str(i))
    for kind, color in (("path", "#d62728"), ("path-reply", "#1565c0")):
        if kind in styled:
            out.append(f"  linkStyle {','.join(styled[kind])} stroke:{color},stroke-width:3px")
    members: dict = {}
    for n in graph["nodes"]:
        members.setdefault(n["kind"], []).append(ids[n["id"]])
        if n.get("on_path"):
            members.setdefault("onpath", []).append(ids[n["id"]])
    for kind, css in MERMAID_CLASS.items():
        if kind in members:
            out.append(f"  classDef {kind} {css}")
            out.append(f"  class {','.join(members[kind])} {kind}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- JSON and pictures
def to_json(graph: dict) -> str:
    return json.dumps(graph, indent=2, ensure_ascii=False) + "\n"


def graphviz(text: str, fmt: str, engine: str = "dot", timeout: float = 30) -> bytes:
    """Render DOT TEXT to FMT (svg, png) with Graphviz's ENGINE program; a missing program is a RuntimeError."""
    program = shutil.which(engine)
    if program is None:
        raise RuntimeError(f"Graphviz's `{engine}` is not installed (Debian package graphviz: "
                           "`apt-get install graphviz`, or run scripts/setup)")
    p = subprocess.run([program, f"-T{fmt}"], input=text.encode(), capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{engine} -T{fmt} failed: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout


def render(graph: dict, fmt: str) -> bytes:
    """The graph in output format FMT (one of FORMATS) as bytes."""
    if fmt == "json":
        return to_json(graph).encode()
    if fmt == "mermaid":
        return to_mermaid(graph).encode()
    if fmt == "dot":
        return to_dot(graph).encode()
    if fmt in ("svg", "png"):
        return graphviz(to_dot(graph), fmt)
    raise ValueError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")
