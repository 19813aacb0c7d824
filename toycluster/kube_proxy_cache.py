"""kube-proxy's change tracking: one node's rendered rules kept per Service, so that a sync re-renders
only the Services whose object or EndpointSlices changed.

Upstream's proxier keeps a ServiceChangeTracker and an EndpointsChangeTracker and, in a partial sync,
writes only the chains of the Services that changed.  Here the trackers are a cache keyed by resource
versions: a Service's pieces (``kube_proxy.port_piece``, one per service port) are reused as long as the
Service's ``resourceVersion`` and the names and ``resourceVersion``s of the EndpointSlices labelled
with its name are the same as when they were rendered.  The top-level chains (KUBE-SERVICES,
KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES...) are assembled from the pieces at every sync by
``kube_proxy.assemble``, as ``kube_proxy.render`` does, so ``NodeRender(...).render(services, slices)``
always equals ``kube_proxy.render(services, slices, ...)``.  An object without a resourceVersion (made by
hand, not read from the API) is never cached: its Service is rendered every time.

The rule lists of unchanged Services are the same list objects from one sync to the next, which is also
what makes ``iptables_apply``'s comparison with the previous state cheap.  Nobody may change them.
"""
from __future__ import annotations

from . import kube_proxy


class NodeRender:
    """The rendered rules of one node's kube-proxy, with its per-Service cache."""

    def __init__(self, *, node_name: str, node_ip: str, cluster_cidr: str):
        self.node_name, self.node_ip = node_name, node_ip
        self.cidr = kube_proxy._cidr(cluster_cidr)
        self.pieces: dict[tuple, tuple] = {}     # (namespace, name) -> (key, [(sort key, piece)])
        self.rendered = 0                        # Services rendered by the last render() (not reused)

    def render(self, services: list[dict], slices: list[dict]) -> dict:
        """kube_proxy.render(services, slices, node_name=..., node_ip=..., cluster_cidr=...)."""
        by_service: dict[tuple, list] = {}
        for sl in slices:
            meta = sl.get("metadata") or {}
            svc = (meta.get("labels") or {}).get("kubernetes.io/service-name")
            if svc:
                by_service.setdefault((meta.get("namespace") or "default", svc), []).append(sl)
        kept: dict[tuple, tuple] = {}
        ports: list[tuple] = []
        self.rendered = 0
        for svc in services:
            meta = svc.get("metadata") or {}
            ident = (meta.get("namespace") or "default", meta.get("name"))
            own = by_service.get(ident, [])
            key = _key(svc, own)
            hit = self.pieces.get(ident)
            if key is not None and hit is not None and hit[0] == key:
                entry = hit
            else:
                entry = (key, self._render_service(svc, own))
                self.rendered += 1
            if key is not None:
                kept[ident] = entry
            ports += entry[1]
        self.pieces = kept                       # Services gone from the inputs leave the cache
        ports.sort(key=lambda p: p[0])          # stable: as kube_proxy._service_ports orders them
        return kube_proxy.assemble([piece for _, piece in ports])

    def _render_service(self, svc: dict, slices: list[dict]) -> list[tuple]:
        endpoints = kube_proxy._endpoints_by_port(slices, self.node_name)
        return [(kube_proxy.port_sort_key(sp),
                 kube_proxy.port_piece(sp, endpoints.get(sp["key"], []), self.cidr, self.node_ip))
                for sp in kube_proxy._service_ports([svc])]


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
