"""kube-proxy's change tracking: every node's rendered rules kept per Service, so that a sync renders
again only the Services whose object or EndpointSlices changed.

Upstream's proxier keeps a ServiceChangeTracker and an EndpointsChangeTracker and, in a partial sync,
writes only the chains of the Services that changed.  Here the trackers are a cache keyed by resource
versions: a Service's pieces (``kube_proxy.port_piece``, one per service port) are reused as long as the
Service's ``resourceVersion`` and the names and ``resourceVersion``s of the EndpointSlices labelled
with its name are the same as when they were rendered.  The top-level chains (KUBE-SERVICES,
KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES...) are assembled from the pieces at every sync by
``kube_proxy.assemble``, as ``kube_proxy.render`` does, so ``ClusterRender(...).render(services,
slices)[node]`` always equals ``kube_proxy.render(services, slices, node_name=node, ...)``.  An object
without a resourceVersion (made by hand, not read from the API) is never cached: its Service is
rendered every time.

One cache serves every node: a Service is rendered for each node, and when its pieces come out the same
on every node (no Local traffic policy, no load balancer source ranges) they are kept once; when every
Service's are, the nodes share one assembled state (the same dict), rendered once per sync.

The rule lists of unchanged Services are the same list objects from one sync to the next, which is also
what makes ``iptables_apply``'s comparison with the previous state cheap.  Nobody may change them.
"""
from __future__ import annotations

from . import kube_proxy


class ClusterRender:
    """The rendered rules of every node's kube-proxy, with the per-Service cache."""

    def __init__(self, nodes: dict[str, str], *, cluster_cidr: str):
        self.nodes = dict(nodes)                 # node name -> node IP
        self.cidr = kube_proxy._cidr(cluster_cidr)
        # (namespace, name) -> (key, the pieces of every node or None, {node: its pieces} or None);
        # pieces are [(port sort key, kube_proxy.port_piece)]
        self.pieces: dict[tuple, tuple] = {}
        self.rendered = 0                        # Services rendered by the last render() (not reused)

    def render(self, services: list[dict], slices: list[dict]) -> dict[str, dict]:
        """{node: kube_proxy.render(services, slices, node_name=node, node_ip=..., cluster_cidr=...)}."""
        by_service: dict[tuple, list] = {}
        for sl in slices:
            meta = sl.get("metadata") or {}
            svc = (meta.get("labels") or {}).get("kubernetes.io/service-name")
            if svc:
                by_service.setdefault((meta.get("namespace") or "default", svc), []).append(sl)
        kept: dict[tuple, tuple] = {}
        common: list[tuple] = []
        own: dict[str, list] = {node: [] for node in self.nodes}
        self.rendered = 0
        for i, svc in enumerate(services):
            meta = svc.get("metadata") or {}
            ident = (meta.get("namespace") or "default", meta.get("name"))
            slices_of = by_service.get(ident, [])
            key = _key(svc, slices_of)
            entry = self.pieces.get(ident)
            if key is None or entry is None or entry[0] != key:
                entry = self._render_service(svc, slices_of, key)
                self.rendered += 1
            if key is not None:
                kept[ident] = entry
            if entry[1] is not None:
                common += [(sort, i, piece) for sort, piece in entry[1]]
            else:
                for node, pieces in entry[2].items():
                    own[node] += [(sort, i, piece) for sort, piece in pieces]
        self.pieces = kept                       # Services gone from the inputs leave the cache
        if not any(own.values()):
            state = _assemble(common)
            return {node: state for node in self.nodes}
        return {node: _assemble(common + own[node]) for node in self.nodes}

    def _render_service(self, svc: dict, slices: list[dict], key) -> tuple:
        ports = kube_proxy._service_ports([svc])
        per_node = {}
        for node, node_ip in self.nodes.items():
            endpoints = kube_proxy._endpoints_by_port(slices, node)
            per_node[node] = [(kube_proxy.port_sort_key(sp),
                               kube_proxy.port_piece(sp, endpoints.get(sp["key"], []), self.cidr, node_ip))
                              for sp in ports]
        first = next(iter(per_node.values()), [])
        if all(pieces == first for pieces in per_node.values()):
            return key, first, None
        return key, None, per_node


def _assemble(ports: list[tuple]) -> dict:
    ports.sort(key=lambda p: (p[0], p[1]))   # by port name, then input order: as kube_proxy.render
    return kube_proxy.assemble([piece for _, _, piece in ports])


def _key(svc: dict, slices: list[dict]) -> tuple | None:
    """What a Service's rules depend on besides the node: its version and its slices' versions."""
    rv = (svc.get("metadata") or {}).get("resourceVersion")
    if not rv:
        return None
    versions = []
    for sl in slices:
        meta = sl.get("metadata") or {}
        if not meta.get("resourceVersion"):
            return None
        versions.append((meta.get("name") or "", meta["resourceVersion"]))
    return rv, tuple(sorted(versions))
