"""`graph --path`: a trace (`toycluster trace -o json`) laid over the graph, pure: the hops' places marked, the path
drawn hop to hop with the packet's addresses, and each rewrite (DNAT, SNAT, MASQUERADE, a proxy's new
connection) written on the place where it happened.

A hop is placed by its network namespace and interface, as the graph's builder recorded them (a bridge port is
drawn on its bridge, a pod folded into "+N more" on that node); pods on the path are never folded (path_netns()).
"""

ROOT_NAMES = ("", "host", "root", "machine")


def path_netns(trace: dict) -> set:
    """The namespaces a trace crosses (the builder keeps their pods unfolded)."""
    return {h.get("netns") or "" for h in trace.get("hops") or []}


def _candidates(cluster: str, ns: str) -> list[str]:
    if ns in ROOT_NAMES:
        return [""]
    return [ns] if ns.startswith(f"{cluster}.") else [ns, f"{cluster}.{ns}"]


def place(g, hop: dict) -> str | None:
    """The graph node where HOP was seen, or None."""
    for ns in _candidates(g.name, hop.get("netns") or ""):
        nid = g.where.get((ns, hop.get("interface"))) or g.where.get((ns, None))
        if nid:
            return nid
    return None


def endpoint(addr, port) -> str:
    return f"{addr}:{port}" if port not in (None, "") else f"{addr}"


def hop_text(hop: dict) -> str:
    """'3 10.244.1.5:40000 → 10.96.0.10:80 S' and, for an encapsulated packet, its outer addresses."""
    text = f"{hop.get('n', '?')} {endpoint(hop.get('src'), hop.get('sport'))} → {endpoint(hop.get('dst'), hop.get('dport'))}"
    if hop.get("flags"):
        text += f" {hop['flags']}"
    outer = hop.get("outer")
    if outer:
        text += f"\nVXLAN {outer.get('src')} → {outer.get('dst')}" + (f" vni {outer['vni']}" if outer.get("vni") else "")
    return text


def change_text(change: dict) -> str:
    """'DNAT 10.96.5.5:80 → 10.244.1.3:8080 (nat KUBE-SEP-… #2)'."""
    what = change.get("what") or "change"
    text = what
    if change.get("before") or change.get("after"):
        text += f" {change.get('before') or '?'} → {change.get('after') or '?'}"
    rule = " ".join(str(x) for x in (change.get("table"), change.get("chain")) if x)
    if change.get("rule") is not None:
        rule += f" #{change['rule']}"
    return text + (f" ({rule})" if rule else "")


def overlay(g, trace: dict) -> None:
    """Mark TRACE's hops on graph G and draw its path (request legs red, replies blue)."""
    hops = sorted(trace.get("hops") or [], key=lambda h: (h.get("n") is None, h.get("n") or 0))
    prev, unplaced = None, []
    for hop in hops:
        nid = place(g, hop)
        if nid is None:
            unplaced.append(str(hop.get("n", "?")))
            continue
        node = g.nodes[nid]
        node["on_path"] = True
        if hop.get("change"):
            node.setdefault("rewrites", []).append(f"{hop.get('n', '?')} {change_text(hop['change'])}")
        if prev is not None and prev != nid:
            kind = "path-reply" if hop.get("leg") == "reply" else "path"
            g.edge(prev, nid, kind, hop_text(hop), hop=hop.get("n"), leg=hop.get("leg"))
        prev = nid
    request, result = trace.get("request") or {}, trace.get("result") or {}
    outcome = result.get("summary") or result.get("why") or ""
    if not result.get("ok", True) and result.get("stopped_at") is not None:
        outcome += f" (stopped at hop {result['stopped_at']})"
    g.label += f"\ntrace: {request.get('from', '?')} → {request.get('target', '?')}: {outcome}".rstrip(": ")
    if unplaced:
        g.notes.append(f"trace hops not found in this cluster's namespaces: {', '.join(unplaced)}")
