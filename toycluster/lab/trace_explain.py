"""`toycluster trace --explain`: the same path computed from the rendered rules and routes, no packet sent.

The first packet of each connection is walked from the source the way the kernel would move it: out of the
pod's eth0 to its node's veth, through the node's nat tables as kube-proxy rendered them (proxy/trace.py: the
Service's DNAT, the masquerade mark), past the network policies (netpol/why.py), then routed: to a veth on
the same node, or over the node network (host-gw: via the other node; VXLAN: flannel.1 with the outer
addresses) to the node of the endpoint. From the user, the load balancer's frontend (cloud/lb.py's rules, with
the targets its health checks keep) DNATs to a node's NodePort; the ingress controller ends the connection and
opens one to the backend its Ingress rule names (routes.py). Where kube-proxy or the balancer would pick at
random, the first endpoint is taken and the others are listed. The reply comes back the same way, each rewrite
undone where it was made (by conntrack). Nothing is captured and nothing is sent; root is not needed.
"""
from __future__ import annotations

from toycluster.cluster.lifecycle import UsageError
from toycluster.cloud import lb
from toycluster.lab import trace_names, trace_rules
from toycluster.lab.trace_model import Change, Connection, Hop, Outer, Request, Result, Trace
from toycluster.lab.trace_request import is_ip, parse_target
from toycluster.lab.trace_state import host_veth


class Stop(Exception):
    """The packet goes no further: (the hop it stopped at is the last one added, why)."""


veth = host_veth


class Walk:
    """One connection's request leg, hop by hop."""

    def __init__(self, state, target, conn: int, proto: str):
        self.state, self.cfg, self.target, self.conn, self.proto = state, state.cfg, target, conn, proto
        self.hops: list[Hop] = []
        self.arrived: dict | None = None        # the pod the packet reached

    def add(self, netns, interface, pkt, change=None, also=(), route=None, note=None, outer=None) -> Hop:
        h = Hop(n=0, t=None, leg="request", connection=self.conn, netns=netns or "host",
                where=self.state.where(netns), interface=interface, src=pkt[0], sport=pkt[1], dst=pkt[2],
                dport=pkt[3], flags="S" if self.proto == "tcp" else None, ttl=None, change=change,
                also=list(also), route=route, note=note, outer=outer)
        self.hops.append(h)
        return h

    def from_pod(self, pod: dict, pkt: tuple) -> None:
        meta = pod["metadata"]
        netns = self.cfg.pod_ns(meta.get("namespace", "default"), meta["name"])
        node = int(pod["spec"]["nodeName"][4:])
        self.add(netns, "eth0", pkt, route=f"default via {self.cfg.gateway(node)} dev eth0")
        self.add(self.cfg.node_ns(node), veth(netns), pkt)
        self.node(node, pkt, local=False)

    def from_user(self, pkt: tuple) -> None:
        self.add(lb.netns(self.cfg, "user"), "eth0", pkt, route=f"{lb.internet(self.cfg)} dev eth0")
        fronts = {(ip, port) for ip, port, _, _ in lb.frontends(self.state.services, self.cfg)}
        if (pkt[2], pkt[3]) not in fronts:
            raise Stop(f"nothing answers {pkt[2]}:{pkt[3]} on the internet segment (no load-balancer frontend)")
        self.add(lb.netns(self.cfg, "inet"), "user", pkt)
        self.add(lb.netns(self.cfg, "lb"), "eth1", pkt)
        self.balancer(pkt)

    def from_host(self, pkt: tuple) -> None:
        n = self.state.node_by_ip(pkt[2])
        self.add(None, self.cfg.host_link, pkt, route=f"{self.cfg.node_cidr} dev {self.cfg.host_link}")
        if n is None:
            raise Stop(f"the machine's shell reaches only the node network: no route to {pkt[2]}")
        self.wire(None, n, pkt, "host")

    def wire(self, from_node: int | None, to_node: int, pkt: tuple, port: str | None = None, outer=None) -> None:
        """Across the node network's bridge br0, into node TO_NODE's eth0."""
        self.add(self.cfg.net_ns, port or f"node{from_node}", pkt, outer=outer)
        self.add(self.cfg.net_ns, f"node{to_node}", pkt, outer=outer)
        self.add(self.cfg.node_ns(to_node), "eth0", pkt, outer=outer)
        self.node(to_node, pkt, local=False, arrived_outer=outer)

    def balancer(self, pkt: tuple) -> None:
        rules = lb.render(lb.frontends(self.state.services, self.cfg), self.state.lb_healthy(), self.cfg)
        from toycluster.proxy import trace as proxy_trace
        common, _ = trace_rules.parse_rows(proxy_trace.trace(rules, src=pkt[0], dst=pkt[2], dport=pkt[3]))
        targets = [r["comment"].rsplit("-> node ", 1)[1] for r in common if "-> node " in (r["comment"] or "")]
        if not targets:
            self.hops[-1].change = Change("REJECT", object=f"load-balancer frontend {pkt[2]}:{pkt[3]}")
            raise Stop("the load balancer has no healthy node behind this frontend: it resets the connection")
        ip, port = targets[0].rsplit(":", 1)
        post = (lb.lb_vpc_ip(self.cfg), pkt[1], ip, int(port))
        changes = trace_rules.lb_changes(self.state, pkt, post)
        note = f"the balancer picks one of {', '.join(targets)} at random" if len(targets) > 1 else None
        self.add(lb.netns(self.cfg, "lb"), "eth0", post, changes[0], changes[1:],
                 route=f"{self.cfg.node_cidr} dev eth0", note=note)
        n = self.state.node_by_ip(ip)
        self.wire(None, n, post, port="lb")

    def node(self, n: int, pkt: tuple, local: bool, arrived_outer=None) -> None:
        """Node N's nat tables, the policies, then the route."""
        if arrived_outer:
            self.add(self.cfg.node_ns(n), "flannel.1", pkt, note="decapsulated (VXLAN)")
        verdict = trace_rules.node_verdict(self.state, n, pkt[0], pkt[2], pkt[3], self.proto, local)
        if verdict is not None:
            self.hops[-1].change = verdict
            raise Stop(f"REJECT by kube-proxy's rule {verdict.table} {verdict.chain} #{verdict.rule} "
                       f"\"{verdict.comment}\" on node{n}: the client sees 'connection refused'")
        common, _ = trace_rules.node_walk(self.state, n, pkt[0], pkt[2], pkt[3], self.proto, local)
        eps = [r["rest"][len("DNAT to "):] for r in common if r["rest"].startswith("DNAT to ")]
        post, changes = pkt, []
        if eps:
            ip, port = eps[0].rsplit(":", 1)
            post = (pkt[0], pkt[1], ip, int(port))
            dst_node = self.state.node_of_pod_ip(ip)
            changes = trace_rules.node_changes(self.state, n, pkt, post, self.proto, local)
            if any(r["rest"].startswith("MASQUERADE") for r in _group(self.state, n, pkt, eps[0], self.proto, local)):
                src = self.cfg.gateway(n) if dst_node == n else self.cfg.node_ip(n)
                post = (src, None, ip, int(port))
                changes = trace_rules.node_changes(self.state, n, pkt, post, self.proto, local)
        note = f"kube-proxy picks one of {', '.join(eps)} at random" if len(eps) > 1 else None
        self.route(n, post, changes, note)

    def route(self, n: int, pkt: tuple, changes: list, note: str | None) -> None:
        dst, first, rest = pkt[2], (changes[0] if changes else None), changes[1:]
        pod = self.state.pod_by_ip(dst)
        m = self.state.node_of_pod_ip(dst)
        if self.state.node_by_ip(dst) == n:
            self.add(self.cfg.node_ns(n), "lo", pkt, first, rest, note="delivered to a process on the node")
            return
        if m == n:
            self.add(self.cfg.node_ns(n), "cni0", pkt, first, rest, route=f"{self.cfg.pod_subnet(n)} dev cni0",
                     note=note)
            self.policy(pkt, pod)
            netns = self.cfg.pod_ns(pod["metadata"].get("namespace", "default"), pod["metadata"]["name"]) if pod \
                else None
            if netns is None:
                raise Stop(f"no pod has {dst} on node{n}: the bridge gets no answer")
            self.add(self.cfg.node_ns(n), veth(netns), pkt)
            self.add(netns, "eth0", pkt)
            self.arrived = pod
            return
        if m is not None and self.cfg.overlay == "vxlan":
            vtep = str(self.cfg.pod_subnet(m)[0])
            self.add(self.cfg.node_ns(n), "flannel.1", pkt, first, rest, note=note,
                     route=f"{self.cfg.pod_subnet(m)} via {vtep} dev flannel.1 onlink")
            outer = Outer(self.cfg.node_ip(n), self.cfg.node_ip(m), 1)
            self.add(self.cfg.node_ns(n), "eth0", pkt, outer=outer)
            return self.wire(n, m, pkt, outer=outer)
        if m is not None:
            self.add(self.cfg.node_ns(n), "eth0", pkt, first, rest, note=note,
                     route=f"{self.cfg.pod_subnet(m)} via {self.cfg.node_ip(m)} dev eth0")
            return self.wire(n, m, pkt)
        k = self.state.node_by_ip(dst)
        if k is not None:
            self.add(self.cfg.node_ns(n), "eth0", pkt, first, rest, route=f"{self.cfg.node_cidr} dev eth0")
            return self.wire(n, k, pkt)
        self.add(self.cfg.node_ns(n), "eth0", pkt, first, rest, route="default via the node network's router")
        raise Stop(f"no route: the node network's router knows no way to {dst} (network unreachable)")

    def policy(self, pkt: tuple, pod: dict | None) -> None:
        if pod is None:
            return
        src = self.hops[0].src
        ch = trace_rules.policy_change(self.state, src, pkt[2], pkt[3], self.proto)
        if ch is not None:
            self.hops[-1].also.append(ch)
            raise Stop(f"rejected by {ch.object}: {ch.comment}")


def _group(state, n, pkt, endpoint, proto, local) -> list[dict]:
    common, groups = trace_rules.node_walk(state, n, pkt[0], pkt[2], pkt[3], proto, local)
    return groups.get(endpoint, common) if groups else common


def _start(walk: Walk, src, pkt: tuple) -> None:
    if src.kind == "pod":
        ns, name = src.name.split("/")
        walk.from_pod(walk.state.pod(ns, name), pkt)
    elif src.kind == "user":
        walk.from_user(pkt)
    elif src.kind == "host":
        walk.from_host(pkt)
    else:
        n = int(src.name[4:])
        walk.add(walk.cfg.node_ns(n), "(process)", pkt, note="sent by a process on the node: nat OUTPUT")
        walk.node(n, pkt, local=True)


def mirror(hops: list[Hop]) -> list[Hop]:
    """The reply of one connection: the request's hops backwards, each rewrite undone where it was made."""
    out = []
    for i in range(len(hops) - 1, -1, -1):
        h = hops[i]
        undo = hops[i + 1] if i + 1 < len(hops) and hops[i + 1].netns == h.netns else None
        changes = [Change(c.what, c.table, c.chain, c.rule, "reversed by conntrack", c.object, c.after, c.before)
                   for c in ([undo.change] + undo.also if undo and undo.change else [])
                   if c.what in ("DNAT", "MASQUERADE", "SNAT")]
        out.append(Hop(n=0, t=None, leg="reply", connection=h.connection, netns=h.netns, where=h.where,
                       interface=h.interface, src=h.dst, sport=h.dport, dst=h.src, dport=h.sport,
                       flags="S." if h.flags else None, outer=Outer(h.outer.dst, h.outer.src, h.outer.vni)
                       if h.outer else None, change=changes[0] if changes else None, also=changes[1:]))
    return out


def _proxy(state, walk: Walk, target, tr: Trace) -> Walk | None:
    """The ingress controller's connection to the backend of the Ingress rule the request matches."""
    pod = walk.arrived
    if pod is None or not target.scheme or (pod["metadata"].get("namespace"), pod["metadata"]["name"]) \
            and not pod["metadata"]["name"].startswith(lb.INGRESS_SERVICE[1]):
        return None
    from toycluster.ingress.routes import build_routes
    backend = build_routes(state.objects.get("Ingress", [])).match(target.host.lower(), target.path.split("?")[0])
    svc = backend and state.service(backend.namespace, backend.service)
    if svc is None:
        walk.hops[-1].note = "no Ingress rule matches: the ingress controller answers 404 itself"
        return None
    port = next((p for p in svc["spec"].get("ports") or [] if backend.port in (p.get("port"), p.get("name"))), None)
    ip = pod["status"]["podIP"]
    w2 = Walk(state, target, 2, "tcp")
    pkt = (ip, None, svc["spec"]["clusterIP"], port["port"] if port else 80)
    eps = [] if backend.opts.service_upstream else ready_endpoints(state, svc, port)
    if eps:
        pkt = (ip, None, eps[0][0], eps[0][1])
    tr.connections[0].continues_as = 2
    tr.connections.append(Connection(2, f"{ip}:*", f"{pkt[2]}:{pkt[3]}", "tcp",
                                     opened_by=f"the ingress controller ({state.where(walk.hops[-1].netns)})"))
    w2.from_pod(pod, pkt)
    w2.hops[0].change = Change("PROXY", object=f"Ingress {backend.ingress}, rule {target.host}{backend.path} -> "
                                               f"Service {backend.namespace}/{backend.service}:{backend.port}",
                               before=f"{tr.connections[0].client} -> {tr.connections[0].server}",
                               after=f"{ip}:* -> {pkt[2]}:{pkt[3]}")
    w2.hops[0].note = "the ingress controller ends connection 1 and opens connection 2 " + (
        f"to one of the ready endpoints ({', '.join(f'{a}:{p}' for a, p in eps)}), round robin" if eps else
        "to the Service's ClusterIP (service-upstream)")
    return w2


def ready_endpoints(state, svc: dict, port: dict | None) -> list[tuple[str, int]]:
    """(address, port) of the Service's ready endpoints for PORT, as the ingress controller balances over them."""
    meta, name = svc["metadata"], (port or {}).get("name") or ""
    out = []
    for sl in state.slices:
        sm = sl["metadata"]
        if sm.get("namespace", "default") != meta.get("namespace", "default") or \
                (sm.get("labels") or {}).get("kubernetes.io/service-name") != meta["name"]:
            continue
        number = next((p["port"] for p in sl.get("ports") or [] if (p.get("name") or "") == name), None)
        out += [(ep["addresses"][0], number) for ep in sl.get("endpoints") or [] if number and ep.get("addresses")
                and (ep.get("conditions") or {}).get("ready", True) is not False]
    return sorted(out)


def explain(state, source: str, target_text: str, proto: str = "tcp", namespace: str = "default") -> Trace:
    """The computed trace; unknown names raise UsageError."""
    src = state.source(source, namespace, live=False)
    target = parse_target(target_text, proto)
    tr = Trace(Request(source, target_text, proto, True))
    if is_ip(target.host):
        target.ip = target.host
    else:
        target.ip, tr.dns = trace_names.resolve(state, src, target.host)
        if target.ip is None:
            raise UsageError(f'name "{target.host}" not found' + (f" (tried {', '.join(tr.dns[-1].tried)})"
                                                                  if tr.dns else f" ({src.name} has no DNS)"))
    tr.connections = [Connection(1, f"{src.ip}:*", f"{target.ip}:{target.port}", proto)]
    walks, why = [Walk(state, target, 1, proto)], None
    try:
        _start(walks[0], src, (src.ip, None, target.ip, target.port))
        w2 = _proxy(state, walks[0], target, tr)
        if w2:
            walks.append(w2)
    except Stop as e:
        why = str(e)
    hops = []
    for w in walks:
        hops += w.hops
    if why is None:
        for w in reversed(walks):
            hops += mirror(w.hops)
    for i, h in enumerate(hops, 1):
        h.n = i
    tr.hops = hops
    last = hops[-1] if hops else None
    tr.result = Result(True, f"would reach {state.describe_ip(walks[-1].hops[-1].dst)}") if why is None else \
        Result(False, "would fail", last.n if last else None, why)
    return tr
