"""`toycluster policy why`: the verdict of the network policies on one new connection, and the policies and
rules that decide it, read from the rules agent.render gives the nodes involved (no packet is sent).

The packet is walked through each node's rendered chains as the kernel would (FORWARD -> KUBE-NWPLCY-FORWARD
-> KUBE-POD-FW-* -> KUBE-NWPLCY-*): on the source pod's node for its egress, on the destination pod's node
for its ingress (one walk when both are on the same node).  Every rule the packet matched is reported by
its comment, which names the pod, the policy and the rule.
"""

from __future__ import annotations

import ipaddress

from toycluster.netpol import agent
from toycluster.netpol.inputs import Inputs, compile_inputs

__all__ = ["explain", "Why", "walk", "resolve_endpoint", "ExplainError"]


class ExplainError(ValueError):
    """The question cannot be answered (unknown pod, port name not on the pod, ...)."""


def resolve_endpoint(inp: Inputs, spec: str) -> dict:
    """"ns/name", "name" (namespace default) or an IPv4 address -> {"ip", "pod" record or None, "label"}."""
    spec = spec.strip()
    try:
        ip = str(ipaddress.IPv4Address(spec))
    except ValueError:
        ip = None
    if ip is not None:
        pod = inp.by_ip.get(ip)
        return {"ip": ip, "pod": pod, "label": f"{pod['id']} ({ip})" if pod else ip}
    ident = spec if "/" in spec else f"default/{spec}"
    for r in inp.pods:
        if r["id"] == ident:
            return {"ip": r["ip"], "pod": r, "label": f"{ident} ({r['ip']})"}
    raise ExplainError(f'pod "{ident}" not found, or it has no IP yet (give ns/name, a name in namespace '
                       f'"default", or an IPv4 address)')


def _match(tokens: list[str], pkt: dict) -> bool:
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok in ("-s", "-d"):
            net = ipaddress.ip_network(tokens[i + 1], strict=False)
            if ipaddress.ip_address(pkt["src" if tok == "-s" else "dst"]) not in net:
                return False
            i += 2
        elif tok == "-p":
            if tokens[i + 1] != pkt["proto"]:
                return False
            i += 2
        elif tok == "-m":
            mod, j = tokens[i + 1], i + 2
            while j < n and tokens[j] not in ("-m", "-j"):
                j += 1
            opts = tokens[i + 2:j]
            if mod in ("tcp", "udp", "sctp"):
                lo, _, hi = opts[opts.index("--dport") + 1].partition(":")
                if not int(lo) <= pkt["port"] <= int(hi or lo):
                    return False
            elif mod == "mark":
                value, _, mask = opts[opts.index("--mark") + 1].partition("/")
                if pkt["mark"] & int(mask or "0xffffffff", 16) != int(value, 16):
                    return False
            elif mod == "conntrack":
                if "NEW" not in opts[opts.index("--ctstate") + 1].split(","):
                    return False
            elif mod != "comment":
                raise ExplainError(f"cannot evaluate -m {mod} in {' '.join(tokens)}")
            i = j
        elif tok == "-j":
            return True
        else:
            raise ExplainError(f"cannot evaluate {tok} in {' '.join(tokens)}")
    return True


def _comment(tokens):
    return tokens[tokens.index("--comment") + 1] if "--comment" in tokens else ""


def walk(table: dict, chain: str, pkt: dict, trace: list, depth: int = 0) -> str | None:
    """Run PKT through CHAIN of a rendered filter TABLE; append (chain, rule) for every rule that matched.
    Returns the terminal target (REJECT, DROP, ACCEPT) or None when the chain returned."""
    if depth > 16:
        raise ExplainError(f"chains nest deeper than 16 at {chain}")
    for rule in table.get(chain, []):
        if not _match(rule, pkt):
            continue
        trace.append((chain, rule))
        target = rule[rule.index("-j") + 1] if "-j" in rule else ""
        if target == "RETURN":
            return None
        if target in ("REJECT", "DROP", "ACCEPT"):
            return target
        if target == "MARK":
            pkt["mark"] |= int(rule[rule.index("--or-mark") + 1], 16)
        elif target in table:
            verdict = walk(table, target, pkt, trace, depth + 1)
            if verdict:
                return verdict
    return None


def explain(src, dst, port, proto, policies, pods, namespaces, *, node_ips=(), services=(), slices=()):
    """(verdict "allowed" | "denied" | "partly allowed", [reason lines]) for a new connection SRC -> DST:PORT/PROTO.
    SRC and DST are "ns/name", "name" or an IPv4 address (a Service's ClusterIP: each endpoint is explained,
    given SERVICES and SLICES); PORT a number or a port name of DST's pod.
    NODE_IPS: {node name: [its addresses]} (a node reaching its own pods is never filtered)."""
    return Why(policies, pods, namespaces, node_ips=node_ips, services=services, slices=slices).explain(
        src, dst, port, proto)


class Why:
    """The inputs selected once and each node's rules rendered once, for many questions."""

    def __init__(self, policies, pods, namespaces, *, node_ips=(), services=(), slices=()):
        self.args = (policies, pods, namespaces)
        self.inp = compile_inputs(policies, pods, namespaces)
        self.node_ips = dict(node_ips)
        self.services, self.slices = list(services), list(slices)
        self.states: dict[str, dict] = {}

    def state(self, node: str) -> dict:
        if node not in self.states:
            self.states.update(agent.render_all(*self.args, [node], inputs=self.inp))
        return self.states[node]

    def explain(self, src, dst, port, proto="TCP"):
        inp = self.inp
        s, d = resolve_endpoint(inp, str(src)), resolve_endpoint(inp, str(dst))
        proto = (proto or "TCP").upper()
        if proto not in ("TCP", "UDP", "SCTP"):
            raise ExplainError(f"protocol {proto}: use TCP, UDP or SCTP")
        if isinstance(port, str) and not port.isdigit():
            if d["pod"] is None or (port, proto) not in d["pod"]["ports"]:
                raise ExplainError(f"{d['label']} has no container port named {port!r} for {proto}")
            port_label, port = f"{port}={d['pod']['ports'][(port, proto)]}", d["pod"]["ports"][(port, proto)]
        else:
            port = int(port)
            port_label = str(port)
        what = f"{s['label']} -> {d['label']} port {port_label}/{proto}"
        if d["pod"] is None and self._service(d["ip"]) is not None:
            return self._via_service(src, d["ip"], port, proto, what)
        if s["ip"] == d["ip"]:
            return "allowed", [f"{what}: traffic a pod sends to itself is not filtered"]
        if s["pod"] is None and d["pod"] is None:
            return "allowed", [f"{what}: neither end is a pod of this cluster; network policies do not apply"]
        if s["pod"] is None and s["ip"] in self.node_ips.get(d["pod"]["node"], ()):
            return "allowed", [f"{what}: traffic from the node where the pod runs is always allowed "
                               "(it does not pass the node's FORWARD chain)"]
        if d["pod"] is None and d["ip"] in self.node_ips.get(s["pod"]["node"], ()):
            return "allowed", [f"{what}: traffic to the node where the pod runs is always allowed "
                               "(it goes to INPUT, not FORWARD)"]
        nodes = [n for n in dict.fromkeys([(s["pod"] or {}).get("node"), (d["pod"] or {}).get("node")]) if n]
        reasons, verdict = [f"{what} (a new connection):"], "allowed"
        for direction, end in (("egress", s), ("ingress", d)):
            if end["pod"] is None:
                reasons.append(f"  {direction}: {end['ip']} is not a pod of this cluster, no {direction} "
                               "policy applies")
        for node in nodes:
            table = self.state(node)["filter"]
            pkt = {"src": s["ip"], "dst": d["ip"], "proto": proto.lower(), "port": port, "mark": 0}
            trace: list = []
            outcome = walk(table, "FORWARD", pkt, trace)
            for direction, end in (("egress", s), ("ingress", d)):
                if end["pod"] is not None and end["pod"]["node"] == node:
                    reasons += _direction_reasons(inp, trace, end["pod"], direction, node)
            if outcome in ("REJECT", "DROP"):
                verdict = "denied"
        reasons.append("  (replies and packets of established connections are not filtered: the rules are "
                       "stateful)")
        return verdict, reasons


    def _service(self, ip):
        return next((svc for svc in self.services if (svc.get("spec") or {}).get("clusterIP") == ip), None)

    def _via_service(self, src, vip, port, proto, what):
        """Policies see the endpoint kube-proxy picked (after DNAT): the verdict for each endpoint."""
        svc = self._service(vip)
        meta = svc["metadata"]
        sid = f"{meta.get('namespace', 'default')}/{meta['name']}"
        sport = next((p for p in svc["spec"].get("ports") or [] if int(p["port"]) == port
                      and (p.get("protocol") or "TCP").upper() == proto), None)
        head = f"{what}: {vip} is the ClusterIP of service {sid}; policies apply after kube-proxy translates it"
        if sport is None:
            return "denied", [f"{head}, but the service has no port {port}/{proto} (nothing translates it)"]
        endpoints = []
        for sl in self.slices:
            sm = sl.get("metadata") or {}
            if (sm.get("labels") or {}).get("kubernetes.io/service-name") != meta["name"] or \
                    sm.get("namespace", "default") != meta.get("namespace", "default"):
                continue
            number = next((p["port"] for p in sl.get("ports") or [] if (p.get("name") or "") == (sport.get("name") or "")
                           and (p.get("protocol") or "TCP").upper() == proto), None)
            for ep in sl.get("endpoints") or []:
                if number and ep.get("addresses") and (ep.get("conditions") or {}).get("ready", True) is not False:
                    endpoints.append((ep["addresses"][0], number))
        if not endpoints:
            return "denied", [f"{head}, but it has no ready endpoints: kube-proxy rejects the connection"]
        verdicts, lines = [], [f"{head}, to one of {len(endpoints)} endpoint(s):"]
        for ip, number in sorted(set(endpoints)):
            verdict, reasons = self.explain(src, ip, number, proto)
            verdicts.append(verdict)
            lines += [f"  endpoint {ip}:{number}: {verdict.upper()}"] + [
                "  " + r for r in reasons[1:] if not r.lstrip().startswith("(replies")]
        verdict = verdicts[0] if len(set(verdicts)) == 1 else "partly allowed"
        return verdict, lines + ["  (replies and packets of established connections are not filtered: the rules are "
                                 "stateful)"]


def _direction_reasons(inp, trace, pod, direction, node):
    pols = inp.isolating.get((pod["id"], direction))
    if not pols:
        return [f"  {direction} of {pod['id']} (on {node}): not isolated, no NetworkPolicy in namespace "
                f"{pod['ns']} selects it with policyType {direction.capitalize()}"]
    chain = agent.pod_chain(pod["ns"], pod["name"], direction)
    out = [f"  {direction} of {pod['id']} (on {node}): isolated by " + ", ".join(p["id"] for p in pols)
           + f" (chain {chain})"]
    entered = [i for i, (c, rule) in enumerate(trace) if "-j" in rule and rule[rule.index("-j") + 1] == chain]
    if not entered:
        return out + ["    not checked: the egress check on this node denied it first"]
    steps = [(c, r) for c, r in trace[entered[0] + 1:]]
    allows = []
    for c, rule in steps:
        target = rule[rule.index("-j") + 1]
        if c.startswith("KUBE-NWPLCY-") and target == "MARK" and int(rule[rule.index("--or-mark") + 1], 16) \
                == int(agent.MARKS[direction], 16):
            allows.append(_comment(rule))
        if c == chain and target == "RETURN":
            if "itself" in _comment(rule):
                return out + ["    " + _comment(rule)]
            return out + [f"    {_comment(rule).split(': ', 1)[1]}"] + [f"      matched: {a}" for a in allows]
        if c == chain and target in ("REJECT", "DROP", agent.REJECT_CHAIN):
            empty = [p["id"] for p in pols if not any(p["dirs"][direction])]
            note = f" ({', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no {direction} rules)" if empty else ""
            how = " (TCP: reset; other protocols: ICMP port unreachable)" if target == agent.REJECT_CHAIN else ""
            return out + [f"    denied: none of their {direction} rules allows it{note} -> {target}{how}"]
    return out
