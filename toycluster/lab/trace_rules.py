"""Which rule changed a packet, and the API object behind it: the rules a trace names, from the rendered tables.

A rewrite seen on the wire (a destination changed between two interfaces of node2, say) is attributed by
walking the same packet through the tables that node's kube-proxy rendered (proxy/trace.py): of the branches
the walk finds, the one whose DNAT lands on the endpoint the packet actually went to is this request's, and
its rule (table, chain, number, comment) is named with the Service, the EndpointSlice and the pod behind it.
The load balancer's frontends (cloud/lb.py's render) and the network policies (netpol/why.py) are read the
same way. Nothing here touches the kernel: the tables walked are the ones the components write, so the rule
numbers are the ones `iptables -t nat -L CHAIN --line-numbers` shows.
"""
from __future__ import annotations

import re

from toycluster.cloud import lb
from toycluster.lab.trace_model import Change
from toycluster.netpol import why as netpol_why
from toycluster.proxy import trace as proxy_trace

ROW = re.compile(r'^(\s*)(nat|filter) (\S+?)(?: #(\d+))?(?: "([^"]*)")?(:| ->) ?(.*)$')


def parse_rows(rows: list[str]) -> tuple[list[dict], dict[str, list[dict]]]:
    """proxy/trace's rows as (common rows, {endpoint: the rows of the filter/POSTROUTING walk after that DNAT})."""
    common, groups, current = [], {}, None
    for text in rows:
        if text.startswith("then, after DNAT to "):
            current = [e.strip() for e in text[len("then, after DNAT to "):].rstrip(":").split(",")]
            for ep in current:
                groups.setdefault(ep, [])
            continue
        if text.startswith("then, without DNAT"):
            current = ["-"]
            groups.setdefault("-", [])
            continue
        m = ROW.match(text)
        if not m:
            continue
        row = {"table": m[2], "chain": m[3], "rule": int(m[4]) if m[4] else None, "comment": m[5],
               "rest": m[7], "depth": len(m[1]) // 2}
        if current is None:
            common.append(row)
        else:
            for ep in current:
                groups[ep].append(row)
    return common, groups


def _ap(ip: str, port) -> str:
    """'10.0.0.1:80', or '10.0.0.1:*' for a port not known (an ephemeral one in `--explain`)."""
    return f"{ip}:{port if port is not None else '*'}"


def _service_object(state, comment: str | None, endpoint: str | None) -> str | None:
    """'Service default/web (port http), endpoint 10.244.2.3:8080: pod default/web-abc, EndpointSlice web-xyz'."""
    if not comment:
        return None
    m = re.match(r"([\w.-]+)/([\w.-]+)(?::([\w.-]+))?", comment)
    if not m:
        return None
    ns, name, port = m[1], m[2], m[3]
    text = f"Service {ns}/{name}" + (f" (port {port})" if port else "")
    if endpoint:
        ip = endpoint.rpartition(":")[0]
        pod = state.pod_by_ip(ip)
        sl = state.slice_of(ns, name, ip)
        text += f", endpoint {endpoint}" + (f": pod {ns}/{pod['metadata']['name']}" if pod else "") \
            + (f", EndpointSlice {sl}" if sl else "")
    return text


def node_walk(state, node: int, src: str, dst: str, dport: int, proto: str, local: bool):
    """(common rows, groups) of a new connection SRC -> DST:DPORT through node N's kube-proxy tables."""
    rows = proxy_trace.trace(state.proxy_state(node), src=src, dst=dst, dport=dport, proto=proto,
                             from_local_process=local, local_ips=[state.cfg.node_ip(node)])
    return parse_rows(rows)


def node_changes(state, node: int, pre: tuple, post: tuple, proto: str, local: bool) -> list[Change]:
    """The DNAT and the masquerade node N did to a packet PRE (src, sport, dst, dport) that left as POST."""
    common, groups = node_walk(state, node, pre[0], pre[2], pre[3], proto, local)
    out = []
    before, after = f"{pre[2]}:{pre[3]}", f"{post[2]}:{post[3]}"
    dnat = next((r for r in common if r["rest"] == f"DNAT to {after}"), None)
    if (pre[2], pre[3]) != (post[2], post[3]):
        out.append(Change("DNAT", "nat", dnat and dnat["chain"], dnat and dnat["rule"], dnat and dnat["comment"],
                          _service_object(state, dnat and dnat["comment"], after), before, after))
    if pre[0] != post[0] or pre[1] != post[1]:
        rows = groups.get(after, common) if groups else common
        masq = next((r for r in rows if r["rest"].startswith("MASQUERADE")), None)
        mark = next((r for r in common if "KUBE-MARK-MASQ: marked" in r["rest"]
                     and (not dnat or r["chain"] == dnat["chain"] or r["chain"].startswith(("KUBE-EXT", "KUBE-SVC")))),
                    None)
        why = f"marked for it by {mark['chain']} #{mark['rule']} ({mark['comment']})" if mark else None
        obj = "; ".join(x for x in (_service_object(state, dnat and dnat["comment"], None), why) if x)
        out.append(Change("MASQUERADE", "nat", masq and masq["chain"], masq and masq["rule"],
                          masq and masq["comment"], obj or None, _ap(pre[0], pre[1]), _ap(post[0], post[1])))
    return out


def node_verdict(state, node: int, src: str, dst: str, dport: int, proto: str, local: bool) -> Change | None:
    """A REJECT or DROP of kube-proxy's (a Service without endpoints) for this new connection, or None."""
    common, groups = node_walk(state, node, src, dst, dport, proto, local)
    for r in common + [r for rows in groups.values() for r in rows]:
        if r["rest"] in ("REJECT", "DROP"):
            return Change(r["rest"], r["table"], r["chain"], r["rule"], r["comment"],
                          _service_object(state, r["comment"], None), f"{dst}:{dport}", None)
    return None


def lb_changes(state, pre: tuple, post: tuple) -> list[Change]:
    """The load balancer's DNAT to a node's NodePort and its masquerade toward the nodes."""
    rules = lb.render(lb.frontends(state.services, state.cfg), state.lb_healthy(), state.cfg)
    common, groups = parse_rows(proxy_trace.trace(rules, src=pre[0], dst=pre[2], dport=pre[3], proto="tcp"))
    before, after, out = f"{pre[2]}:{pre[3]}", f"{post[2]}:{post[3]}", []
    dnat = next((r for r in common if r["rest"] == f"DNAT to {after}"
                 or (r["comment"] or "").endswith(f"-> node {after}")), None)
    if (pre[2], pre[3]) != (post[2], post[3]):
        name = (dnat["comment"] or "").split(" -> ")[0] if dnat else ""
        node = state.node_by_ip(post[2])
        obj = f"load-balancer frontend {before} (Service {name}), target node{node} NodePort {post[3]}" if dnat \
            else f"load-balancer frontend {before}"
        out.append(Change("DNAT", "nat", dnat and dnat["chain"], dnat and dnat["rule"], dnat and dnat["comment"],
                          obj, before, after))
    if pre[0] != post[0]:
        rows = groups.get(after, common) if groups else common
        masq = next((r for r in rows if r["rest"].startswith("MASQUERADE")), None)
        out.append(Change("MASQUERADE", "nat", masq and masq["chain"], masq and masq["rule"],
                          masq and masq["comment"], "load balancer (source NAT toward the nodes)",
                          _ap(pre[0], pre[1]), _ap(post[0], post[1])))
    return out


def policy_verdict(state, src: str, dst: str, dport: int, proto: str) -> tuple[str, list[str]]:
    """netpol/why's verdict and reasons for a new connection SRC -> DST:DPORT (pod IPs)."""
    nodes = {f"node{n}": [state.cfg.node_ip(n)] for n in range(1, state.cfg.nodes + 1)}
    return netpol_why.explain(src, dst, dport, proto.upper(), state.objects.get("NetworkPolicy", []), state.pods,
                              state.objects.get("Namespace", []), node_ips=nodes, services=state.services,
                              slices=state.slices)


def policy_change(state, src: str, dst: str, dport: int, proto: str) -> Change | None:
    """A Change naming the NetworkPolicy that denies SRC -> DST:DPORT, or None when policies allow it."""
    try:
        verdict, reasons = policy_verdict(state, src, dst, dport, proto)
    except netpol_why.ExplainError:
        return None
    if verdict != "denied":
        return None
    isolated = [r.strip() for r in reasons if "isolated by" in r]
    denied = [r.strip() for r in reasons if r.strip().startswith("denied")]
    chain = re.search(r"\(chain (\S+)\)", " ".join(isolated))
    pols = re.search(r"isolated by (.*?) \(chain", " ".join(isolated))
    return Change("REJECT", "filter", chain[1] if chain else None, None, denied[0] if denied else None,
                  f"NetworkPolicy {pols[1]}" if pols else "NetworkPolicy", f"{dst}:{dport}", None)
